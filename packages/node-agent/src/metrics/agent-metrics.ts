import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Agent, AgentObservation } from '../agent.js';

export interface AgentMetricsOptions {
  /**
   * Also export this process's CPU, memory, event-loop lag and GC (prom-client's default
   * metrics, under their standard names: process_*, nodejs_*). Off for agents embedded in a
   * client's process, which is the client's to describe.
   * @default true
   */
  processMetrics?: boolean;
}

/**
 * An agent's Prometheus metrics (`sharc agent --http-port`: `/metrics`), in a registry of its
 * own (several agents in one process do not mix). Everything is read from the agent when
 * scraped (Agent.observe): the agent itself only bumps plain counters as it works.
 *
 * ```ts
 * const metrics = new AgentMetrics(agent);
 * response.writeHead(200, { 'content-type': metrics.contentType }).end(await metrics.text());
 * ```
 */
export class AgentMetrics {
  readonly registry = new Registry();

  constructor(agent: Agent, options: AgentMetricsOptions = {}) {
    const registers = [this.registry];
    // Every sample names its cluster and its agent, as the coordinator's sharc_node_* do: the two join on them.
    this.registry.setDefaultLabels({ cluster: agent.options.cluster, agent: agent.id });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    // One observation per scrape, shared by every metric below: prom-client calls each
    // collect() in one synchronous run when a scrape starts; it is dropped at the next microtask.
    let seen: AgentObservation | undefined;
    const now = (): AgentObservation => {
      if (seen === undefined) {
        seen = agent.observe();
        queueMicrotask(() => (seen = undefined));
      }
      return seen;
    };
    const gauge = (name: string, help: string, value: (o: AgentObservation) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(now()));
        },
      });
    // A count the agent keeps itself (AgentTally): exported as a Prometheus counter.
    const counter = (name: string, help: string, value: (o: AgentObservation) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(now()));
        },
      });

    gauge('sharc_agent_partitions', 'Partitions this agent holds', (o) => o.info.partitions);
    gauge('sharc_agent_used_bytes', 'Bytes of partitions this agent holds (reserved in shared memory)', (o) => o.info.usedBytes);
    gauge('sharc_agent_memory_limit_bytes', 'Memory this agent may fill with partitions (--memory)', (o) => o.info.memoryBytes);
    gauge('sharc_agent_threads', "This agent's worker threads", (o) => o.info.threads);
    gauge('sharc_agent_work_in_flight', 'Block requests running or queued on the worker threads', (o) => o.info.workInFlight);
    new Counter({
      name: 'sharc_agent_thread_busy_seconds_total',
      help: 'Seconds each worker thread has spent running kernels (rate() of it is the thread\'s busy fraction)',
      labelNames: ['thread'] as const,
      registers,
      collect() {
        this.reset();
        now().threadBusySeconds.forEach((seconds, thread) => this.inc({ thread: String(thread) }, seconds));
      },
    });
    new Counter({
      name: 'sharc_agent_tasks_total',
      help: 'Partition tasks this agent ran (for coordinator jobs and direct reduces), by outcome (ok, failed, cancelled)',
      labelNames: ['outcome'] as const,
      registers,
      collect() {
        this.reset();
        for (const [outcome, count] of Object.entries(now().tally.tasks)) this.inc({ outcome }, count);
      },
    });
    counter('sharc_agent_blocks_total', 'Blocks of rows this agent ran a kernel over (tasks that succeeded)', (o) => o.tally.blocks);
    counter('sharc_agent_data_sent_bytes_total', 'Partition bytes this agent sent on its data plane (reads it served)', (o) => o.tally.dataBytesSent);
    counter('sharc_agent_data_received_bytes_total', 'Partition bytes this agent received on its data plane (writes, and copies it fetched)', (o) => o.tally.dataBytesReceived);
    counter('sharc_agent_direct_batches_total', 'Reduce batches clients sent straight to this agent', (o) => o.direct.batches);
    counter('sharc_agent_direct_partitions_total', 'Partitions of reduces clients sent straight to this agent', (o) => o.direct.partitions);
    gauge('sharc_agent_direct_batches_running', 'Direct reduce batches running now', (o) => o.direct.running);
  }

  /** The Prometheus text format's content type, for the response. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric, in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
