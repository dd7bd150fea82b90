/**
 * Prometheus metrics of a running cluster (real processes: nats-server, a coordinator, three
 * agents, each serving /metrics on a port of its own): what Prometheus would scrape, parsed
 * from the text format, moves with the work done. Jobs are counted by kind and outcome with
 * their durations, agents count tasks, blocks and data-plane bytes, the gauges agree with
 * nodes(), and a SIGKILLed agent shows up dead with its recoveries counted.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, KernelError, type Cluster, type NodeInfo } from '../src/index.js';
import { KERNELS } from './scenarios.js';

/** The agents' HTTP ports listen on every address (as in a pod): they need this token. */
const TOKEN = 'metrics-test-token';
const POLL_MS = 50;
const GRAFANA_DASHBOARD = new URL('../../../../infra/grafana/sharc.json', import.meta.url);
/** Polls end after this long: heartbeats (every second) and a death (--dead-after-ms 1500) are well within it. */
const POLL_LIMIT_MS = 30_000;

/** One sample of the text format: `name{label="value",…} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A small parser of the Prometheus text format (what prom-client writes): samples only, comments skipped. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a sample line of the text format: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!.replace(/\\(.)/g, '$1');
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample of `name` whose labels include `labels` (0 when there is none, as a counter not yet bumped). */
function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

