import { InvalidArgumentError, dtypeOf, firstNonBoolIndex, parseDType, typedArrayConstructor, type DType, type TypedArray } from '@sharc/protocol';

/**
 * The dtype `put` stores `data` as: the typed array's own, or bool for a Uint8Array of 0/1
 * declared `{ dtype: 'bool' }`. put never converts: a dtype that is not the array's is refused.
 */
export function putDType(data: TypedArray, declared: DType | undefined): DType {
  const own = ArrayBuffer.isView(data) ? dtypeOf(data) : undefined;
  if (own === undefined) {
    const what = (data as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof data;
    throw new InvalidArgumentError(
      `unknown dtype: put takes a typed array (Float64Array, BigInt64Array, … a Uint8Array for uint8 or, with { dtype: 'bool' }, bool), got ${what}`,
    );
  }
  if (declared === undefined) return own;
  const dtype = parseDType(declared);
  if (dtype === 'bool' && own === 'uint8') {
    const bad = firstNonBoolIndex(data as Uint8Array);
    if (bad >= 0) {
      throw new InvalidArgumentError(
        `a bool array holds 0 or 1, but element ${bad} is ${(data as Uint8Array)[bad]}: pass Uint8Array.from(values, (v) => (v ? 1 : 0))`,
        { details: { index: bad } },
      );
    }
    return dtype;
  }
  if (dtype !== own) {
    const convert = `${typedArrayConstructor(dtype).name}.from(data)`;
    throw new InvalidArgumentError(
      `put stores a typed array's elements as they are: this ${data.constructor.name} is ${own}, not ${dtype}; ` +
        `pass ${dtype === 'bool' ? 'a Uint8Array of 0 and 1' : `${dtype} data (${convert})`} or drop dtype`,
    );
  }
  return dtype;
}
