import type { Shape } from '@sharc/protocol';

/**
 * What a kernel receives besides its data. Kernel modules can import this type:
 * `import type { KernelContext } from '@sharc/sdk'`.
 */
export interface KernelContext<P = unknown> {
  /** First row of this block in the whole array. */
  rowStart: number;
  /** Rows in this block (the views cover exactly these rows). */
  rowCount: number;
  /** Columns of the input. */
  cols: number;
  /** Shape of the whole input array. */
  shape: Shape;
  /** The `params` the job was given. */
  params: P;
}