async function scrape(url: string, token?: string): Promise<Sample[]> {
  const response = await fetch(`${url}/metrics`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200, await response.clone().text());
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

/** Runs `check` until it holds (it throws while not), for at most POLL_LIMIT_MS; the last failure otherwise. */
async function until<T>(check: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + POLL_LIMIT_MS;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Scrapes until `check` holds (it throws while not), for at most POLL_LIMIT_MS; the last failure otherwise. */
function scrapeUntil(url: string, check: (samples: Sample[]) => void, token?: string): Promise<Sample[]> {
  return until(async () => {
    const samples = await scrape(url, token);
    check(samples);
    return samples;
  });
}

describe('Prometheus metrics of a running cluster', () => {
  let processes: ProcessCluster;
  let coordinatorUrl: string;
  let cluster: Cluster;
  let direct: Cluster;

  before(async () => {
    processes = await startProcessCluster({
      ...(process.env.METRICS_TEST_LOGS === undefined ? {} : { logDir: process.env.METRICS_TEST_LOGS, env: { SHARC_LOG_LEVEL: 'info' } }),
      agents: 3,
      threads: 1,
      memory: '128MiB',
      coordinatorArgs: ['--http-port', '0', '--dead-after-ms', '1500'],
      agentArgs: ['--http-port', '0', '--http-host', '0.0.0.0', '--http-token', TOKEN],
    });
    const printed = /^sharc coordinator http (\S+)$/m.exec(processes.coordinator.tail);
    assert.ok(printed, `the coordinator printed no HTTP URL: ${processes.coordinator.tail}`);
    coordinatorUrl = printed[1]!;
    // Jobs through the coordinator (a direct reduce never reaches it) …
    cluster = await connect({ servers: processes.url, directReduce: false });
    // … and straight to the agents.
    direct = await connect({ servers: processes.url });
  });
  after(async () => {
    await direct?.close();
    await cluster?.close();
    await processes?.stop();
  });

  const agentUrl = (node: NodeInfo) => {
    assert.ok(node.metricsUrl !== undefined, `agent ${node.id} lists no metrics URL`);
    return node.metricsUrl.replace(/\/metrics$/, '');
  };

  it('each agent tells the coordinator its metrics URL, reachable at its advertised host, and wants its token', async () => {
    const nodes = await cluster.nodes();
    assert.equal(nodes.length, 3);
    for (const node of nodes) {
      // Listening on 0.0.0.0, it is reached at the host it advertises (127.0.0.1 here).
      assert.match(node.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      assert.equal((await fetch(node.metricsUrl!)).status, 401);
      assert.equal((await fetch(node.metricsUrl!, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      const health = await fetch(`${agentUrl(node)}/healthz`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(health.status, 200);
      const samples = await scrape(agentUrl(node), TOKEN);
      assert.equal(valueOf(samples, 'sharc_agent_memory_limit_bytes'), 128 * 1024 * 1024);
      assert.equal(valueOf(samples, 'sharc_agent_threads'), 1);
      // prom-client's process metrics, under their standard names.
      assert.ok(valueOf(samples, 'process_resident_memory_bytes') > 0);
    }
    // The coordinator's own, on loopback: no token.
    const coordinator = await scrape(coordinatorUrl);
    assert.equal(valueOf(coordinator, 'sharc_nodes', { state: 'alive' }), 3);
    assert.equal(valueOf(coordinator, 'sharc_node_memory_limit_bytes', { agent: 'agent-1' }), 128 * 1024 * 1024);
    assert.ok(valueOf(coordinator, 'nodejs_heap_size_used_bytes') > 0);
  });

  it('counts jobs by kind, kernel and outcome, with their durations, as they end', async () => {
    const before = await scrape(coordinatorUrl);
    const agents = await cluster.nodes();
    const failedTasks = async () => {
      let failed = 0;
      for (const node of agents) failed += valueOf(await scrape(agentUrl(node), TOKEN), 'sharc_agent_tasks_total', { outcome: 'failed' });
      return failed;
    };
    const failedBefore = await failedTasks();
    const reduces = 3;
    const data = Float64Array.from({ length: 40_000 }, (_, i) => i % 100);
    const a = await cluster.put(data, { name: 'counted', partitions: 4 });
    for (let i = 0; i < reduces; i++) assert.equal(await cluster.reduce(a, 'sum'), 1_980_000);
    const doubled = await a.scale(2, { name: 'counted-doubled' });
    await assert.rejects(cluster.reduce(a, { module: KERNELS, partial: 'throwsOnSecondHalf', combine: 'add' }), KernelError);

    const grew = (samples: Sample[], name: string, labels: Record<string, string>) => valueOf(samples, name, labels) - valueOf(before, name, labels);
    const after = await scrapeUntil(coordinatorUrl, (samples) => {
      assert.equal(grew(samples, 'sharc_jobs_total', { kind: 'reduce', kernel: 'sum', outcome: 'ok' }), reduces);
      assert.equal(grew(samples, 'sharc_jobs_total', { kind: 'map', kernel: 'scale', outcome: 'ok' }), 1);
      assert.equal(grew(samples, 'sharc_jobs_total', { kind: 'reduce', kernel: 'custom', outcome: 'failed' }), 1);
    });
    assert.equal(grew(after, 'sharc_jobs_started_total', { kind: 'reduce' }), reduces + 1);
    assert.equal(grew(after, 'sharc_jobs_started_total', { kind: 'map' }), 1);
    // The histogram: every job that ran is in its count, failed ones too, and in its +Inf bucket.
    assert.equal(grew(after, 'sharc_job_duration_seconds_count', { kind: 'reduce' }), reduces + 1);
    assert.equal(grew(after, 'sharc_job_duration_seconds_count', { kind: 'map' }), 1);
    assert.equal(grew(after, 'sharc_job_duration_seconds_bucket', { kind: 'map', le: '+Inf' }), 1);
    assert.ok(grew(after, 'sharc_job_duration_seconds_sum', { kind: 'map' }) > 0);
    assert.equal(valueOf(after, 'sharc_jobs_running'), 0);
    assert.equal(valueOf(after, 'sharc_jobs_queued'), 0);
    assert.equal(valueOf(after, 'sharc_arrays'), 2);
    // The failed job's partitions on the second half failed on their agents.
    assert.ok((await failedTasks()) > failedBefore);
    await doubled.delete();
    await a.delete();
  });

  it("agents count tasks, blocks and data-plane bytes; their gauges and the coordinator's agree with nodes()", async () => {
    const nodes = await cluster.nodes();
    const scrapeAll = () => Promise.all(nodes.map((node) => scrape(agentUrl(node), TOKEN)));
    const sum = (all: Sample[][], name: string, labels: Record<string, string> = {}) => all.reduce((total, samples) => total + valueOf(samples, name, labels), 0);
    const before = await scrapeAll();

    const data = Float64Array.from({ length: 80_000 }, (_, i) => i % 7);
    const a = await direct.put(data, { name: 'moved', partitions: 4 });
    // Two copies of each partition: the client wrote one, and an agent fetched the other from it.
    const afterPut = await scrapeAll();
    assert.ok(sum(afterPut, 'sharc_agent_data_received_bytes_total') - sum(before, 'sharc_agent_data_received_bytes_total') >= 2 * data.byteLength);

    const read = await a.toArray();
    assert.equal(read.length, data.length);
    const afterRead = await scrapeAll();
    assert.ok(sum(afterRead, 'sharc_agent_data_sent_bytes_total') - sum(afterPut, 'sharc_agent_data_sent_bytes_total') >= data.byteLength);

    // A direct reduce (no coordinator) and a map through the coordinator: tasks and blocks on the agents.
    assert.equal(await direct.reduce(a, 'sum'), data.reduce((s, v) => s + v, 0));
    const doubled = await a.scale(2, { name: 'moved-doubled' });
    const afterWork = await scrapeAll();
    assert.ok(sum(afterWork, 'sharc_agent_direct_batches_total') > sum(before, 'sharc_agent_direct_batches_total'));
    assert.equal(sum(afterWork, 'sharc_agent_direct_partitions_total') - sum(before, 'sharc_agent_direct_partitions_total'), 4);
    // 4 partitions reduced and 4 mapped.
    assert.ok(sum(afterWork, 'sharc_agent_tasks_total', { outcome: 'ok' }) - sum(before, 'sharc_agent_tasks_total', { outcome: 'ok' }) >= 8);
    assert.ok(sum(afterWork, 'sharc_agent_blocks_total') - sum(before, 'sharc_agent_blocks_total') >= 8);
    assert.ok(sum(afterWork, 'sharc_agent_thread_busy_seconds_total', { thread: '0' }) > 0);

    // Each agent's partitions and bytes as it says them, as the coordinator says them, and as
    // nodes() lists them (its bytes from the agent's last heartbeat: polled until they meet).
    const agree = async () => {
      const listed = await cluster.nodes();
      const coordinator = await scrape(coordinatorUrl);
      for (const node of listed) {
        const samples = await scrape(agentUrl(node), TOKEN);
        assert.equal(valueOf(samples, 'sharc_agent_partitions'), node.partitions, node.id);
        assert.equal(valueOf(samples, 'sharc_agent_used_bytes'), node.usedBytes, node.id);
        assert.equal(valueOf(coordinator, 'sharc_node_partitions', { agent: node.id }), node.partitions, node.id);
        assert.equal(valueOf(coordinator, 'sharc_node_used_bytes', { agent: node.id }), node.usedBytes, node.id);
        assert.equal(valueOf(coordinator, 'sharc_node_state', { agent: node.id, state: 'alive' }), 1);
        const age = valueOf(coordinator, 'sharc_node_heartbeat_age_seconds', { agent: node.id });
        assert.ok(age >= 0 && age < 1.5, `heartbeat age of ${node.id}: ${age} s`);
      }
      return listed;
    };
    const listed = await until(agree);
    // The upload's 4 partitions twice (two copies), the map output's 4 once.
    assert.equal(listed.reduce((total, node) => total + node.partitions, 0), 12);
    await doubled.delete();
  });

  it('a SIGKILLed agent is counted dead, its state gauge says so, and the copies remade for it are counted', async () => {
    await cluster.nodes();
    const held = (await cluster.nodes()).find((node) => node.id === 'agent-3')!.partitions;
    assert.ok(held > 0, 'agent-3 holds copies of moved');
    const before = await scrape(coordinatorUrl);
    await processes.agents.get('agent-3')!.kill();
    const recovered = (samples: Sample[]) =>
      valueOf(samples, 'sharc_copies_remade_total') -
      valueOf(before, 'sharc_copies_remade_total') +
      valueOf(samples, 'sharc_partitions_moved_total') -
      valueOf(before, 'sharc_partitions_moved_total');
    const after = await scrapeUntil(coordinatorUrl, (samples) => {
      assert.equal(valueOf(samples, 'sharc_node_state', { agent: 'agent-3', state: 'dead' }), 1);
      assert.equal(valueOf(samples, 'sharc_node_deaths_total') - valueOf(before, 'sharc_node_deaths_total'), 1);
      // Each partition it held had a copy on another agent: a copy is remade for each.
      assert.equal(valueOf(samples, 'sharc_copies_remade_total') - valueOf(before, 'sharc_copies_remade_total'), held);
    });
    assert.ok(recovered(after) >= held);
    assert.equal(valueOf(after, 'sharc_node_state', { agent: 'agent-3', state: 'alive' }), 0);
    assert.equal(valueOf(after, 'sharc_nodes', { state: 'dead' }), 1);
    assert.equal(valueOf(after, 'sharc_partitions_lost_total'), 0);
    assert.ok(valueOf(after, 'sharc_node_heartbeat_age_seconds', { agent: 'agent-3' }) >= 1.5);
    // Nothing was lost: the array reads back whole from the two agents left.
    const moved = await cluster.open('moved');
    assert.equal(await cluster.reduce(moved, 'count'), 80_000);
  });

  it('every series the Grafana dashboard plots is one the cluster exports, labelled with its cluster', async () => {
    const dashboard = JSON.parse(await readFile(GRAFANA_DASHBOARD, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const queried = new Set(dashboard.panels.flatMap((panel) => (panel.targets ?? []).flatMap((target) => target.expr.match(/\bsharc_[a-z_]+/g) ?? [])));
    assert.ok(queried.size >= 15, [...queried].join(' '));
    const alive = (await cluster.nodes()).filter((node) => node.state === 'alive');
    const exported = [await scrape(coordinatorUrl), ...(await Promise.all(alive.map((node) => scrape(agentUrl(node), TOKEN))))].flat();
    for (const name of queried) {
      const samples = exported.filter((sample) => sample.name === name);
      assert.ok(samples.length > 0, `the dashboard plots ${name}, which nothing exports`);
      for (const sample of samples) assert.equal(sample.labels.cluster, 'default', `${name} has no cluster label`);
    }
  });
});
