/**
 * Short commands whose output the e2e backends need (`ip`, the e2e client, the image build).
 * Long-running services are started with @sharc/launcher's ServiceProcess.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a short command to completion. Rejects with its stderr when it exits nonzero or runs
 * longer than `timeoutMs` (it is SIGKILLed then).
 */
export function runCommand(command: string, args: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not run: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ stdout, stderr });
      const how = timedOut ? `was killed after ${options.timeoutMs} ms` : `exited with ${signal ?? `code ${code}`}`;
      reject(new Error(`\`${[command, ...args].join(' ')}\` ${how}\n${stderr.trim()}`));
    });
  });
}
