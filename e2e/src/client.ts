#!/usr/bin/env node
/**
 * The e2e client: what a user's program does, run by a backend where its clients live (inside
 * the client namespace, or next to the containers). Each subcommand prints ONE JSON object on
 * stdout and exits 0; on failure it says why on stderr and exits 1.
 *
 *   client.js scenario --servers URL --name NAME   put, reduce, map, get; every result checked locally
 *   client.js open     --servers URL --name NAME   a second client opens NAME and checks its sum
 *   client.js nodes    --servers URL               the cluster's nodes() list
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { holdersOf } from '@sharc/protocol';
import { connect, type ArrayRef, type Cluster, type NodeInfo } from '@sharc/sdk';
import { COLS, MAP_SCALE, ROWS, SUMMARY_COLS, localColumnSums, localReductions, localRowSummary, scenarioData } from './dataset.js';
import type { ColumnSums } from './kernels/table-kernels.js';

/** The kernel source, bundled by the SDK (from dist/src/client.js back to src/kernels). */
const KERNELS = fileURLToPath(new URL('../../src/kernels/table-kernels.ts', import.meta.url));
/** No single step of the scenario should come near this on a healthy cluster; a hung one fails instead of waiting. */
const JOB_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** Agents report what they hold in heartbeats, once a second: a few beats is plenty. */
const HEARTBEAT_WAIT_MS = 5_000;
const BUILTINS = ['sum', 'min', 'max', 'sumsq'] as const;

interface Check {
  ok: boolean;
  got?: unknown;
  expected?: unknown;
  detail?: string;
}

/** Thrown for a wrong result: the JSON is still printed, so the test shows every check. */
class ChecksFailed extends Error {
  constructor(readonly report: Record<string, unknown>) {
    super('some checks failed');
  }
}

async function scenario(cluster: Cluster, name: string): Promise<Record<string, unknown>> {
  const data = scenarioData();
  const expected = localReductions(data);
  const checks: Record<string, Check> = {};
  const job = { timeoutMs: JOB_TIMEOUT_MS };

  const array = await cluster.put(data, { shape: [ROWS, COLS], name, ...job });
  checks.shape = equalCheck(array.shape, [ROWS, COLS]);

  for (const op of BUILTINS) checks[op] = equalCheck(await cluster.reduce(array, op, job), expected[op]);

  const columns = await cluster.reduce<ColumnSums>(array, { module: KERNELS, partial: 'columnSums', combine: 'mergeColumnSums' }, job);
  checks.columnSums = equalCheck(columns, localColumnSums(data));

  const summary = await cluster.map(
    array,
    { module: KERNELS, kernel: 'rowSummary', params: { scale: MAP_SCALE } },
    { cols: SUMMARY_COLS, name: `${name}-summary`, ...job },
  );
  const fetched = await summary.toArray(job);
  checks.map = arrayCheck(fetched, localRowSummary(data));

  const partitionsPerAgent = countByAgent(array);
  const { nodes, check: holding } = await awaitAgentsHolding(cluster, [array, summary]);
  checks.agentsHold = holding;
  const alive = nodes.filter((n) => n.state === 'alive').map((n) => n.id);
  const empty = alive.filter((id) => (partitionsPerAgent[id] ?? 0) === 0);
  checks.spread = {
    ok: alive.length > 0 && empty.length === 0,
    got: partitionsPerAgent,
    ...(empty.length === 0 ? {} : { detail: `agents holding no partition of ${name}: ${empty.join(', ')}` }),
  };

  const ok = Object.values(checks).every((c) => c.ok);
  const report = {
    ok,
    array: { name: array.name, shape: array.shape, dtype: array.dtype, partitions: array.partitions },
    checks,
    partitionsPerAgent,
    mapPartitionsPerAgent: countByAgent(summary),
    nodes: nodes.map(describeNode),
  };
  if (!ok) throw new ChecksFailed(report);
  return report;
}

/**
 * What each agent itself reports (in its heartbeats, so up to a second late) must match where
 * the coordinator placed the partitions and their copies: the bytes really sit on those hosts.
 */
