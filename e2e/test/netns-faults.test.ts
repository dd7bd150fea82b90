/**
 * Faults on separate hosts (network namespaces; needs root and `ip`, see e2e/README.md): an
 * agent SIGKILLed during a long map and during a reduce, an agent's host cut off the network
 * during a long reduce, and a chaos run of small jobs while agents are killed and restarted.
 * The client side runs in the client namespace (src/fault-client.ts); results are checked
 * there against local computations, and here against the block reports (who counted what, when).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { environmentValue } from '@sharc/protocol';
import { killAndRestartAgents } from '../src/chaos-monkey.js';
import type { ClientEvent, ClientSession } from '../src/client-session.js';
import type { BlockReport } from '../src/kernels/fault-kernels.js';
import { startNetnsCluster, type NetnsCluster } from '../src/netns-backend.js';

/** Generous bounds that cannot flake: the liveness window is 3 s. */
const DETECTION_LIMIT_MS = 15_000;
const CUT_MS = 10_000;
const SCENARIO_TIMEOUT_MS = 240_000;
const CHAOS_MIN_JOBS = 200;
const CHAOS_KILLS = 6;
const CHAOS_MONKEY_MS = 90_000;

interface Check {
  ok: boolean;
  detail?: string;
}
interface Placement {
  index: number;
  rowStart: number;
  agentId: string;
}
interface Sighting {
  askedAt: number;
  answeredAt: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function assertChecks(result: ClientEvent): void {
  const checks = result.checks as Record<string, Check>;
  for (const [name, check] of Object.entries(checks)) assert.ok(check.ok, `check ${name} failed: ${check.detail ?? ''}`);
}

/** `[a, b]` ms after `from`: when a nodes() call that saw something started and returned. */
const window = (seen: Sighting, from: number) => `${seen.askedAt - from}–${seen.answeredAt - from} ms`;

describe('sharc under faults on separate hosts (network namespaces)', () => {
  let started: NetnsCluster | undefined;
  const cluster = (): NetnsCluster => {
    if (started === undefined) throw new Error('the cluster did not start (see the before hook error)');
    return started;
  };
  const client = (args: string[], timeoutMs = SCENARIO_TIMEOUT_MS): ClientSession =>
    cluster().startFaultClient([args[0]!, '--servers', cluster().servers, ...args.slice(1)], timeoutMs);
  const untilAlive = async (agents: readonly string[], clean = false) => {
    await client(['alive', '--agents', agents.join(','), ...(clean ? ['--clean'] : [])], 60_000).result();
  };
  /** Whoever a test killed is started again (same name), so the next test has three agents. */
  const restoreAgents = async () => {
    for (const agent of cluster().agentNames) {
      await cluster().setAgentLink(agent, true);
      try {
        await cluster().restartAgent(agent);
      } catch (error) {
        if (!/still running/.test((error as Error).message)) throw error;
      }
    }
    await untilAlive(cluster().agentNames, true);
  };
  /** The agent each report's process was, by pid (agents are not restarted within a test). */
  const agentOfPid = () => new Map(cluster().agentNames.map((a) => [cluster().agentPid(a), a]));

  before(async () => {
    started = await startNetnsCluster({ agents: 3 });
  });
  after(async () => {
    await started?.stop();
  });

  for (const [kind, victimIndex] of [['map', 0], ['reduce', 1]] as const) {
    it(`SIGKILL of one of three agents during a long ${kind}: result right, arrays intact, the agent restarted`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const victim = cluster().agentNames[victimIndex]!;
      const session = client(['kill', '--job', kind, '--victim', victim]);
      try {
        const running = await session.next('running');
        const victimPid = cluster().agentPid(victim);
        const agents = agentOfPid();
        await cluster().killAgent(victim);
        const killedAt = Date.now();
        const result = await session.result();
        assertChecks(result);
        const doneAt = result.doneAt as number;
        if (kind === 'reduce') {
          const reports = result.reports as BlockReport[];
          const placement = result.placement as Placement[];
          const victimRows = new Set(placement.filter((p) => p.agentId === victim).map((p) => p.rowStart));
          const takenOver = reports.filter((r) => victimRows.has(r.rowStart) && r.pid !== victimPid);
          assert.ok(takenOver.length >= 1, `none of ${victim}'s partitions was counted elsewhere: ${JSON.stringify(reports)}`);
          for (const r of reports) {
            assert.ok(agents.has(r.pid), `block at row ${r.rowStart} counted by an unknown process ${r.pid}`);
            if (r.pid === victimPid) assert.ok(r.finishedAt <= killedAt, `block at row ${r.rowStart} counted from ${victim} after it was killed`);
          }
          t.diagnostic(`${takenOver.length} of ${victimRows.size} partitions of ${victim} counted by the agents that took them over`);
        }
        const deadSeen = result.deadSeen as Sighting;
        assert.ok(deadSeen.answeredAt - killedAt <= DETECTION_LIMIT_MS, `${victim} reported dead only ${deadSeen.answeredAt - killedAt} ms after the kill`);
        t.diagnostic(
          `${kind}: killed ${victim} ${killedAt - (result.startedAt as number)} ms into the job (${String(running.done)}/${String(running.total)} blocks done); ` +
            `reported dead ${window(deadSeen, killedAt)} after the kill; job done ${doneAt - killedAt} ms after the kill ` +
            `(${doneAt - (result.startedAt as number)} ms in all)`,
        );
      } finally {
        await session.kill();
        await restoreAgents();
      }
    });
  }

  for (const kind of ['map', 'reduce'] as const) {
    it(`SIGKILL of the coordinator during a long ${kind}, a new one started: the job completes, arrays intact`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const session = client(['coordinator', '--job', kind]);
      try {
        await session.next('running');
        const killedAt = Date.now();
        await cluster().restartCoordinator();
        const readyAt = Date.now();
        const result = await session.result();
        assertChecks(result);
        t.diagnostic(
          `${kind}: coordinator SIGKILLed ${killedAt - (result.startedAt as number)} ms into the job; the new one ready ${readyAt - killedAt} ms later ` +
            `(the old one's lease runs out first); job done ${(result.doneAt as number) - killedAt} ms after the kill`,
        );
      } finally {
        await session.kill();
      }
    });
  }

