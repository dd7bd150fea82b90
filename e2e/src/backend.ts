/**
 * What a multi-host backend (network namespaces, containers) gives the shared scenarios: a
 * running cluster of separate hosts, a way to run the e2e client where clients of that backend
 * live, and a way to kill one agent's host process.
 */
export interface ClusterBackend {
  /** Shown in test names: 'netns', 'containers'. */
  readonly name: string;
  /** The NATS URL as a client of this backend sees it. */
  readonly servers: string;
  /** Agent names, one per agent host, as given to `sharc agent --name`. */
  readonly agentNames: readonly string[];
  /**
   * Runs the e2e client program (`e2e/dist/src/client.js`) with `args` where this backend's
   * clients run (inside the client namespace, or on the host next to the containers) and
   * returns what it printed on stdout, parsed as JSON. Rejects with its stderr when it fails.
   */
  runClient(args: readonly string[]): Promise<unknown>;
  /** SIGKILLs the agent process named `name` (its host stays up). */
  killAgent(name: string): Promise<void>;
  /** Stops every process and removes every namespace / container it made, even after a failure. */
  stop(): Promise<void>;
}
