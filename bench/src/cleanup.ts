/**
 * What the bench started (clusters, child processes, threads), stopped in reverse order when a
 * benchmark ends, fails, or the run is interrupted, so nothing outlives the bench.
 */
export class CleanupStack {
  private readonly entries: Array<{ label: string; stop: () => Promise<void> | void }> = [];

  /**
   * Registers `stop` and returns a function that runs it now (once) and unregisters it; call
   * that from a `finally`, and the stack covers the signal and watchdog paths.
   */
  defer(label: string, stop: () => Promise<void> | void): () => Promise<void> {
    const entry = { label, stop };
    this.entries.push(entry);
    return async () => {
      const index = this.entries.indexOf(entry);
      if (index === -1) return;
      this.entries.splice(index, 1);
      await entry.stop();
    };
  }

  /** Stops everything still registered, newest first; reports failures and carries on. */
  async stopAll(): Promise<void> {
    for (let entry = this.entries.pop(); entry !== undefined; entry = this.entries.pop()) {
      try {
        await entry.stop();
      } catch (error) {
        process.stderr.write(`bench: stopping ${entry.label} failed: ${(error as Error).message}\n`);
      }
    }
  }
}
