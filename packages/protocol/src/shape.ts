import { InvalidArgumentError } from './errors.js';

/**
 * Row-major shape: `[rows]` for 1-D arrays, `[rows, cols]` for 2-D arrays, and `[]` for a 0-d
 * array (numpy's scalar arrays, shape `()`), which is stored as one row of one element and
 * keeps its shape `[]` in the catalog, `toArray` and `save`.
 */
export type Shape = readonly [] | readonly [number] | readonly [number, number];

/**
 * Checks that `shape` is a 0-D, 1-D or 2-D list of non-negative safe integers and, when
 * `length` is given, that it covers exactly `length` elements.
 */
export function parseShape(shape: unknown, length?: number): Shape {
  if (!Array.isArray(shape) || shape.length > 2) {
    throw new InvalidArgumentError(
      `shape must be [rows], [rows, cols] or [] (a 0-d array of one element), got ${JSON.stringify(shape)}`,
    );
  }
  for (const dim of shape) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw new InvalidArgumentError(
        `shape ${JSON.stringify(shape)} has ${JSON.stringify(dim)}: every dimension must be a non-negative integer`,
      );
    }
  }
  const parsed = (shape.length === 0 ? [] : shape.length === 1 ? [shape[0]] : [shape[0], shape[1]]) as Shape;
  if (length !== undefined && elementCount(parsed) !== length) {
    throw new InvalidArgumentError(
      `shape ${JSON.stringify(shape)} holds ${elementCount(parsed)} elements but the data has ${length}: ` +
        'pass a shape whose product equals the array length',
    );
  }
  return parsed;
}

/** Rows as partitions count them: a 0-d array is one row. */
export function rowsOf(shape: Shape): number {
  return shape.length === 0 ? 1 : shape[0];
}

export function colsOf(shape: Shape): number {
  return shape.length === 2 ? shape[1] : 1;
}

export function elementCount(shape: Shape): number {
  return rowsOf(shape) * colsOf(shape);
}
