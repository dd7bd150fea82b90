/** One line of the results table. Figures are numbers here; formatting happens in report.ts. */
export interface Measurement {
  benchmark: 'compute' | 'ops' | 'latency' | 'transfer' | 'memory' | 'partitions' | 'scale' | 'file';
  /** What was measured, e.g. "reduce 'sumsq', 2 agent processes × 1 thread". */
  subject: string;
  value: number;
  unit: string;
  /** The in-run baseline this value is compared with. */
  baseline?: { label: string; value: number; unit: string };
  /** Higher is better: baseline time / sharc time, or sharc rate / raw rate. */
  ratio?: number;
  /** Human-readable target, e.g. "ratio ≥ 0.9". */
  target?: string;
  /** Whether the target was met (absent when the row has no target). */
  pass?: boolean;
  /** Every run and anything else worth keeping in results.json. */
  details?: Record<string, unknown>;
}

/** A benchmark that threw: reported as a failed row, and the run goes on with the next one. */
export function failedMeasurement(benchmark: Measurement['benchmark'], subject: string, error: unknown): Measurement {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { benchmark, subject, value: Number.NaN, unit: '', target: 'runs', pass: false, details: { error: message } };
}
