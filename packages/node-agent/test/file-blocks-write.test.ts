/**
 * A map's output file that cannot take its rows (a full disk): the worker thread writing the
 * block says so with a FileFormatError naming the file and the cause, not an internal error.
 * /dev/full answers every write with ENOSPC, as a full filesystem does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

const FILE_BLOCKS = new URL('../src/workers/file-blocks.js', import.meta.url).href;

/** Runs openBlocks over `view` in a worker thread, fills one block and writes it; the error it threw, as { name, message }. */
function writeOneBlock(view: object): Promise<{ name: string; message: string } | undefined> {
  const source = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { openBlocks } = await import(workerData.module);
    const blocks = openBlocks(workerData.view, 'output');
    try {
      const block = { rowStart: 0, rowCount: 16 };
      blocks.rows(block).fill(1);
      blocks.written(block);
      parentPort.postMessage(undefined);
    } catch (error) {
      parentPort.postMessage({ name: error.name, message: error.message });
    } finally {
      blocks.close();
    }
  `;
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { workerData: { module: FILE_BLOCKS, view } });
    worker.once('message', (result: { name: string; message: string } | undefined) => {
      resolve(result);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

describe("file blocks: a map's output written to a file", () => {
  it('says a full disk is full, naming the file (FileFormatError), when a block cannot be written', async () => {
    const view = { file: { path: '/dev/full', dataOffset: 0, size: 0, mtimeMs: 0 }, write: true, partitionBytes: 128, dtype: 'float64', rowStart: 0, cols: 1 };
    const failure = await writeOneBlock(view);
    assert.ok(failure !== undefined, 'the write failed');
    assert.equal(failure.name, 'FileFormatError', failure.message);
    assert.match(failure.message, /\/dev\/full could not be written: no space is left on the device/);
  });
});
