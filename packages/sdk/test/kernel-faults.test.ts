/**
 * Kernel faults and cancel by job id, against a real nats-server, a coordinator process and two
 * agent processes, and on the embedded cluster (the same code, in this process).
 */
import { after, before, describe } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type Cluster } from '../src/index.js';
import { registerKernelFaultScenarios } from './kernel-fault-scenarios.js';

/** Small, so that a kernel allocating without end reaches it in well under a second. */
const THREAD_HEAP_MB = 64;
const AGENTS = 2;
const THREADS = 2;

describe('kernel faults and cancel on real processes (nats-server, coordinator, two agents)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let other: Cluster;
  before(async () => {
    processes = await startProcessCluster({
      agents: AGENTS,
      threads: THREADS,
      memory: '256MiB',
      // The agents' --thread-heap-mb, from the environment as a user may set it.
      env: { SHARC_THREAD_HEAP_MB: String(THREAD_HEAP_MB) },
    });
    cluster = await connect({ servers: processes.url });
    other = await connect({ servers: processes.url });
  });
  after(async () => {
    await other?.close();
    await cluster?.close();
    await processes?.stop();
  });

  registerKernelFaultScenarios({
    cluster: () => cluster,
    otherClient: () => other,
    agentCount: AGENTS,
    threads: THREADS,
    threadHeapMb: THREAD_HEAP_MB,
  });
});

describe('kernel faults and cancel on the embedded cluster', () => {
  let cluster: Cluster;
  before(async () => {
    delete process.env.SHARC_SERVERS;
    cluster = await connect({ embedded: { agents: AGENTS, threads: THREADS, memoryBytes: 256 * 1024 * 1024, threadHeapMb: THREAD_HEAP_MB } });
  });
  after(() => cluster?.close());

  registerKernelFaultScenarios({
    cluster: () => cluster,
    otherClient: () => cluster,
    agentCount: AGENTS,
    threads: THREADS,
    threadHeapMb: THREAD_HEAP_MB,
  });
});
