/**
 * The coordinator's one client for agents: every request to an agent (control requests, tasks,
 * the greeting) has the same behaviour when the agent dies or does not answer. An agent
 * declared dead is not asked; a wait on an agent declared dead meanwhile ends at once; both fail
 * with one error type, AgentUnreachableError (a retryable ConnectionError) naming the agent and
 * the request. Requests an agent may get twice are sent again while nobody answers; others never.
 * Over the real in-process bus, with a real agent registry.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConnectionError, InProcessHub, InvalidArgumentError, MessageBus, subjectFor, type AgentInfo, type Logger, type Message, type Outgoing } from '@sharc/protocol';
import { AgentClient, AgentUnreachableError } from '../src/agents/agent-client.js';
import { AgentRegistry } from '../src/registry/agent-registry.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function agentInfo(id: string, pid: number): AgentInfo {
  return { id, host: 'h', pid, dataHost: '127.0.0.1', dataPort: 7000, threads: 1, memoryBytes: 1 << 20, usedBytes: 0, partitions: 0, workInFlight: 0 };
}

const task = { jobId: 'job-1', clientId: 'client-1', arrayId: 'arr-1', partitionIndex: 0, attempt: 0, kernel: { kind: 'builtin', op: 'sum' } } as const;

describe('AgentClient', () => {
  let hub: InProcessHub;
  let coordinatorBus: MessageBus;
  let agentBus: MessageBus;
  let agents: AgentRegistry;
  let client: AgentClient;
  /** What the agent received, by type. */
  let received: string[];

  /** The agent answers with `answer`, or never (undefined). */
  function serveAgent(answer: (message: Message) => Outgoing | undefined): () => void {
    const handler = (message: Message) => {
      received.push(message.type);
      const reply = answer(message);
      return reply ?? new Promise<Outgoing>(() => undefined);
    };
    const stopControl = agentBus.serve(subjectFor('default', { to: 'agent', agentId: 'agent-a', verb: 'control' }), handler);
    const stopTask = agentBus.serve(subjectFor('default', { to: 'agent', agentId: 'agent-a', verb: 'task' }), handler);
    return () => {
      stopControl();
      stopTask();
    };
  }

  /** A restarted agent registering from another process is how it is declared dead here. */
  const declareDead = () => agents.register(agentInfo('agent-a', 2));

  function assertUnreachable(request: string, why: RegExp) {
    return (error: Error) => {
      assert.ok(error instanceof AgentUnreachableError, `${error.name}: ${error.message}`);
      assert.ok(error instanceof ConnectionError && error.retryable);
      assert.deepEqual({ agentId: error.details.agentId, request: error.details.request }, { agentId: 'agent-a', request });
      assert.match(error.message, why);
      return true;
    };
  }

  beforeEach(() => {
    hub = new InProcessHub();
    coordinatorBus = new MessageBus(hub.connect(), 'coordinator', quiet);
    agentBus = new MessageBus(hub.connect(), 'agent-a', quiet);
    agents = new AgentRegistry(Infinity, quiet);
    agents.register(agentInfo('agent-a', 1));
    client = new AgentClient(coordinatorBus, 'default', agents);
    received = [];
  });
  afterEach(async () => {
    agents.close();
    await coordinatorBus.close();
    await agentBus.close();
  });

  it('a control request and a task the agent never answers both fail at once when it is declared dead, with the same error', { timeout: 5000 }, async () => {
    serveAgent(() => undefined);
    const sealing = client.control('agent-a', { type: 'partition.seal', arrayId: 'arr-1' });
    const running = client.runTask('agent-a', task, 60_000);
    assert.equal(client.busyWith('agent-a'), true);
    setTimeout(declareDead, 20);
    await assert.rejects(sealing, assertUnreachable('partition.seal', /agent agent-a died before it answered partition\.seal/));
    await assert.rejects(running, assertUnreachable('task.run', /agent agent-a died before it answered task\.run/));
    assert.equal(client.busyWith('agent-a'), false, 'nothing left on its way');
  });

  it('an agent declared dead is not asked at all', async () => {
    serveAgent(() => ({ type: 'ok' }));
    // Silent past its liveness window: declared dead.
    const silent = new AgentRegistry(50, quiet);
    silent.register(agentInfo('agent-a', 1));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(silent.isAlive('agent-a'), false);
    const onDead = new AgentClient(coordinatorBus, 'default', silent);
    await assert.rejects(onDead.control('agent-a', { type: 'partition.free', arrayId: 'arr-1' }), assertUnreachable('partition.free', /was declared dead/));
    await assert.rejects(onDead.runTask('agent-a', task, 1000), assertUnreachable('task.run', /was declared dead/));
    assert.deepEqual(received, [], 'no request went out');
    silent.close();
  });

  it('a request the agent may get twice is sent again while nobody listens; a task nobody listens to fails with the same error', { timeout: 5000 }, async () => {
    // Nobody listens yet (the agent is resubscribing after NATS was away).
    const started = client.control('agent-a', { type: 'partition.free', arrayId: 'arr-1' });
    setTimeout(() => serveAgent(() => ({ type: 'ok' })), 100);
    assert.equal((await started).type, 'ok');
    assert.deepEqual(received, ['partition.free']);

    // Nobody listens to tasks of this cluster.
    const client2 = new AgentClient(coordinatorBus, 'other', agents);
    await assert.rejects(client2.runTask('agent-a', task, 1000), assertUnreachable('task.run', /could not be reached before it answered task\.run/));
  });

  it("passes the agent's own error answer on as it said it", async () => {
    serveAgent(() => ({ type: 'error', error: { name: 'InvalidArgumentError', code: InvalidArgumentError.code, message: 'bad partition', retryable: false } }));
    await assert.rejects(client.control('agent-a', { type: 'partition.seal', arrayId: 'arr-1' }), (error: Error) => error instanceof InvalidArgumentError && error.message === 'bad partition');
  });

  it('greets an agent the registry does not hold alive, and infers the reply type', async () => {
    serveAgent(() => ({ type: 'agent.register', agent: agentInfo('agent-a', 3), holds: [] }));
    const unknown = new AgentClient(coordinatorBus, 'default', new AgentRegistry(Infinity, quiet));
    const reply = await unknown.control('agent-a', { type: 'agent.hello', keep: [] }, { unregistered: true });
    assert.equal(reply.agent.pid, 3);
    assert.deepEqual(received, ['agent.hello']);
  });
});
