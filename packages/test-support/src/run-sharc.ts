import { spawn } from 'node:child_process';
import { SHARC_BIN } from './process-cluster.js';

/** What a `sharc` command printed and how it exited. */
export interface SharcRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `sharc` command as a user would, with `env` on top of this process's, in `cwd` (default: this process's). */
export function runSharc(args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<SharcRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SHARC_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...(cwd === undefined ? {} : { cwd }) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
