import { InternalError } from '@sharc/protocol/core';
import { SCRATCH_SLOTS, SCRATCH_SLOT_BYTES, scratchSlotOffset, wasmLayoutOf } from './memory-layout.js';
import type { WasmMemory } from './wasm-api.js';

/** How long a thread waits for a slot to come free before it looks again (they are held for one block). */
const SLOT_WAIT_MS = 1;

/**
 * Runs `use` with a scratch slot of the partition's memory held: `offset` is its address for
 * WebAssembly code, `bytes` its view for JS. Slots are claimed with an atomic flag in the memory
 * itself, so threads of any job (and jobs at once on the same partition) never share one; when
 * all are taken, a worker thread waits for one. For worker threads only: the agent's own thread
 * should not wait (Atomics.wait would block its event loop).
 */
export function withScratch<T>(memory: WasmMemory, partitionBytes: number, use: (offset: number, bytes: Uint8Array) => T): T {
  const layout = wasmLayoutOf(partitionBytes);
  if (layout === undefined || layout.totalBytes !== memory.buffer.byteLength) {
    throw new InternalError(`a partition of ${partitionBytes} bytes does not have the memory layout of this ${memory.buffer.byteLength}-byte memory`);
  }
  const flags = new Int32Array(memory.buffer, layout.scratchOffset, SCRATCH_SLOTS);
  for (;;) {
    for (let slot = 0; slot < SCRATCH_SLOTS; slot++) {
      if (Atomics.compareExchange(flags, slot, 0, 1) !== 0) continue;
      try {
        const offset = scratchSlotOffset(layout, slot);
        return use(offset, new Uint8Array(memory.buffer, offset, SCRATCH_SLOT_BYTES));
      } finally {
        Atomics.store(flags, slot, 0);
        Atomics.notify(flags, slot, 1);
      }
    }
    Atomics.wait(flags, 0, 1, SLOT_WAIT_MS);
  }
}

/**
 * Frees every slot of the memory. The store calls it when the partition has no user left: a
 * thread terminated while it held a slot (an aborted task) never cleared its flag.
 */
export function clearScratchClaims(memory: WasmMemory, partitionBytes: number): void {
  const layout = wasmLayoutOf(partitionBytes);
  if (layout === undefined || layout.totalBytes !== memory.buffer.byteLength) return;
  new Int32Array(memory.buffer, layout.scratchOffset, SCRATCH_SLOTS).fill(0);
}