async function awaitAgentsHolding(cluster: Cluster, arrays: readonly ArrayRef[]): Promise<{ nodes: NodeInfo[]; check: Check }> {
  const expected: Record<string, { partitions: number; bytes: number }> = {};
  // Every copy counts: an upload's replicas sit on their agents as much as the copy that serves.
  for (const p of arrays.flatMap((a) => a.placement)) {
    for (const holder of holdersOf(p)) {
      const agent = (expected[holder] ??= { partitions: 0, bytes: 0 });
      agent.partitions += 1;
      agent.bytes += p.byteLength;
    }
  }
  const holds = (n: NodeInfo) => n.partitions === (expected[n.id]?.partitions ?? 0) && n.usedBytes >= (expected[n.id]?.bytes ?? 0);
  const deadline = Date.now() + HEARTBEAT_WAIT_MS;
  let nodes = await cluster.nodes();
  while (!nodes.every(holds) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    nodes = await cluster.nodes();
  }
  const got = Object.fromEntries(nodes.map((n) => [n.id, { partitions: n.partitions, usedBytes: n.usedBytes }]));
  return { nodes, check: { ok: nodes.length > 0 && nodes.every(holds), got, expected } };
}

async function open(cluster: Cluster, name: string): Promise<Record<string, unknown>> {
  const array = await cluster.open(name);
  const sum = await cluster.reduce(array, 'sum', { timeoutMs: JOB_TIMEOUT_MS });
  const expected = localReductions(scenarioData()).sum;
  const shapeOk = array.shape[0] === ROWS && array.shape[1] === COLS;
  const report = { ok: sum === expected && shapeOk, sum, expected, shape: array.shape, partitionsPerAgent: countByAgent(array) };
  if (!report.ok) throw new ChecksFailed(report);
  return report;
}

async function nodes(cluster: Cluster): Promise<Record<string, unknown>> {
  return { ok: true, nodes: (await cluster.nodes()).map(describeNode) };
}

/** A node as plain JSON (every field nodes() gives). */
function describeNode(n: NodeInfo): NodeInfo {
  return { ...n };
}

function countByAgent(array: ArrayRef): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of array.placement) counts[p.agentId] = (counts[p.agentId] ?? 0) + 1;
  return counts;
}

function equalCheck(got: unknown, expected: unknown): Check {
  return { ok: JSON.stringify(got) === JSON.stringify(expected), got, expected };
}

function arrayCheck(got: ArrayLike<number>, expected: Float64Array): Check {
  if (!(got instanceof Float64Array)) return { ok: false, detail: `expected a Float64Array, got ${Object.prototype.toString.call(got)}` };
  if (got.length !== expected.length) return { ok: false, detail: `length ${got.length}, expected ${expected.length}` };
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], expected[i])) {
      return { ok: false, detail: `element ${i} (row ${Math.floor(i / SUMMARY_COLS)}) is ${got[i]}, expected ${expected[i]}` };
    }
  }
  return { ok: true, detail: `${got.length} elements equal` };
}

async function main(): Promise<Record<string, unknown>> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { servers: { type: 'string' }, name: { type: 'string' } },
  });
  const [command] = positionals;
  const servers = values.servers;
  if (servers === undefined) throw new Error('--servers nats://host:port is required');
  const needName = () => {
    if (values.name === undefined) throw new Error(`${command} needs --name NAME`);
    return values.name;
  };
  let run: (cluster: Cluster) => Promise<Record<string, unknown>>;
  switch (command) {
    case 'scenario':
      run = (cluster) => scenario(cluster, needName());
      break;
    case 'open':
      run = (cluster) => open(cluster, needName());
      break;
    case 'nodes':
      run = nodes;
      break;
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}: use scenario, open or nodes`);
  }
  const cluster = await connect({ servers, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  try {
    return await run(cluster);
  } finally {
    await cluster.close();
  }
}

/** Writes `text` and exits once it is flushed (stdout is a pipe here, written asynchronously). */
function finish(code: number, stdout: string, stderr = ''): void {
  if (stderr !== '') process.stderr.write(stderr);
  process.stdout.write(stdout, () => process.exit(code));
}

main().then(
  (report) => finish(0, `${JSON.stringify(report)}\n`),
  (error: unknown) => {
    if (error instanceof ChecksFailed) {
      finish(1, `${JSON.stringify(error.report)}\n`, `checks failed: ${JSON.stringify(error.report.checks ?? error.report, null, 1)}\n`);
    } else {
      finish(1, '', `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
  },
);
