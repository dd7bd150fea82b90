import { InvalidArgumentError } from './errors.js';

/** Element types sharc stores. Names follow numpy so `.npy` files map one to one. */
export const DTYPES = ['float64', 'float32', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8'] as const;
export type DType = (typeof DTYPES)[number];

export type TypedArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

export interface TypedArrayConstructorOf {
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray;
  new (length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

const CONSTRUCTORS: Record<DType, TypedArrayConstructorOf> = {
  float64: Float64Array,
  float32: Float32Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
};

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
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

/** The dtype of a typed array, or undefined for arrays sharc cannot store (BigInt64Array, DataView…). */
export function dtypeOf(array: ArrayBufferView): DType | undefined {
  for (const dtype of DTYPES) {
    if (array instanceof CONSTRUCTORS[dtype]) return dtype;
  }
  return undefined;
}

/** A typed-array view of `count` elements of `dtype` over `buffer` starting at `byteOffset`. */
export function viewOf(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, count: number): TypedArray {
  return new CONSTRUCTORS[dtype](buffer, byteOffset, count);
}
