/**
 * `sharc up` serves Prometheus metrics: the coordinator's at the printed dashboard URL's
 * /metrics, and each agent's on a port of its own, which `sharc status` lists.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, SHARC_BIN, waitForLine } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

const START_TIMEOUT_MS = 60_000;

async function metricsText(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return response.text();
}

describe('sharc up: metrics of the coordinator and of every agent', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-up-metrics-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints where the metrics are, and sharc status lists each agent\'s metrics URL', async () => {
    const port = await freePort();
    const dataDir = path.join(dir, 'cluster');
    const up = spawn(
      process.execPath,
      [SHARC_BIN, 'up', '--agents', '2', '--threads', '1', '--memory', '64MiB', '--port', String(port), '--http-port', '0', '--data-dir', dataDir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    up.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    try {
      await waitForLine(up, /jobs: none running/, START_TIMEOUT_MS, 'sharc up');
      const dashboard = /^dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ \(metrics: \/metrics\)$/m.exec(stdout);
      assert.ok(dashboard, stdout);
      // The status table sharc up prints has a METRICS column with each agent's URL.
      assert.match(stdout, /AGENT .* METRICS\n/);
      assert.match(stdout, /agent-1 .* http:\/\/127\.0\.0\.1:\d+\/metrics\n/);

      const coordinator = await metricsText(`${dashboard[1]}/metrics`);
      assert.match(coordinator, /^sharc_nodes\{state="alive",cluster="default"\} 2$/m);
      assert.match(coordinator, /^sharc_node_memory_limit_bytes\{agent="agent-2",cluster="default"\} 67108864$/m);

      const status = jsonOf<{ agents: Array<{ id: string; metricsUrl?: string }> }>(await runSharc(['status', '--json', '--servers', `nats://127.0.0.1:${port}`]));
      assert.deepEqual(status.agents.map((a) => a.id).sort(), ['agent-1', 'agent-2']);
      const urls = new Set<string>();
      for (const agent of status.agents) {
        assert.match(agent.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, agent.id);
        urls.add(agent.metricsUrl!);
        const text = await metricsText(agent.metricsUrl!);
        assert.match(text, new RegExp(`^sharc_agent_memory_limit_bytes\\{cluster="default",agent="${agent.id}"\\} 67108864$`, 'm'));
      }
      assert.equal(urls.size, 2, 'each agent on a port of its own');

      const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
      up.kill('SIGINT');
      assert.equal(await exited, 0);
    } finally {
      up.kill('SIGKILL');
      spawnSync('pkill', ['-f', dataDir]);
    }
  });

  it("refuses an agent's metrics port beyond loopback without a token, naming the fix, before it connects", async () => {
    // Nothing listens on this NATS port: the refusal comes first.
    const run = await runSharc(['agent', '--http-port', '0', '--http-host', '0.0.0.0', '--servers', `nats://127.0.0.1:${await freePort()}`]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /would listen on 0\.0\.0\.0, beyond this machine, with no token: give one \(--http-token, or SHARC_HTTP_TOKEN\)/);
  });
});
