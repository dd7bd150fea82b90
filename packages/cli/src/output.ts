import { escapeForTerminal, formatBytes, quotedName } from '@sharc/protocol';
import type { ArrayRef, JobStatus, NodeInfo } from '@sharc/sdk';

export { formatBytes, quotedName };

/** Where a command writes: results on stdout, messages and progress on stderr. */
export interface Output {
  /** Machine-readable output: one JSON document on stdout instead of text. */
  json: boolean;
  verbose: boolean;
}

/** Prints a command's result: `json` as one JSON document, or `text` for people. */
export function printResult(output: Output, json: unknown, text: () => string): void {
  process.stdout.write(output.json ? `${toJson(json)}\n` : `${text()}\n`);
}

const BIGINT_MARK = '\u0000bigint:';

/**
 * JSON with bigints (exact int64 sums) written as number literals of every digit: JSON allows
 * them, and Python's json reads them exactly (JSON.stringify alone refuses bigints).
 */
export function toJson(value: unknown, indent: number = 2): string {
  // undefined (a kernel's result) has no JSON: it prints as undefined, as before.
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${BIGINT_MARK}${v}` : v), indent) as string | undefined;
  return text === undefined ? String(text) : text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1');
}

/** A message for people on stderr (kept off stdout, which scripts read). */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** `1 thread`, `4 threads`: a count and its noun, singular for one. */
export function plural(count: number, noun: string): string {
  return `${count} ${count === 1 ? noun : `${noun}s`}`;
}

/** A plain-text table with a header row; columns sized to their widest cell. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function agentsTable(nodes: readonly NodeInfo[]): string {
  if (nodes.length === 0) return 'agents: none registered (start one: sharc agent --servers URL)';
  // Agents serving Prometheus metrics (sharc agent --http-port) get a column with the URL.
  const metrics = nodes.some((n) => n.metricsUrl !== undefined);
  return table(
    ['AGENT', 'HOST', 'STATE', 'THREADS', 'MEMORY USED/LIMIT', 'PARTITIONS', 'LOAD', ...(metrics ? ['METRICS'] : [])],
    nodes.map((n) => [
      n.id,
      escapeForTerminal(n.host),
      n.state,
      String(n.threads),
      `${formatBytes(n.usedBytes)} / ${formatBytes(n.memoryBytes)}`,
      String(n.partitions),
      // Work per thread: 1.00 means every thread is busy; above 1, work waits for a thread.
      (n.workInFlight / n.threads).toFixed(2),
      ...(metrics ? [escapeForTerminal(n.metricsUrl ?? '-')] : []),
    ]),
  );
}

/** Every array with its state: ready, pending (`ls --all`: what writes it), or lost; and, when any is file-backed, where each is kept. */
export function arraysTable(arrays: readonly ArrayRef[]): string {
  if (arrays.length === 0) return 'arrays: none (store one: sharc put FILE.npy --name NAME)';
  // Arrays kept in files (sharc put --stream, map --out-file) get a column saying which file.
  const storage = arrays.some((a) => a.file !== undefined);
  return table(
    ['ARRAY', 'DTYPE', 'SHAPE', 'SIZE', 'PARTITIONS', 'STATE', ...(storage ? ['STORAGE'] : [])],
    // A name stored by an older version may hold control characters: never print them raw.
    arrays.map((a) => [
      escapeForTerminal(a.name),
      a.dtype,
      a.shape.length === 0 ? '()' : a.shape.join(' x '),
      formatBytes(a.byteLength),
      String(a.partitions),
      stateOf(a),
      ...(storage ? [storageOf(a)] : []),
    ]),
  );
}

/** `memory`, or `file /data/big.npy` for a file-backed array (its rows stay in the file). */
function storageOf(a: ArrayRef): string {
  return a.file === undefined ? 'memory' : `file ${escapeForTerminal(a.file.path)}`;
}

/** What put, map and op print of the array they stored. */
export function storedText(stored: ArrayRef): string {
  const where = stored.file === undefined ? '' : `, file-backed (${escapeForTerminal(stored.file.path)})`;
  return `stored '${stored.name}': ${stored.dtype} [${stored.shape.join(', ')}], ${formatBytes(stored.byteLength)} in ${plural(stored.partitions, 'partition')}${where}`;
}

export function jobsTable(jobs: readonly JobStatus[], now = Date.now()): string {
  if (jobs.length === 0) return 'jobs: none running';
  // Running jobs first, then the queue in its order (the coordinator lists them by arrival).
  const ordered = [...jobs.filter((j) => j.state === 'running'), ...jobs.filter((j) => j.state === 'queued')];
  return table(
    ['JOB', 'KIND', 'ARRAY', 'STATE', 'PROGRESS', 'SUBMITTED'],
    ordered.map((j) => [
      j.jobId,
      j.kind,
      escapeForTerminal(j.array),
      j.state,
      `${j.totalBlocks === 0 ? 100 : Math.floor((j.doneBlocks / j.totalBlocks) * 100)}%`,
      `${((now - j.startedAt) / 1000).toFixed(1)} s ago`,
    ]),
  );
}

/** The JSON shape of an array in `ls`, `status` and `put` output. */
export function arrayJson(a: ArrayRef): Record<string, unknown> {
  return {
    name: a.name,
    id: a.id,
    dtype: a.dtype,
    shape: a.shape,
    bytes: a.byteLength,
    partitions: a.partitions,
    state: a.state,
    storage: a.file === undefined ? 'memory' : 'file',
    ...(a.file === undefined ? {} : { file: a.file.path }),
    ...(a.state === 'lost' ? { lostPartitions: a.lostPartitions } : {}),
    ...(a.pending === undefined ? {} : { writer: a.pending.writer, ...(a.pending.clientId === undefined ? {} : { clientId: a.pending.clientId }) }),
  };
}

/** `ready`, `pending: upload by client-…`, or `lost (partitions 1, 3)`: which partitions are gone for good (the array can only be deleted). */
function stateOf(a: ArrayRef): string {
  if (a.pending !== undefined) return a.pending.writer === 'upload' ? `pending: upload by ${a.pending.clientId ?? 'unknown client'}` : 'pending: map output';
  return a.state === 'lost' ? `lost (partition${a.lostPartitions.length === 1 ? '' : 's'} ${a.lostPartitions.join(', ')})` : a.state;
}
