import {
  InvalidArgumentError,
  bytesPerElement,
  elementCount,
  keysOf,
  typedArrayConstructor,
  type ArrayMeta,
  type BackingFile,
  type DType,
  type PartitionMeta,
  type PendingArray,
  type Shape,
  type TypedArray,
  type TypedArrayOf,
  type BuiltinResult,
  type Histogram,
} from '@sharc/protocol';
import { reduceArray, type AxisOptions, type BuiltinRunner, type HistogramOptions, type VarianceOptions } from './array-reductions.js';
import { JOB_OPTION_KEYS, type JobOptions } from './jobs/run-job.js';
import type { ArrayOpArgs, OpOptions, RowStatisticOptions, ScaleOptions } from './ops/builtin-ops.js';

export interface ToArrayOptions<D extends DType = DType> extends JobOptions {
  /** A typed array of the array's dtype and length to fill instead of allocating a new one. */
  into?: TypedArrayOf<D>;
}
export const TO_ARRAY_OPTION_KEYS = keysOf<ToArrayOptions>()([...JOB_OPTION_KEYS, 'into']);

/** What ArrayRef needs from its cluster (kept narrow so the two files do not depend on each other's internals). */
export interface ArrayOwner extends BuiltinRunner {
  readPartitions(meta: ArrayMeta, each: (partition: PartitionMeta, bytes: Uint8Array) => Promise<void> | void, options: JobOptions, into?: Uint8Array): Promise<void>;
  deleteArray(meta: ArrayMeta): Promise<void>;
  saveArray(meta: ArrayMeta, file: string, options: JobOptions): Promise<void>;
  /** Runs a built-in op making a new array from this one (ops/builtin-ops.ts checks the arguments). */
  arrayOp<O extends keyof ArrayOpArgs>(op: O, array: ArrayRef, args: ArrayOpArgs[O], options: OpOptions): Promise<ArrayRef>;
}

/**
 * A handle to an array stored in the cluster. Metadata is local; methods go to the cluster.
 * `D` is its dtype when known from the call that made it (`put` of a Float64Array gives an
 * `ArrayRef<'float64'>`); `open`, `list` and `fromFile` give `ArrayRef<DType>`.
 */
export class ArrayRef<D extends DType = DType> {
  constructor(
    private readonly owner: ArrayOwner,
    readonly meta: ArrayMeta,
    /** Set for an array still being written, as `list({ all: true })` shows it. */
    private readonly writing?: Omit<PendingArray, 'array'>,
  ) {}

  /**
   * `'pending'`: still being written (listed by `list({ all: true })` only): an upload in
   * progress (`writer: 'upload'`, its client in `clientId`) or a running map's output. It
   * cannot be read yet; `delete()` drops an upload in progress.
   * `'lost'`: some partitions are lost for good (see `lostPartitions`): jobs and reads fail with
   * a PartitionLostError, and the array can only be deleted (and put again).
   */
  get state(): 'ready' | 'pending' | 'lost' {
    if (this.writing !== undefined) return 'pending';
    return this.lostPartitions.length > 0 ? 'lost' : 'ready';
  }
  /** For a pending array: what writes it, and (an upload) the client whose lease keeps it. */
  get pending(): Omit<PendingArray, 'array'> | undefined {
    return this.writing;
  }

  get id(): string {
    return this.meta.id;
  }
  get name(): string {
    return this.meta.name;
  }
  get dtype(): D {
    return this.meta.dtype as D;
  }
  get shape(): Shape {
    return this.meta.shape;
  }
  /** Number of row partitions. */
  get partitions(): number {
    return this.meta.partitions.length;
  }
  /** Which rows each partition holds and on which agent. */
  get placement(): readonly PartitionMeta[] {
    return this.meta.partitions;
  }
  /** Indexes of the partitions lost for good: every agent holding a copy came back without it. */
  get lostPartitions(): readonly number[] {
    return this.meta.lostPartitions ?? [];
  }
  get byteLength(): number {
    return elementCount(this.meta.shape) * bytesPerElement(this.meta.dtype);
  }
  /**
   * A file-backed array's file (`fromFile(path, { resident: false })`, or a map with `{ file }`):
   * its path on the agents, where element 0 starts, and the size and modification time every
   * job checks it still has. Undefined for an array held in the agents' memory.
   */
  get file(): BackingFile | undefined {
    return this.meta.file;
  }
  /** Whether the array's rows stay in its file (streamed by each job) rather than in the agents' memory. */
  get isFileBacked(): boolean {
    return this.meta.file !== undefined;
  }

