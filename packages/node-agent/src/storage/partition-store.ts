import {
  ArrayNotFoundError,
  MISSING_PARTITION_DETAIL,
  type DataRequest,
  InsufficientMemoryError,
  InvalidArgumentError,
  bytesPerElement,
  colsOf,
  type DType,
  type PartitionMeta,
  type Shape,
  reservedBytesOf,
  type BackingFile,
} from '@sharc/protocol';
import { WASM_PAGE_BYTES, wasmLayoutOf } from '../wasm/memory-layout.js';
import { createSharedMemory, type WasmMemory } from '../wasm/wasm-api.js';

/** Small buffers are cheap to allocate; only big ones are worth keeping for reuse. */
const MIN_KEPT_BUFFER_BYTES = 1024 * 1024;

/**
 * A buffer partitions are held in: the `.buffer` of a shared WebAssembly.Memory (the built-ins'
 * SIMD code runs on it in place; layout in wasm/memory-layout.ts), or a plain SharedArrayBuffer
 * (partitions too small or too big for one). Either may be longer than the partition.
 */
interface HeldBuffer {
  buffer: SharedArrayBuffer;
  memory: WasmMemory | undefined;
}

/** What every partition held by this agent has, resident or file-backed. */
interface PartitionState {
  arrayId: string;
  dtype: DType;
  shape: Shape;
  meta: PartitionMeta;
  /** What the partition counts against the memory limit: its bytes, or its memory's whole pages (0 for a file-backed one). */
  reservedBytes: number;
  /** Set while a client may still write the bytes; cleared when the array is sealed. */
  transferToken: string | undefined;
  /** Whether the partition was opened for an upload (its bytes must all arrive before sealing). */
  uploaded: boolean;
  /** Upload bytes that arrived (an upload is one write of the whole partition). */
  written: number;
  /** An upload write is in progress. */
  writing: boolean;
  /**
   * Every byte is in and final: a sealed upload or map output, a finished load or fetch, a
   * rebuilt map partition, a file-backed partition of a file checked unchanged. Only such a
   * partition serves a reduce a client sends straight here (the coordinator knows when a
   * partition is ready; a client's placement may be stale).
   */
  ready: boolean;
  /** Tasks and transfers using the buffer now: it is recycled only once they are all done. */
  users: number;
  /** Dropped from the store; the buffer waits for its last user. */
  freed: boolean;
  /** A user stopped abnormally (aborted task, broken transfer): never recycle this buffer. */
  tainted: boolean;
}

/** One partition held by this agent in memory: its rows of one array, in a SharedArrayBuffer. */
export interface ResidentPartition extends PartitionState {
  kind: 'resident';
  /** Holds the partition's `meta.byteLength` bytes from offset 0, and may be longer: view `bytesOf(partition)`. */
  buffer: SharedArrayBuffer;
  /** The WebAssembly.Memory whose buffer `buffer` is, if any. */
  memory: WasmMemory | undefined;
}

/**
 * A partition of a file-backed array: its rows are bytes of `file` (row r of the array at
 * `file.dataOffset + r × rowBytes`), read (or, `writable`, written by a map) by the worker
 * threads block by block as jobs run. It holds no buffer and counts nothing against the
 * memory limit.
 */
export interface FilePartition extends PartitionState {
  kind: 'file';
  file: BackingFile;
  /** A map output written into its file (partition(s).allocate with `file`); else rows read from it. */
  writable: boolean;
}

/** One partition held by this agent. Only a resident one has bytes in memory: narrow on `kind` before touching them. */
export type StoredPartition = ResidentPartition | FilePartition;

/**
 * What a data-plane request may move (PartitionStore.openTransfer): bytes of a resident
 * partition, or a range of a file-backed partition's file (`position`: its first byte in the
 * file). `done(true)` after the last byte moved; `done(false)` if the transfer broke off.
 */
export type Transfer =
  | { kind: 'bytes'; bytes: Uint8Array; done(clean: boolean): void }
  | {
      kind: 'file';
      file: BackingFile;
      /** A map output's file: its modification time moved as it was written (check its size only). */
      written: boolean;
      position: number;
      byteLength: number;
      done(clean: boolean): void;
    };

/** A partition in use; `release(clean)` ends the use (false: stopped abnormally). */
export interface PartitionLease {
  partition: StoredPartition;
  release(clean: boolean): void;
}

/**
 * The partitions this agent holds, and the memory they take. Memory is reserved before a
 * buffer is allocated, so an agent never promises more than its limit.
 *
 * Freed buffers are kept for reuse by the next partition of the same size (streams of frames,
 * put/delete cycles): the first write to fresh pages costs a page fault per 4 KiB and runs at
 * a fraction of memcpy speed, while a reused buffer's pages are already mapped. Kept buffers
 * count against the memory limit and are dropped as soon as live partitions need the room.
 */
