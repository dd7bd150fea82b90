import { spawn } from 'node:child_process';
import type { CleanupStack } from '../cleanup.js';

/** One op as a baseline program reports it (bench/baselines/ops.c and numpy_ops.py print the same shape). */
export interface BaselineOpRun {
  key: string;
  runsMs: number[];
  bestMs: number;
  /** The result; NaN where the program printed null (a NaN or infinite value). */
  result: number[];
}

export interface BaselineOps {
  label: string;
  runs: Map<string, BaselineOpRun>;
  /** What else the program printed about itself (threads, numpy version). */
  about: Record<string, unknown>;
}

/**
 * Runs `command`, stopped by `cleanup` if the bench is interrupted, and parses the one JSON
 * object it prints: `{ results: [{ key, runsMs, result }] }`. Fails with its stderr when it
 * exits non-zero or prints something else.
 */
export async function runJsonProgram(
  cleanup: CleanupStack,
  label: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<BaselineOps> {
  return { label, ...parseResults(label, await runJsonChild(cleanup, label, command, args, env)) };
}

/**
 * Runs `command`, stopped by `cleanup` if the bench is interrupted, and returns the one JSON
 * value it prints. Fails with its stderr when it exits non-zero, and when it prints no JSON.
 */
export async function runJsonChild(cleanup: CleanupStack, label: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<unknown> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const stop = cleanup.defer(label, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  try {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolve(exitCode));
    });
    const errors = Buffer.concat(stderr).toString('utf8').trim();
    if (code !== 0) throw new Error(`${label} exited with ${String(code)}: ${errors.slice(-2000)}`);
    const text = Buffer.concat(stdout).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`${label} printed no JSON: ${text.slice(0, 500)}`);
    }
  } finally {
    await stop();
  }
}

function parseResults(label: string, parsed: unknown): Pick<BaselineOps, 'runs' | 'about'> {
  const { results, ...about } = (parsed ?? {}) as { results?: unknown };
  if (!Array.isArray(results)) throw new Error(`${label} printed no "results" list`);
  const runs = new Map<string, BaselineOpRun>();
  for (const item of results as Array<{ key?: unknown; runsMs?: unknown; result?: unknown }>) {
    if (typeof item.key !== 'string' || !isNumbers(item.runsMs) || item.runsMs.length === 0 || !Array.isArray(item.result)) {
      throw new Error(`${label} printed a malformed result: ${JSON.stringify(item).slice(0, 300)}`);
    }
    const result = item.result.map((v: unknown) => (typeof v === 'number' ? v : Number.NaN));
    runs.set(item.key, { key: item.key, runsMs: item.runsMs, bestMs: Math.min(...item.runsMs), result });
  }
  return { runs, about };
}

function isNumbers(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}
