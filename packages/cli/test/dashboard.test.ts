/**
 * The dashboard's server side, from a real coordinator process (`sharc coordinator
 * --http-port 0 --http-token …`) with real agents: /api/state says what was put and where its
 * partitions are, /api/events streams a snapshot and then a finished job as it happens, the
 * page and its assets are served self-contained, a wrong path is a 404 naming the right ones,
 * and nothing is served without the token (a browser's ?token= turns into a cookie that its
 * live stream then carries).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PLACEMENT_MAP_MAX_PARTITIONS, type DashboardArray, type DashboardSnapshot } from '@sharc/coordinator';
import { connect, type Cluster } from '@sharc/sdk';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';

const TOKEN = 'dashboard-token-1';
const KERNELS = fileURLToPath(new URL('../../test/fixtures/kernels.ts', import.meta.url));
const STREAM_TIMEOUT_MS = 30_000;

interface StreamMessage {
  event: string;
  data: string;
}

/** Reads Server-Sent Events from `url` until `done` says so; the connection is closed after. */
async function readStream(url: string, headers: Record<string, string>, done: (message: StreamMessage) => boolean): Promise<StreamMessage[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no end of the stream within ${STREAM_TIMEOUT_MS} ms`)), STREAM_TIMEOUT_MS);
  const messages: StreamMessage[] = [];
  try {
    const response = await fetch(url, { headers, signal: controller.signal });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body!) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) !== -1) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === undefined || data === undefined) continue;
        messages.push({ event, data });
        if (done({ event, data })) return messages;
      }
    }
    throw new Error(`the stream ended after ${messages.length} messages`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

describe('dashboard routes of a coordinator process', () => {
  let processes: ProcessCluster;
  let client: Cluster;
  let base: string;
  const bearer = { authorization: `Bearer ${TOKEN}` };

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '64MiB', coordinatorArgs: ['--http-port', '0', '--http-token', TOKEN] });
    base = /sharc coordinator http (http:\/\/\S+)/.exec(processes.coordinator.tail)![1]!;
    client = await connect({ servers: processes.url });
  });
  after(async () => {
    await client?.close();
    await processes?.stop();
  });

  it('/api/state reflects an array put: shape, dtype, size, copies, and which agent serves each partition', async () => {
    const array = await client.put(new Float64Array(12 * 3).fill(1), { shape: [12, 3], partitions: 6, copies: 2, name: 'state <i>me</i>' });
    const response = await fetch(`${base}/api/state`, { headers: bearer });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const state = (await response.json()) as DashboardSnapshot;
    assert.deepEqual(state.agents.map((agent) => [agent.id, agent.state]), [['agent-1', 'alive'], ['agent-2', 'alive']]);
    const shown = state.arrays.find((candidate) => candidate.name === 'state <i>me</i>') as DashboardArray;
    assert.ok(shown !== undefined, JSON.stringify(state.arrays));
    assert.deepEqual(
      { dtype: shown.dtype, shape: shown.shape, partitions: shown.partitions, bytes: shown.bytes, copies: shown.copies, lost: shown.lost },
      { dtype: 'float64', shape: [12, 3], partitions: 6, bytes: 12 * 3 * 8, copies: { min: 2, max: 2 }, lost: 0 },
    );
    // The map names, per partition, the agent the client's placement says serves it.
    assert.deepEqual(
      shown.placement!.map((index) => shown.shares[index]!.agent),
      array.placement.map((partition) => partition.agentId),
    );
    // Two agents, two copies of each partition: each holds all 6, and serves its share.
    assert.deepEqual(shown.shares.map((share) => share.copies), [6, 6]);
    assert.equal(shown.shares.reduce((sum, share) => sum + share.serving, 0), 6);
    for (const share of shown.shares) assert.equal(share.serving, array.placement.filter((partition) => partition.agentId === share.agent).length);
    await array.delete();
  });

  it('an array of more partitions than the map is drawn for carries per-agent shares, not a partition list', async () => {
    const partitions = PLACEMENT_MAP_MAX_PARTITIONS + 1;
    const array = await client.put(new Float64Array(partitions), { shape: [partitions], partitions, copies: 1, name: 'many' });
    const response = await fetch(`${base}/api/state`, { headers: bearer });
    const shown = ((await response.json()) as DashboardSnapshot).arrays.find((candidate) => candidate.name === 'many')!;
    assert.equal(shown.partitions, partitions);
    assert.equal(shown.placement, undefined);
    assert.deepEqual(
      Object.fromEntries(shown.shares.map((share) => [share.agent, share.serving])),
      Object.fromEntries(['agent-1', 'agent-2'].map((agent) => [agent, array.placement.filter((partition) => partition.agentId === agent).length])),
    );
    await array.delete();
  });

  it('/api/events sends a snapshot, then a job.finished event as the job ends', async () => {
    const array = await client.put(new Float64Array(64).fill(2), { shape: [64], partitions: 4, name: 'streamed' });
    let mapped: Promise<unknown> | undefined;
    const messages = await readStream(`${base}/api/events`, bearer, (message) => {
      if (message.event === 'snapshot') {
        // Listening: now start the job.
        mapped = client.map(array, { module: KERNELS, kernel: 'addOne' }, { name: 'streamed-out' });
        return false;
      }
      if (message.event !== 'cluster') return false;
      const event = JSON.parse(message.data) as { kind: string; array?: string };
      return event.kind === 'job.finished' && event.array === 'streamed';
    });
    await mapped;
    assert.equal(messages[0]!.event, 'snapshot');
    const snapshot = JSON.parse(messages[0]!.data) as DashboardSnapshot;
    assert.ok(snapshot.arrays.some((shown) => shown.name === 'streamed'));
    const finished = JSON.parse(messages.at(-1)!.data) as { kind: string; jobKind: string; kernel: string; outcome: string; partitions: number; durationMs: number };
    assert.deepEqual({ kind: finished.kind, jobKind: finished.jobKind, kernel: finished.kernel, outcome: finished.outcome, partitions: finished.partitions }, {
      kind: 'job.finished',
      jobKind: 'map',
      kernel: 'custom',
      outcome: 'ok',
      partitions: 4,
    });
    assert.ok(finished.durationMs >= 0);
  });

  it('serves the page and its assets, self-contained, and a 404 naming the paths for anything else', async () => {
    const page = await fetch(`${base}/`, { headers: bearer });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    // Only this server's own files: a CDN or an inline script would be refused by the browser.
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const html = await page.text();
    assert.match(html, /<script src="dashboard\.js" defer><\/script>/);
    assert.doesNotMatch(html, /https?:\/\//, 'nothing loaded from elsewhere');
    const script = await fetch(`${base}/dashboard.js`, { headers: bearer });
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(await script.text(), /EventSource/);
    const style = await fetch(`${base}/dashboard.css`, { headers: bearer });
    assert.match(style.headers.get('content-type') ?? '', /^text\/css/);

    const missing = await fetch(`${base}/api/nope`, { headers: bearer });
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /no page \/api\/nope on this coordinator: try .*\/api\/state.*\/api\/events/);
  });

  it('without the token nothing is served; ?token= once gives a cookie that the live stream carries', async () => {
    for (const path of ['/', '/api/state', '/api/events', '/dashboard.js']) {
      const refused = await fetch(`${base}${path}`);
      assert.equal(refused.status, 401, path);
    }
    assert.equal((await fetch(`${base}/api/state`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    const opened = await fetch(`${base}/?token=${TOKEN}`);
    assert.equal(opened.status, 200);
    const cookie = /^([^;]+)/.exec(opened.headers.get('set-cookie') ?? '')?.[1];
    assert.ok(cookie !== undefined, 'a cookie is set');
    const messages = await readStream(`${base}/api/events`, { cookie }, (message) => message.event === 'snapshot');
    assert.equal((JSON.parse(messages[0]!.data) as DashboardSnapshot).cluster, 'default');
  });
});