  // Shorter than the liveness window (3 s), a NATS outage is only latency: the job's answer is
  // right and no process restarts. A longer one may fail the job, but only with a retryable
  // error; nothing hangs, and the coordinator and agents carry on by themselves.
  for (const [kind, downMs] of [['reduce', 100], ['map', 1000], ['reduce', 5000]] as const) {
    const longer = downMs > 3000;
    it(`nats-server killed for ${downMs / 1000} s during a long ${kind}, then started again: ${longer ? 'the job answers or fails retryably' : 'the job answers right'}, the coordinator and agents carry on`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const session = client(['blip', '--job', kind, ...(longer ? ['--retry'] : [])]);
      try {
        await session.next('running');
        const coordinatorPid = cluster().coordinatorPid();
        const agentPids = cluster().agentNames.map((a) => cluster().agentPid(a));
        const killedAt = Date.now();
        await cluster().blipNats(downMs);
        const backAt = Date.now();
        const result = await session.result();
        assertChecks(result);
        if (!longer) assert.equal(result.failedWith, undefined, `the job failed across a ${downMs} ms outage: ${String(result.failedWith)}`);
        assert.equal(cluster().coordinatorPid(), coordinatorPid, 'the coordinator process was replaced');
        assert.deepEqual(cluster().agentNames.map((a) => cluster().agentPid(a)), agentPids, 'an agent process was replaced');
        t.diagnostic(
          `${kind}: nats-server down ${backAt - killedAt} ms (asked ${downMs}); job done ${(result.doneAt as number) - backAt} ms after it was back` +
            (result.failedWith === undefined ? '' : `; first try failed with ${String(result.failedWith)}, retried`),
        );
      } finally {
        await session.kill();
      }
      await untilAlive(cluster().agentNames, true);
    });
  }

  it('an agent host cut off the network for 10 s during a long reduce: counted once, stale results ignored, it rejoins with the right memory', { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
    const victim = cluster().agentNames[2]!;
    const session = client(['partition', '--victim', victim]);
    let healedAt: number | undefined;
    let healed = false;
    try {
      await session.next('running');
      const victimPid = cluster().agentPid(victim);
      const agents = agentOfPid();
      await cluster().setAgentLink(victim, false);
      const cutAt = Date.now();
      await sleep(CUT_MS);
      // Taken before the link comes up: a rejoin as `ip` returns still counts as after it.
      healedAt = Date.now();
      await cluster().setAgentLink(victim, true);
      healed = true;
      const result = await session.result();
      assertChecks(result);
      const reports = result.reports as BlockReport[];
      const before = result.placementBefore as Placement[];
      const afterPlacement = result.placementAfter as Placement[];
      const deadSeen = result.deadSeen as Sighting;
      const aliveSeen = result.aliveSeen as Sighting;
      const doneAt = result.doneAt as number;
      const startedAt = result.startedAt as number;
      assert.ok(deadSeen.answeredAt - cutAt <= DETECTION_LIMIT_MS, `${victim} reported dead only ${deadSeen.answeredAt - cutAt} ms after the cut`);
      assert.ok(aliveSeen.answeredAt >= healedAt, `${victim} seen alive again before its network came back`);

      // Each partition once (checked by the client); a block from the victim must have been
      // finished before the cut, and each of its partitions counted elsewhere by the agent
      // that serves it now (the one that took it over).
      let takenOver = 0;
      for (const r of reports) {
        const counter = agents.get(r.pid);
        assert.ok(counter !== undefined, `block at row ${r.rowStart} counted by an unknown process ${r.pid}`);
        const partition = before.find((p) => p.rowStart === r.rowStart);
        assert.ok(partition !== undefined, `block at row ${r.rowStart} starts no partition: ${JSON.stringify(before)}`);
        if (r.pid === victimPid) {
          assert.ok(r.finishedAt < cutAt, `block at row ${r.rowStart} counted from ${victim}'s stale attempt, finished ${r.finishedAt - cutAt} ms after the cut`);
        } else if (partition.agentId === victim) {
          takenOver += 1;
          assert.equal(counter, afterPlacement[partition.index]?.agentId, `partition ${partition.index} of ${victim} counted by ${counter}, not by the agent that took it over`);
        }
      }
      const victimPartitions = before.filter((p) => p.agentId === victim).length;
      assert.ok(takenOver >= 1, `none of ${victim}'s partitions was counted by another agent: ${JSON.stringify(reports)}`);
      t.diagnostic(`${takenOver} of ${victimPartitions} partitions of ${victim} counted by the agents that took them over; ${victim} came back ${doneAt > healedAt ? 'while the job still ran' : 'after the job'}`);
      t.diagnostic(`detection: ${victim} reported dead ${window(deadSeen, cutAt)} after the cut`);
      const baselineMs = result.baselineMs as number;
      t.diagnostic(
        `recovery: job done ${doneAt - cutAt} ms after the cut (cut ${cutAt - startedAt} ms into it); ${doneAt - startedAt} ms in all ` +
          `against ${baselineMs} ms without a fault: the cut cost ${doneAt - startedAt - baselineMs} ms`,
      );
      const memory = result.memory as { used: number; placed: number; usedBefore: number };
      assert.ok(memory.usedBefore > 0, `${victim} held nothing before the cut: ${JSON.stringify(memory)}`);
      t.diagnostic(
        `rejoin: ${victim} alive again ${window(aliveSeen, healedAt)} after its network came back; it held ${memory.usedBefore} bytes before the cut, ` +
          `${memory.used} after rejoining = ${memory.placed} the coordinator still places on it`,
      );
    } finally {
      await session.kill();
      if (!healed) await cluster().setAgentLink(victim, true);
      await restoreAgents();
    }
  });

  it(`chaos: ≥ ${CHAOS_MIN_JOBS} small jobs while agents are SIGKILLed and restarted one at a time and nats-server blinks: every result right, none lost, none doubled`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
    const seed = Number(environmentValue('SHARC_CHAOS_SEED') ?? Math.floor(Math.random() * 2 ** 31));
    t.diagnostic(`chaos seed ${seed} (SHARC_CHAOS_SEED=${seed} repeats the victims and pauses)`);
    const session = client(['chaos', '--min-jobs', String(CHAOS_MIN_JOBS), '--max-ms', '150000']);
    try {
      await session.next('started');
      const kills = await killAndRestartAgents(cluster(), {
        kills: CHAOS_KILLS,
        maxMs: CHAOS_MONKEY_MS,
        seed,
        downMs: [1000, 4500],
        natsBlipMs: [100, 1000],
        settleMs: 4000,
        untilAlive,
      });
      session.send('stop');
      const result = await session.result();
      const at = (ms: number) => new Date(ms).toISOString().slice(11, 23);
      t.diagnostic(`kills: ${kills.map((k) => `${k.victim} at ${at(k.killedAt)}, down ${k.restartedAt - k.killedAt} ms`).join(', ')}`);
      t.diagnostic(
        `jobs ${String(result.jobs)} (${JSON.stringify(result.done)}), puts ${String(result.puts)}, retries ${String(result.retries)} ${JSON.stringify(result.retriedErrors)}, wall ${String(result.wallMs)} ms`,
      );
      for (const sample of result.retrySamples as string[]) t.diagnostic(`retried: ${sample}`);
      assertChecks(result);
      assert.ok(kills.length >= 3, `only ${kills.length} kills happened`);
      assert.ok(kills.some((k) => k.victim === 'nats-server'), 'no NATS blip happened');
    } finally {
      await session.kill();
      await restoreAgents();
    }
  });
});