  /**
   * Fetches the whole array, row-major, into a new typed array of its dtype, or into `into`
   * (same dtype and length) to reuse memory across calls: fresh memory costs a page fault per
   * 4 KiB on first write, which bounds how fast a new array can be filled. int64 and uint64
   * come as BigInt64Array and BigUint64Array, bool as a Uint8Array of 0 and 1; a 0-d array
   * (shape []) as one element.
   */
  async toArray(options: ToArrayOptions<D> = {}): Promise<TypedArrayOf<D>> {
    const ctor = typedArrayConstructor(this.meta.dtype);
    const length = this.byteLength / bytesPerElement(this.meta.dtype);
    const into = options.into;
    if (into !== undefined && (!(into instanceof ctor) || into.length !== length)) {
      const what = ArrayBuffer.isView(into) ? `${into.constructor.name}(${(into as TypedArray).length})` : typeof into;
      throw new InvalidArgumentError(`toArray into must be a ${ctor.name} of length ${length} (the array's dtype and size), got ${what}`);
    }
    const result = into ?? new ctor(length);
    await this.owner.readPartitions(this.meta, () => undefined, options, new Uint8Array(result.buffer, result.byteOffset, result.byteLength));
    return result as TypedArrayOf<D>;
  }

  /** Writes the array to a `.npy` file on the client's disk (numpy.load reads it). */
  save(file: string, options: JobOptions = {}): Promise<void> {
    return this.owner.saveArray(this.meta, file, options);
  }

  /** Frees the array on every agent; its name becomes free. */
  delete(): Promise<void> {
    return this.owner.deleteArray(this.meta);
  }

  // ---- Built-in operations making a new stored array (ops/builtin-ops.ts; numpy's names) ----
  // Each takes the output's options (name, replace, detached, file) and the job's (timeoutMs, signal, onProgress).

  /**
   * numpy's `a.astype(dtype)`. float → integer truncates toward zero and saturates at the
   * integer's bounds, NaN → 0 (numpy leaves those undefined); integer → narrower integer wraps.
   */
  async astype<T extends DType>(dtype: T, options: OpOptions = {}): Promise<ArrayRef<T>> {
    return (await this.owner.arrayOp('astype', this, { dtype }, options)) as ArrayRef<T>;
  }

  /** `a * factor + offset` (float32 stays float32, every other dtype gives float64). */
  scale(factor: number, options: ScaleOptions = {}): Promise<ArrayRef> {
    return this.owner.arrayOp('scale', this, { factor }, options);
  }

  /** numpy's `np.clip(a, lo, hi)`, in the array's dtype; `undefined` (or null) for no bound. */
  clip(lo: number | bigint | undefined | null, hi: number | bigint | undefined | null, options: OpOptions = {}): Promise<ArrayRef<D>> {
    return this.owner.arrayOp('clip', this, { lo, hi }, options) as Promise<ArrayRef<D>>;
  }

  /** numpy's `np.abs(a)`, in the array's dtype. */
  abs(options: OpOptions = {}): Promise<ArrayRef<D>> {
    return this.owner.arrayOp('abs', this, {}, options) as Promise<ArrayRef<D>>;
  }

  /** numpy's `np.sqrt(a)`: float32 stays float32, every other dtype gives float64. */
  sqrt(options: OpOptions = {}): Promise<ArrayRef> {
    return this.owner.arrayOp('sqrt', this, {}, options);
  }

  /**
   * numpy's `a[start:end]` along the rows: a new array. Negative bounds count from the end,
   * bounds out of range clamp, `undefined` (or null) is the start (end).
   */
  slice(start?: number | null, end?: number | null, options: OpOptions = {}): Promise<ArrayRef<D>> {
    return this.owner.arrayOp('slice', this, { start, end }, options) as Promise<ArrayRef<D>>;
  }

  /** numpy's `a @ v` for a 2-D array and a vector of length cols: a new float64 array of shape [rows]. */
  matvec(v: ArrayLike<number> | ArrayBufferView, options: OpOptions = {}): Promise<ArrayRef<'float64'>> {
    return this.owner.arrayOp('matvec', this, { v }, options) as Promise<ArrayRef<'float64'>>;
  }

  // ---- reductions (array-reductions.ts checks the options and finishes the values) ----------

