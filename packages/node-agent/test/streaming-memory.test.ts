/**
 * An agent streams a file-backed array much larger than its memory limit through its worker
 * threads' windows: its resident memory grows by about threads × 3 windows of one block, not by
 * the file's size, and the answers are right. (The end-to-end RSS test over a cluster is in e2e/.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

const CHILD = fileURLToPath(new URL('./fixtures/streaming-memory.js', import.meta.url));
const MIB = 1024 * 1024;
const FILE_MIB = 512;
const MEMORY_MIB = 16;
const THREADS = 2;
/** One block (BLOCK_TARGET_BYTES). */
const BLOCK_MIB = 4;
/** What else may grow while jobs run: heaps of the agent and its threads, messages, the module's code. */
const SLACK_MIB = 64;

describe('streaming a file larger than the memory limit', () => {
  it(`keeps the agent's memory within threads × 3 × one block (+ ${SLACK_MIB} MiB) over a ${FILE_MIB} MiB file with a ${MEMORY_MIB} MiB limit`, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', CHILD, String(FILE_MIB), String(MEMORY_MIB), String(THREADS)], {
      maxBuffer: 1024 * 1024,
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { before: number; peak: number; rows: number; sum: number; scaledSum: number; usedBytes: number };
    // Values i mod 1024 repeat in whole periods: the sum is exact.
    const expected = (result.rows / 1024) * ((1023 * 1024) / 2);
    assert.equal(result.sum, expected);
    assert.equal(result.scaledSum, 2 * expected + result.rows);
    assert.equal(result.usedBytes, 0, 'file-backed partitions and their outputs book no memory');
    const growthMiB = (result.peak - result.before) / MIB;
    assert.ok(growthMiB <= THREADS * 3 * BLOCK_MIB + SLACK_MIB, `RSS grew by ${growthMiB.toFixed(1)} MiB streaming ${FILE_MIB} MiB twice and writing it once`);
  });
});
