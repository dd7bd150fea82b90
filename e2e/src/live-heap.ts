/**
 * What a running Node process keeps alive on its JavaScript heap, measured from outside: the
 * process is started with `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR` (see
 * `heapSnapshotEnv`), a SIGUSR2 makes it write a heap snapshot there (V8 collects garbage
 * first), and the sizes of the objects in it are added up. A leak of JavaScript objects grows
 * this figure; the resident set size also moves with the allocator and V8's spare pages.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** How long a snapshot may take to be written. */
const SNAPSHOT_WAIT_MS = 30_000;

/** The environment that lets `liveHeapBytes` ask a process for a snapshot written into `dir`. */
export function heapSnapshotEnv(dir: string): NodeJS.ProcessEnv {
  const inherited = process.env.NODE_OPTIONS ?? '';
  return { NODE_OPTIONS: `${inherited} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`.trim() };
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[] } };
  nodes: number[];
}

/** Bytes of the objects alive in process `pid` after a full garbage collection. */
export async function liveHeapBytes(pid: number, dir: string): Promise<number> {
  const mine = (name: string) => name.endsWith('.heapsnapshot') && name.includes(`.${pid}.`);
  const before = new Set((await readdir(dir)).filter(mine));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + SNAPSHOT_WAIT_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const written = (await readdir(dir)).find((name) => mine(name) && !before.has(name));
    if (written === undefined) continue;
    const file = path.join(dir, written);
    let snapshot: HeapSnapshot;
    try {
      snapshot = JSON.parse(await readFile(file, 'utf8')) as HeapSnapshot;
    } catch {
      continue; // still being written
    }
    await rm(file, { force: true });
    const fields = snapshot.snapshot.meta.node_fields;
    const selfSize = fields.indexOf('self_size');
    let total = 0;
    for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i]!;
    return total;
  }
  throw new Error(`process ${pid} wrote no heap snapshot into ${dir} within ${SNAPSHOT_WAIT_MS} ms (was it started with heapSnapshotEnv?)`);
}