  /** Sum of every element (exact bigint for int64/uint64), as numpy.sum; `{ axis: 0 }`: per column, a Float64Array; `{ axis: 1 }`: per row, a new stored array. */
  sum(options: RowStatisticOptions & { axis: 1 }): Promise<ArrayRef>;
  sum(options: AxisOptions & { axis: 0 }): Promise<Float64Array>;
  sum(options?: AxisOptions & { axis?: undefined }): Promise<BuiltinResult<D, 'sum'>>;
  sum(options: AxisOptions = {}): Promise<unknown> {
    return reduceArray(this.owner, this.meta, 'sum', options);
  }

  /** Mean of every element, as numpy.mean (NaN without elements); `{ axis: 0 }`: per column, a Float64Array; `{ axis: 1 }`: per row, a new stored array. */
  mean(options: RowStatisticOptions & { axis: 1 }): Promise<ArrayRef>;
  mean(options: AxisOptions & { axis: 0 }): Promise<Float64Array>;
  mean(options?: AxisOptions & { axis?: undefined }): Promise<number>;
  mean(options: AxisOptions = {}): Promise<unknown> {
    return reduceArray(this.owner, this.meta, 'mean', options);
  }

  /** Least element (NaN if any is), as numpy.min; `{ axis: 0 }`: per column, a typed array of the array's dtype; `{ axis: 1 }`: per row, a new stored array. */
  min(options: RowStatisticOptions & { axis: 1 }): Promise<ArrayRef>;
  min(options: AxisOptions & { axis: 0 }): Promise<TypedArrayOf<D>>;
  min(options?: AxisOptions & { axis?: undefined }): Promise<BuiltinResult<D, 'min'>>;
  min(options: AxisOptions = {}): Promise<unknown> {
    return reduceArray(this.owner, this.meta, 'min', options);
  }

  /** Greatest element (NaN if any is), as numpy.max; `{ axis: 0 }`: per column, a typed array of the array's dtype; `{ axis: 1 }`: per row, a new stored array. */
  max(options: RowStatisticOptions & { axis: 1 }): Promise<ArrayRef>;
  max(options: AxisOptions & { axis: 0 }): Promise<TypedArrayOf<D>>;
  max(options?: AxisOptions & { axis?: undefined }): Promise<BuiltinResult<D, 'max'>>;
  max(options: AxisOptions = {}): Promise<unknown> {
    return reduceArray(this.owner, this.meta, 'max', options);
  }

  /** Flat (row-major) index of the first least element, or of the first NaN, as numpy.argmin. */
  argmin(options: JobOptions = {}): Promise<number> {
    return reduceArray(this.owner, this.meta, 'argmin', options) as Promise<number>;
  }

  /** Flat (row-major) index of the first greatest element, or of the first NaN, as numpy.argmax. */
  argmax(options: JobOptions = {}): Promise<number> {
    return reduceArray(this.owner, this.meta, 'argmax', options) as Promise<number>;
  }

  /** Variance, as numpy.var (divisor `n - ddof`); `{ axis: 0 }`: per column, a Float64Array; `{ axis: 1 }`: per row, a new stored array. */
  var(options: VarianceOptions & { axis: 0 }): Promise<Float64Array>;
  var(options?: VarianceOptions & { axis?: undefined }): Promise<number>;
  var(options: VarianceOptions = {}): Promise<unknown> {
    return reduceArray(this.owner, this.meta, 'var', options);
  }

  /** Standard deviation, as numpy.std (divisor `n - ddof`); `{ axis: 0 }`: per column, a Float64Array; `{ axis: 1 }`: per row, a new stored array. */
  std(options: RowStatisticOptions & { axis: 1 }): Promise<ArrayRef>;
  std(options: VarianceOptions & { axis: 0 }): Promise<Float64Array>;
  std(options?: VarianceOptions & { axis?: undefined }): Promise<number>;
  std(options: VarianceOptions = {}): Promise<unknown> {
    return reduceArray(this.owner, this.meta, 'std', options);
  }

  /** 2-norm of the flattened array, as numpy.linalg.norm: sqrt of the sum of squares, in float64. */
  norm(options: JobOptions = {}): Promise<number> {
    return reduceArray(this.owner, this.meta, 'norm', options) as Promise<number>;
  }

  /** numpy.histogram with equal bins: `{ counts, edges }` (bins + 1 edges, the last bin closed). */
  histogram(options: HistogramOptions = {}): Promise<Histogram> {
    return reduceArray(this.owner, this.meta, 'histogram', options) as Promise<Histogram>;
  }
}
