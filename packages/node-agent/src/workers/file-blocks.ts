/**
 * Blocks of a partition as a worker thread's kernels see them: typed arrays over the rows of
 * one block. A resident partition's blocks are views of its shared memory, in place. A
 * file-backed partition's block is read (fs.readSync) into the thread's own window for that
 * operand, and a map output's block is written back (fs.writeSync) once the kernel filled it.
 *
 * Why windows per thread and operand, reused: an agent's memory for streaming is then
 * threads × 3 × one block (~4 MiB), whatever the file's size; and each thread reads its own
 * blocks straight into the memory its loops run on (no hand-off from the agent's thread, no
 * second copy). The built-ins run their WebAssembly loops over an input's window when the
 * resident partition would be a WebAssembly.Memory (wasmPagesOf), the JS loops otherwise: the
 * same loop, over the same block, in the same order, so the same bits as over the resident array.
 */
import { closeSync, fstatSync, readSync, writeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { FileFormatError, InternalError, bytesPerElement, checkBackingFile, viewOf, wasmPagesOf, WASM32_MAX_PAGES, WASM_PAGE_BYTES, type DType, type TypedArray } from '@sharc/protocol/core';
import { createSharedMemory, type WasmMemory } from '../wasm/wasm-api.js';
import type { Block, FileView, PartitionView } from './worker-protocol.js';
import { openBackingFileSync } from '../storage/file-ranges.js';

/** Which of a request's views a window serves: each thread keeps at most one window per operand. */
export type Operand = 'input' | 'other' | 'output';

/** The blocks of one view, for the length of one request. */
export interface BlockSource {
  readonly dtype: DType;
  readonly cols: number;
  /** The WebAssembly.Memory the arrays `rows` returns live in, if any: the built-ins' SIMD loops run on it. */
  readonly memory: WasmMemory | undefined;
  /**
   * The rows of `block`: in place for a resident view; for a file view, read from the file into
   * this thread's window (an output's window is zeroed instead, as a fresh resident output
   * is). Valid until the next call.
   */
  rows(block: Block): TypedArray;
  /** After the kernel filled an output's `rows(block)`: writes them into the file (nothing to do for a resident view). */
  written(block: Block): void;
  /** Ends the request's use of the view (closes the file). */
  close(): void;
}

/**
 * A thread's window: a shared WebAssembly.Memory whenever the process can reserve one, even for
 * rows whose loops are the JS ones. Why: `readSync` into a memory's buffer measured about 5×
 * faster than into a plain SharedArrayBuffer or ArrayBuffer of the same size (10 vs 2 GB/s from
 * the page cache, Node 20, x64), while the loops a block runs are chosen by `memory` of its
 * BlockSource, not by the kind of window.
 */
interface Window {
  buffer: SharedArrayBuffer;
  memory: WasmMemory | undefined;
}

/** A block's size at the target (BLOCK_TARGET_BYTES): the window most requests need, made once. */
const WINDOW_BYTES = 4 * 1024 * 1024;

/** This thread's windows, by operand. */
const windows = new Map<Operand, Window>();
/** Their buffers: a partial that is a view of one is copied before the window is read into again. */
const windowBuffers = new WeakSet<SharedArrayBuffer>();

/** Opens the blocks of `view` for one request; `close()` it when the request ends. */
export function openBlocks(view: PartitionView, operand: Operand): BlockSource {
  if (view.file === undefined) {
    const { buffer, memory, dtype, cols, rowStart } = view;
    const rowBytes = cols * bytesPerElement(dtype);
    return {
      dtype,
      cols,
      memory,
      rows: (block) => viewOf(dtype, buffer, (block.rowStart - rowStart) * rowBytes, block.rowCount * cols),
      written: () => undefined,
      close: () => undefined,
    };
  }
  return openFileBlocks(view, operand);
}

/**
 * `value` itself, or a copy when it is a typed array over one of this thread's windows (a
 * kernel that returned its block, or part of it, as its partial): the window is overwritten by
 * the next block, while a resident block's view stays what it was.
 */
export function detachedFromWindow(value: unknown): unknown {
  if (ArrayBuffer.isView(value) && value.buffer instanceof SharedArrayBuffer && windowBuffers.has(value.buffer)) {
    return (value as TypedArray).slice();
  }
  return value;
}

function openFileBlocks(view: FileView, operand: Operand): BlockSource {
  // The agent's own thread never reads a file-backed partition block by block: it would stall
  // every message the agent serves meanwhile.
  if (isMainThread) throw new InternalError(`the rows of ${view.file.path} are read on worker threads only`);
  const { file, dtype, cols } = view;
  const write = view.write === true;
  const rowBytes = cols * bytesPerElement(dtype);
  const fd = openBackingFileSync(file.path, write, '');
  // A map output's modification time moves as threads write it: only its size must hold.
  const sizeOnly = write || view.written === true;
  const check = () => {
    const stats = fstatSync(fd);
    checkBackingFile(file, sizeOnly ? { size: stats.size, mtimeMs: file.mtimeMs } : stats);
  };
  let window: Window;
  try {
    check();
    window = windowFor(operand);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  // The built-ins run the WebAssembly loops over the block when the resident partition would be a memory (the same loops, the same bits).
  const wasmLoops = !write && wasmPagesOf(view.partitionBytes) !== undefined;
  let closed = false;
  const bytesOf = (block: Block) => {
    const length = block.rowCount * rowBytes;
    if (window.buffer.byteLength < length) window = windowFor(operand, length);
    return new Uint8Array(window.buffer, 0, length);
  };
  return {
    dtype,
    cols,
    get memory() {
      return wasmLoops ? window.memory : undefined;
    },
    rows: (block) => {
      const bytes = bytesOf(block);
      if (write) bytes.fill(0);
      else readBlock(fd, file.path, check, bytes, file.dataOffset + block.rowStart * rowBytes);
      return viewOf(dtype, window.buffer, 0, block.rowCount * cols);
    },
    written: (block) => {
      if (!write) return;
      const bytes = new Uint8Array(window.buffer, 0, block.rowCount * rowBytes);
      const position = file.dataOffset + block.rowStart * rowBytes;
      try {
        for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
      } catch (error) {
        throw writeFailed(file.path, error);
      }
    },
    close: () => {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}


/**
 * A write of a map's output file that failed, said as the user can act on it (a full disk, a
 * quota, an I/O error of the device): a FileFormatError naming the file, not an internal error.
 */
function writeFailed(path: string, error: unknown): FileFormatError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOSPC'
      ? 'no space is left on the device it is on'
      : code === 'EDQUOT'
        ? 'the disk quota is exceeded'
        : code === 'EFBIG'
          ? 'it would be larger than the filesystem allows'
          : (error as Error).message;
  return new FileFormatError(`${path} could not be written: ${why}. Free space there, or write the map's output to another path (file) or to memory`, {
    cause: error,
    details: { path, ...(code === undefined ? {} : { code }) },
  });
}

/** Reads `target.length` bytes at `position`; a file that ends first has shrunk since it was registered. */
function readBlock(fd: number, path: string, check: () => void, target: Uint8Array, position: number): void {
  for (let done = 0; done < target.length; ) {
    const read = readSync(fd, target, done, target.length - done, position + done);
    if (read === 0) {
      // Says how it changed when it did (size, modification time).
      check();
      throw new FileFormatError(`${path} ended at byte ${position + done}, before the ${target.length} bytes of rows at ${position}: it shrank under the job`, {
        details: { path },
      });
    }
    done += read;
  }
}

/**
 * The thread's window for `operand`, of at least `bytes` (one block at the target size unless
 * more is asked): kept and reused, replaced only by a larger one.
 */
function windowFor(operand: Operand, bytes = 0): Window {
  const kept = windows.get(operand);
  if (kept !== undefined && kept.buffer.byteLength >= bytes) return kept;
  const size = Math.max(bytes, kept?.buffer.byteLength ?? 0, WINDOW_BYTES);
  let window: Window | undefined;
  // wasm32 addresses 4 GiB: a block of larger rows than that gets a plain buffer.
  if (size <= WASM32_MAX_PAGES * WASM_PAGE_BYTES) {
    try {
      const memory = createSharedMemory(Math.ceil(size / WASM_PAGE_BYTES));
      window = { buffer: memory.buffer, memory };
    } catch (error) {
      // As the store does for partitions past what the process may reserve: the JS loops run.
      if (!(error instanceof RangeError)) throw error;
    }
  }
  window ??= { buffer: new SharedArrayBuffer(size), memory: undefined };
  windows.set(operand, window);
  windowBuffers.add(window.buffer);
  return window;
}
