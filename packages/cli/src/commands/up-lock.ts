import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../options.js';

/** The file a running `sharc up` keeps in its data dir: which process owns the dir, on which port. */
export const UP_LOCK_FILE = 'sharc-up.lock';
/** A lock file being replaced by another `sharc up` at the same moment: tries before giving up. */
const CLAIM_ATTEMPTS = 3;

interface LockRecord {
  pid: number;
  /** The owner's start time (/proc/<pid>/stat, clock ticks since boot): a reused pid has another. */
  startTime: string | null;
  port: number;
}

/**
 * Makes this process the one `sharc up` of `dataDir`, or refuses (UsageError naming the running
 * cluster and how to start a second one) while another live `sharc up` owns it. A lock whose
 * owner is gone (killed outright) is taken over. The lock is removed when this process exits.
 */
export async function claimDataDir(dataDir: string, port: number): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const lockFile = path.join(dataDir, UP_LOCK_FILE);
  const mine: LockRecord = { pid: process.pid, startTime: await startTimeOf(process.pid), port };
  // Written whole to a file of its own, then linked to the lock's name: the lock never exists
  // half-written, and link() fails if another process holds it.
  const draft = `${lockFile}.${process.pid}`;
  await writeFile(draft, `${JSON.stringify(mine)}\n`);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await link(draft, lockFile);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= CLAIM_ATTEMPTS) throw error;
      }
      const owner = parseLock(await readFile(lockFile, 'utf8').catch(() => ''));
      if (owner !== undefined && (await isAlive(owner))) {
        throw new UsageError(
          `${dataDir} belongs to a running sharc up (pid ${owner.pid}, NATS on nats://127.0.0.1:${owner.port}); ` +
            `a second one would stop it. Use that cluster (--servers nats://127.0.0.1:${owner.port}), stop it (Ctrl-C in its terminal, or kill ${owner.pid}), ` +
            'or start another beside it: sharc up --port <another port> --data-dir <another dir>',
        );
      }
      // Its owner is gone (killed outright): the lock is stale.
      await unlink(lockFile).catch(() => undefined);
    }
  } finally {
    await unlink(draft).catch(() => undefined);
  }
  process.once('exit', () => {
    // Only our own lock: never one another `sharc up` took over.
    const owner = parseLock(readFileSafe(lockFile));
    if (owner?.pid === process.pid) {
      try {
        unlinkSync(lockFile);
      } catch {
        // already gone
      }
    }
  });
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function parseLock(text: string): LockRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockRecord>;
    if (typeof value.pid !== 'number' || !Number.isSafeInteger(value.pid) || value.pid <= 0 || typeof value.port !== 'number') return undefined;
    return { pid: value.pid, port: value.port, startTime: typeof value.startTime === 'string' ? value.startTime : null };
  } catch {
    return undefined;
  }
}

/** Whether the lock's owner still runs: same pid and, where /proc tells, the same start time. */
async function isAlive(owner: LockRecord): Promise<boolean> {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const startTime = await startTimeOf(owner.pid);
  return owner.startTime === null || startTime === null || startTime === owner.startTime;
}

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); null without /proc. */
async function startTimeOf(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // Field 2, the command name, is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}