export class PartitionStore {
  private readonly partitions = new Map<string, StoredPartition>();
  /** Kept buffers by kind and size (see spareKeyOf). */
  private readonly spare = new Map<string, HeldBuffer[]>();
  private spareBytes = 0;
  private used = 0;

  constructor(readonly memoryBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  get count(): number {
    return this.partitions.size;
  }

  /**
   * Reserves memory and a buffer for one partition. `overwritten` says every byte will be
   * written before anyone reads (an upload, a file load): a reused buffer then skips the
   * zero fill, which would cost as much as the write itself.
   */
  allocate(
    arrayId: string,
    dtype: DType,
    shape: Shape,
    meta: PartitionMeta,
    transferToken: string | undefined,
    contents: 'zeroed' | 'overwritten' = 'zeroed',
  ): ResidentPartition {
    const key = keyOf(arrayId, meta.index);
    const expected = meta.rowCount * colsOf(shape) * bytesPerElement(dtype);
    if (expected !== meta.byteLength) {
      throw new InvalidArgumentError(`partition ${meta.index} of ${arrayId} declares ${meta.byteLength} bytes, its rows need ${expected}`);
    }
    const existing = this.partitions.get(key);
    if (existing !== undefined) {
      if (existing.kind === 'resident') return existing;
      throw new InvalidArgumentError(`partition ${meta.index} of ${arrayId} is file-backed here (${existing.file.path}): free it before holding it in memory`);
    }
    // The coordinator placed the partition here by the same rule (reservedBytesOf).
    const reservedBytes = reservedBytesOf(meta.byteLength);
    if (this.used + reservedBytes > this.memoryBytes) {
      throw new InsufficientMemoryError(
        `agent has ${this.memoryBytes - this.used} bytes free, partition ${meta.index} of ${arrayId} needs ${reservedBytes}`,
        { retryable: true },
      );
    }
    this.used += reservedBytes;
    const held = this.takeBuffer(meta.byteLength, wasmLayoutOf(meta.byteLength)?.pages, contents);
    const partition: ResidentPartition = {
      kind: 'resident',
      arrayId,
      dtype,
      shape,
      meta,
      buffer: held.buffer,
      memory: held.memory,
      reservedBytes,
      transferToken,
      uploaded: transferToken !== undefined,
      written: 0,
      writing: false,
      ready: false,
      users: 0,
      freed: false,
      tainted: false,
    };
    this.partitions.set(key, partition);
    return partition;
  }

  /**
   * Holds a partition of a file-backed array: no buffer, no memory reserved, nothing read (the
   * caller checked the file). `writable`: a map output the threads will write into the file
   * (ready once written); otherwise rows read from it, ready at once.
   */
  allocateFile(arrayId: string, dtype: DType, shape: Shape, meta: PartitionMeta, file: BackingFile, writable: boolean): FilePartition {
    const key = keyOf(arrayId, meta.index);
    const rowBytes = colsOf(shape) * bytesPerElement(dtype);
    if (meta.rowCount * rowBytes !== meta.byteLength) {
      throw new InvalidArgumentError(`partition ${meta.index} of ${arrayId} declares ${meta.byteLength} bytes, its rows need ${meta.rowCount * rowBytes}`);
    }
    const end = file.dataOffset + (meta.rowStart + meta.rowCount) * rowBytes;
    if (end > file.size) {
      throw new InvalidArgumentError(
        `partition ${meta.index} of ${arrayId} (rows ${meta.rowStart}..${meta.rowStart + meta.rowCount - 1}) ends at byte ${end} of ${file.path}, which has ${file.size}`,
      );
    }
    const existing = this.partitions.get(key);
    if (existing !== undefined) {
      if (existing.kind === 'file' && existing.file.path === file.path && existing.writable === writable) return existing;
      if (existing.kind === 'file' && existing.file.path === file.path && existing.writable && !writable) {
        // A map output registered again as rows of its file, now written (the size and time
        // its coordinator read at commit): checked by both from now on.
        existing.file = file;
        existing.writable = false;
        existing.ready = true;
        return existing;
      }
      throw new InvalidArgumentError(`partition ${meta.index} of ${arrayId} is already held here ${existing.kind === 'file' ? `from ${existing.file.path}` : 'in memory'}: free it first`);
    }
    const partition: FilePartition = {
      kind: 'file',
      arrayId,
      dtype,
      shape,
      meta,
      file,
      writable,
      reservedBytes: 0,
      transferToken: undefined,
      uploaded: false,
      written: 0,
      writing: false,
      ready: !writable,
      users: 0,
      freed: false,
      tainted: false,
    };
    this.partitions.set(key, partition);
    return partition;
  }

  get(arrayId: string, index: number): StoredPartition {
    const partition = this.partitions.get(keyOf(arrayId, index));
    if (partition === undefined) {
      // Retryable: the agent may have restarted (empty) just now, and the coordinator is moving
      // the partition to where a copy of it is.
      throw new ArrayNotFoundError(`this agent holds no partition ${index} of array ${arrayId}: it may have restarted; retry`, {
        retryable: true,
        details: { [MISSING_PARTITION_DETAIL]: true, arrayId, partition: index },
      });
    }
    return partition;
  }

  /** The partition, or undefined when this agent holds none such. */
  find(arrayId: string, index: number): StoredPartition | undefined {
    return this.partitions.get(keyOf(arrayId, index));
  }

  /** Says every byte of the partition is in and final (see StoredPartition.ready). */
  markReady(arrayId: string, index: number): void {
    const partition = this.partitions.get(keyOf(arrayId, index));
    if (partition !== undefined) partition.ready = true;
  }

  /** The partitions held here, by array. */
  holdings(): Array<{ arrayId: string; partitions: number[] }> {
    const byArray = new Map<string, number[]>();
    for (const p of this.partitions.values()) {
      // Pushed, not copied: an array of 100,000s of partitions made this quadratic (minutes).
      const indices = byArray.get(p.arrayId);
      if (indices === undefined) byArray.set(p.arrayId, [p.meta.index]);
      else indices.push(p.meta.index);
    }
    return [...byArray].map(([arrayId, partitions]) => ({ arrayId, partitions }));
  }

  /** Takes a partition for a task or a transfer; its buffer is not recycled until released. */
  acquire(arrayId: string, index: number): PartitionLease {
    const partition = this.get(arrayId, index);
    partition.users++;
    let released = false;
    return {
      partition,
      release: (clean) => {
        if (released) return;
        released = true;
        partition.users--;
        if (!clean) partition.tainted = true;
        if (partition.freed && partition.users === 0) this.recycle(partition);
      },
    };
  }

  /**
   * Opens the bytes a data-plane request may touch: for `write`, only while the array is being
   * uploaded and with its transfer token; for `read`, only a sealed partition. Checked ranges
   * only. A file-backed partition takes no writes, and its reads are a range of its file (the
   * caller reads it from there). `done(true)` after the last byte moved; `done(false)` if the
   * transfer broke off.
   */
  openTransfer(request: DataRequest): Transfer {
    const partition = this.get(request.arrayId, request.partitionIndex);
    if (request.byteOffset + request.byteLength > partition.meta.byteLength) {
      throw new InvalidArgumentError(
        `bytes ${request.byteOffset}..${request.byteOffset + request.byteLength} are outside partition ${request.partitionIndex} ` +
          `of ${request.arrayId} (${partition.meta.byteLength} bytes)`,
      );
    }
    if (partition.kind === 'file') {
      if (request.op === 'write') {
        throw new InvalidArgumentError(
          `partition ${request.partitionIndex} of ${request.arrayId} is file-backed (its rows are bytes of ${partition.file.path}): it takes no writes; ` +
            'write the file itself, then register it again',
        );
      }
      const lease = this.acquire(request.arrayId, request.partitionIndex);
      const rowBytes = colsOf(partition.shape) * bytesPerElement(partition.dtype);
      return {
        kind: 'file',
        file: partition.file,
        written: partition.writable,
        position: partition.file.dataOffset + partition.meta.rowStart * rowBytes + request.byteOffset,
        byteLength: request.byteLength,
        done: (clean) => lease.release(clean),
      };
    }
    if (request.op === 'write' && (partition.transferToken === undefined || partition.transferToken !== request.token)) {
      throw new InvalidArgumentError(`partition ${request.partitionIndex} of ${request.arrayId} is not open for writing with this token`);
    }
    if (request.op === 'write') {
      // One write of the whole partition, once: ranges written twice or left out could
      // otherwise let bytes of a reused buffer's previous array survive into this one.
      if (request.byteOffset !== 0 || request.byteLength !== partition.meta.byteLength) {
        throw new InvalidArgumentError(`an upload writes partition ${request.partitionIndex} of ${request.arrayId} whole: bytes 0..${partition.meta.byteLength}`);
      }
      if (partition.writing || partition.written > 0) {
        throw new InvalidArgumentError(`partition ${request.partitionIndex} of ${request.arrayId} is already being written or written`);
      }
      partition.writing = true;
    }
    if (request.op === 'read' && partition.transferToken !== undefined) {
      throw new InvalidArgumentError(`partition ${request.partitionIndex} of ${request.arrayId} is still being written`);
    }
    const lease = this.acquire(request.arrayId, request.partitionIndex);
    return {
      kind: 'bytes',
      bytes: new Uint8Array(partition.buffer, request.byteOffset, request.byteLength),
      done: (clean) => {
        if (request.op === 'write') {
          partition.writing = false;
          if (clean) partition.written = request.byteLength;
        }
        lease.release(clean);
      },
    };
  }

  /**
   * Makes the array's partitions read-only for the data plane. An upload is sealed only once
   * every byte arrived: a partial upload must never expose what a reused buffer held before.
   */
  seal(arrayId: string): void {
    const partitions = [...this.partitions.values()].filter((p) => p.arrayId === arrayId);
    for (const partition of partitions) {
      if (partition.uploaded && partition.written < partition.meta.byteLength) {
        throw new InvalidArgumentError(
          `partition ${partition.meta.index} of ${arrayId} received ${partition.written} of ${partition.meta.byteLength} bytes: upload every byte before committing`,
        );
      }
    }
    for (const partition of partitions) {
      partition.transferToken = undefined;
      partition.ready = true;
    }
  }

  /**
   * Drops every partition of `arrayId` (or only partition `index`); returns how many bytes
   * that freed. A buffer still in use by a task or a transfer is recycled only when its last
   * user is done.
   */
  free(arrayId: string, index?: number): number {
    return this.dropWhere((p) => p.arrayId === arrayId && (index === undefined || p.meta.index === index));
  }

  /** Drops every partition `keep` says no to; returns how many bytes that freed. */
  keepOnly(keep: (arrayId: string, index: number) => boolean): number {
    return this.dropWhere((p) => !keep(p.arrayId, p.meta.index));
  }

  private dropWhere(drop: (partition: StoredPartition) => boolean): number {
    let freed = 0;
    for (const [key, partition] of this.partitions) {
      if (!drop(partition)) continue;
      this.partitions.delete(key);
      this.used -= partition.reservedBytes;
      freed += partition.reservedBytes;
      partition.freed = true;
      if (partition.users === 0) this.recycle(partition);
    }
    return freed;
  }

  private recycle(partition: StoredPartition): void {
    if (partition.kind === 'resident' && !partition.tainted) this.keepBuffer({ buffer: partition.buffer, memory: partition.memory });
  }

  /**
   * A buffer for `byteLength` bytes: a WebAssembly.Memory of `pages` pages when given, else a
   * SharedArrayBuffer of exactly `byteLength`; reused when one is kept. Zero-filled unless it
   * will be overwritten; the bytes past the partition are zeroed either way, so nothing of a
   * reused buffer's previous array survives anywhere in it.
   */
  private takeBuffer(byteLength: number, pages: number | undefined, contents: 'zeroed' | 'overwritten'): HeldBuffer {
    const bufferBytes = pages === undefined ? byteLength : pages * WASM_PAGE_BYTES;
    const kept = this.spare.get(spareKeyOf(pages !== undefined, bufferBytes))?.pop();
    if (kept !== undefined) {
      this.spareBytes -= bufferBytes;
      new Uint8Array(kept.buffer, contents === 'zeroed' ? 0 : byteLength).fill(0);
      return kept;
    }
    // Make room: kept buffers of other sizes give way to live partitions.
    for (const buffers of this.spare.values()) {
      while (this.used + this.spareBytes > this.memoryBytes && buffers.length > 0) {
        this.spareBytes -= buffers.pop()!.buffer.byteLength;
      }
    }
    if (pages !== undefined) {
      try {
        const memory = createSharedMemory(pages);
        return { buffer: memory.buffer, memory };
      } catch (error) {
        // A process can reserve only so many WebAssembly memories (V8 reserves address space
        // for each; ~13,000 on x64): past that, partitions are held as before and reduced by
        // the JS loops.
        if (!(error instanceof RangeError)) throw error;
      }
    }
    return { buffer: new SharedArrayBuffer(byteLength), memory: undefined };
  }

  private keepBuffer(held: HeldBuffer): void {
    const bytes = held.buffer.byteLength;
    if (bytes < MIN_KEPT_BUFFER_BYTES) return;
    if (this.used + this.spareBytes + bytes > this.memoryBytes) return;
    const key = spareKeyOf(held.memory !== undefined, bytes);
    const list = this.spare.get(key) ?? [];
    list.push(held);
    this.spare.set(key, list);
    this.spareBytes += bytes;
  }
}

/** The bytes of the partition (its buffer may be longer). */
export function bytesOf(partition: ResidentPartition): Uint8Array {
  return new Uint8Array(partition.buffer, 0, partition.meta.byteLength);
}

/** Memories and plain buffers are kept apart: a partition wanting a memory must get one. */
function spareKeyOf(isMemory: boolean, bytes: number): string {
  return `${isMemory ? 'memory' : 'plain'}:${bytes}`;
}

function keyOf(arrayId: string, index: number): string {
  return `${arrayId}#${index}`;
}
