import { InvalidArgumentError } from './errors.js';

/**
 * Element types sharc stores. Names follow numpy so `.npy` files map one to one. `bool` is
 * stored as one byte per element, 0 or 1 (numpy's `|b1`), and held in a Uint8Array; int64 and
 * uint64 are held in BigInt64Array and BigUint64Array.
 */
export const DTYPES = ['float64', 'float32', 'int64', 'uint64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

/** The dtypes whose elements are JS bigints (and whose built-in sums are exact bigints). */
export type BigIntDType = 'int64' | 'uint64';

export type TypedArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/** The typed array that holds elements of `D` (a Uint8Array of 0/1 for bool). */
export interface TypedArrayByDType {
  float64: Float64Array;
  float32: Float32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
export type TypedArrayOf<D extends DType> = TypedArrayByDType[D];

/** The dtype a typed array class is stored as by default (a Uint8Array is uint8 unless told bool). */
export type DTypeOfArray<T extends TypedArray> = T extends unknown
  ? { [D in Exclude<DType, 'bool'>]: T extends TypedArrayByDType[D] ? D : never }[Exclude<DType, 'bool'>]
  : never;

export interface TypedArrayConstructorOf {
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray;
  new (length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

const CONSTRUCTORS: Record<DType, TypedArrayConstructorOf> = {
  float64: Float64Array,
  float32: Float32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

/** Whether elements of `dtype` are bigints (int64, uint64). */
export function isBigIntDType(dtype: DType): dtype is BigIntDType {
  return dtype === 'int64' || dtype === 'uint64';
}

/** Returns `value` as a DType, or throws an error that lists the accepted names. */
export function parseDType(value: unknown, field = 'dtype'): DType {
  if (isDType(value)) return value;
  throw new InvalidArgumentError(
    `unknown ${field} ${JSON.stringify(value)}: use one of ${DTYPES.join(', ')}`,
  );
}

export function typedArrayConstructor(dtype: DType): TypedArrayConstructorOf {
  return CONSTRUCTORS[dtype];
}

export function bytesPerElement(dtype: DType): number {
  return CONSTRUCTORS[dtype].BYTES_PER_ELEMENT;
}

/**
 * The dtype a typed array is stored as, or undefined for arrays sharc cannot store
 * (Uint8ClampedArray, DataView…). A Uint8Array is uint8: bool data is a Uint8Array the
 * caller declares as bool.
 */
export function dtypeOf(array: ArrayBufferView): DType | undefined {
  for (const dtype of DTYPES) {
    if (dtype !== 'bool' && array instanceof CONSTRUCTORS[dtype]) return dtype;
  }
  return undefined;
}

/** A typed-array view of `count` elements of `dtype` over `buffer` starting at `byteOffset`. */
export function viewOf(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, count: number): TypedArray {
  return new CONSTRUCTORS[dtype](buffer, byteOffset, count);
}

/**
 * The index of the first element of a bool array that is neither 0 nor 1, or -1. A bool is
 * one byte holding 0 or 1, as numpy stores it; any other byte would be read back as itself.
 */
export function firstNonBoolIndex(values: Uint8Array): number {
  for (let i = 0; i < values.length; i++) if (values[i]! > 1) return i;
  return -1;
}
