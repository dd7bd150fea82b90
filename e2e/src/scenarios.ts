/**
 * The scenarios every multi-host backend must pass. Each runs the e2e client (client.ts) where
 * the backend's clients live and asserts on what a user would check: results equal to a local
 * computation, an array spread over every agent host, a named array visible to another client,
 * and a killed agent reported dead while the others stay alive.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClusterBackend } from './backend.js';

/** How long a killed agent may take to show up dead in nodes() (the coordinator's deadline is 3 s). */
const DEATH_DETECTION_LIMIT_MS = 15_000;
const POLL_PAUSE_MS = 200;
const ARRAY_NAME = 'e2e-table';

interface NodeState {
  id: string;
  state: string;
  partitions: number;
  usedBytes: number;
}

interface ScenarioReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
  partitionsPerAgent: Record<string, number>;
  mapPartitionsPerAgent: Record<string, number>;
  nodes: NodeState[];
}

/** Registers the shared scenarios, run in order on one cluster made by `start` and stopped after them. */
export function describeScenarios(backendName: string, start: () => Promise<ClusterBackend>): void {
  describe(`sharc on separate hosts (${backendName})`, () => {
    let started: ClusterBackend | undefined;
    const backend = (): ClusterBackend => {
      if (started === undefined) throw new Error('the cluster did not start (see the before hook error)');
      return started;
    };

    before(async () => {
      started = await start();
    });
    after(async () => {
      await started?.stop();
    });

    it('puts a 2-D array over every agent host, then reduce, map and get match a local computation', async (t) => {
      const { agentNames, servers, name } = backend();
      t.diagnostic(`backend ${name}: agents ${agentNames.join(', ')} via ${servers}`);
      const report = (await backend().runClient(['scenario', '--servers', servers, '--name', ARRAY_NAME])) as ScenarioReport;
      for (const [check, result] of Object.entries(report.checks)) {
        assert.ok(result.ok, `check ${check} failed: ${JSON.stringify(result)}`);
      }
      assert.deepEqual(Object.keys(report.checks).sort(), ['agentsHold', 'columnSums', 'map', 'max', 'min', 'shape', 'spread', 'sum', 'sumsq']);
      for (const agent of agentNames) {
        assert.ok((report.partitionsPerAgent[agent] ?? 0) >= 1, `${agent} holds no partition: ${JSON.stringify(report.partitionsPerAgent)}`);
        assert.ok((report.mapPartitionsPerAgent[agent] ?? 0) >= 1, `${agent} holds no partition of the map output: ${JSON.stringify(report.mapPartitionsPerAgent)}`);
        const node = report.nodes.find((n) => n.id === agent);
        assert.equal(node?.state, 'alive', `${agent} in nodes(): ${JSON.stringify(node)}`);
      }
      assert.deepEqual(Object.keys(report.partitionsPerAgent).sort(), [...agentNames].sort(), 'partitions only on the agents of this cluster');
      t.diagnostic(`partitions per agent: ${JSON.stringify(report.partitionsPerAgent)}`);
    });

    it('opens the named array from a second client process and gets the same sum', async () => {
      const { servers } = backend();
      const report = (await backend().runClient(['open', '--servers', servers, '--name', ARRAY_NAME])) as {
        ok: boolean;
        sum: number;
        expected: number;
      };
      assert.equal(report.sum, report.expected);
      assert.ok(report.ok);
    });

    it('reports a killed agent dead while the other agents stay alive', async (t) => {
      const { servers, agentNames } = backend();
      const victim = agentNames[0];
      assert.ok(victim !== undefined && agentNames.length >= 2, `need two agents or more, have ${agentNames.join(', ')}`);
      const nodes = async () => ((await backend().runClient(['nodes', '--servers', servers])) as { nodes: NodeState[] }).nodes;
      assert.ok((await nodes()).every((n) => n.state === 'alive'), 'every agent alive before the kill');

      await backend().killAgent(victim);
      const killedAt = Date.now();
      let seen: NodeState[] = [];
      let askedAt = killedAt;
      while (Date.now() - killedAt < DEATH_DETECTION_LIMIT_MS) {
        askedAt = Date.now();
        seen = await nodes();
        if (seen.find((n) => n.id === victim)?.state === 'dead') break;
        await new Promise((resolve) => setTimeout(resolve, POLL_PAUSE_MS));
      }
      const answeredAt = Date.now();
      assert.equal(seen.find((n) => n.id === victim)?.state, 'dead', `${victim} not reported dead within ${DEATH_DETECTION_LIMIT_MS} ms: ${JSON.stringify(seen)}`);
      for (const other of agentNames.filter((a) => a !== victim)) {
        assert.equal(seen.find((n) => n.id === other)?.state, 'alive', `${other} after ${victim} died: ${JSON.stringify(seen)}`);
      }
      // The nodes() call that saw it dead started at askedAt and returned at answeredAt.
      t.diagnostic(`${victim} reported dead ${askedAt - killedAt}–${answeredAt - killedAt} ms after SIGKILL`);
    });
  });
}
