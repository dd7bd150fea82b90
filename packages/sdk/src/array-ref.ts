import {
  bytesPerElement,
  colsOf,
  typedArrayConstructor,
  type ArrayMeta,
  type DType,
  type PartitionMeta,
  type Shape,
  type TypedArray,
} from '@sharc/protocol';
import type { JobOptions } from './jobs/run-job.js';

/** What ArrayRef needs from its cluster (kept narrow so the two files do not depend on each other's internals). */
export interface ArrayOwner {
  readPartitions(meta: ArrayMeta, each: (partition: PartitionMeta, bytes: Uint8Array) => Promise<void> | void, options: JobOptions, into?: Uint8Array): Promise<void>;
  deleteArray(meta: ArrayMeta): Promise<void>;
  saveArray(meta: ArrayMeta, file: string, options: JobOptions): Promise<void>;
}

/** A handle to an array stored in the cluster. Metadata is local; methods go to the cluster. */
export class ArrayRef {
  constructor(
    private readonly owner: ArrayOwner,
    readonly meta: ArrayMeta,
  ) {}

  get id(): string {
    return this.meta.id;
  }
  get name(): string {
    return this.meta.name;
  }
  get dtype(): DType {
    return this.meta.dtype;
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
  get byteLength(): number {
    return this.meta.shape[0] * colsOf(this.meta.shape) * bytesPerElement(this.meta.dtype);
  }

  /** Fetches the whole array into a new typed array of its dtype, row-major. */
  async toArray(options: JobOptions = {}): Promise<TypedArray> {
    const bytes = new Uint8Array(this.byteLength);
    await this.owner.readPartitions(this.meta, () => undefined, options, bytes);
    const ctor = typedArrayConstructor(this.meta.dtype);
    return new ctor(bytes.buffer, 0, this.byteLength / bytesPerElement(this.meta.dtype));
  }

  /** Writes the array to a `.npy` file on the client's disk (numpy.load reads it). */
  save(file: string, options: JobOptions = {}): Promise<void> {
    return this.owner.saveArray(this.meta, file, options);
  }

  /** Frees the array on every agent; its name becomes free. */
  delete(): Promise<void> {
    return this.owner.deleteArray(this.meta);
  }
}
