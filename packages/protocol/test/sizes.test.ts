/**
 * Byte sizes as users write them in flags, environment and config (`--memory 4GiB`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, MIN_WASM_PARTITION_BYTES, WASM_PAGE_BYTES, formatBytes, parseByteSize, reservedBytesOf, wasmPagesOf } from '../src/index.js';

describe('parseByteSize', () => {
  it('reads binary units', () => {
    assert.equal(parseByteSize('4GiB', '--memory'), 4 * 1024 ** 3);
    assert.equal(parseByteSize('512MiB', '--memory'), 512 * 1024 ** 2);
    assert.equal(parseByteSize('64KiB', '--memory'), 64 * 1024);
    assert.equal(parseByteSize('2TiB', '--memory'), 2 * 1024 ** 4);
  });

  it('reads decimal units', () => {
    assert.equal(parseByteSize('4GB', '--memory'), 4e9);
    assert.equal(parseByteSize('3MB', '--memory'), 3e6);
    assert.equal(parseByteSize('1kb', '--memory'), 1000);
    assert.equal(parseByteSize('1TB', '--memory'), 1e12);
  });

  it('reads one-letter units as binary, case-insensitively', () => {
    assert.equal(parseByteSize('512m', '--memory'), 512 * 1024 ** 2);
    assert.equal(parseByteSize('2G', '--memory'), 2 * 1024 ** 3);
    assert.equal(parseByteSize('8k', '--memory'), 8192);
    assert.equal(parseByteSize('4gib', '--memory'), 4 * 1024 ** 3);
  });

  it('reads plain byte counts, exponents, fractions and spaces', () => {
    assert.equal(parseByteSize('1024', '--memory'), 1024);
    assert.equal(parseByteSize('100b', '--memory'), 100);
    assert.equal(parseByteSize('1e9', '--memory'), 1e9);
    assert.equal(parseByteSize('1.5GiB', '--memory'), 1.5 * 1024 ** 3);
    assert.equal(parseByteSize(' 2 MiB ', '--memory'), 2 * 1024 ** 2);
    assert.equal(parseByteSize('0', '--memory'), 0);
  });

  it('accepts numbers as byte counts', () => {
    assert.equal(parseByteSize(4096, 'memory'), 4096);
    assert.equal(parseByteSize(0, 'memory'), 0);
  });

  it('refuses text that is not a size and names the option', () => {
    for (const value of ['lots', '', '4 GiBs', '4XB', '-1GiB', 'GiB', '1,5GiB']) {
      assert.throws(
        () => parseByteSize(value, '--memory'),
        (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError, JSON.stringify(value));
          assert.match(error.message, /^--memory /);
          assert.match(error.message, /is not a size/);
          return true;
        },
      );
    }
  });

  it('refuses negative, fractional and non-finite numbers and names the option', () => {
    for (const value of [-1, 1.5, NaN, Infinity]) {
      assert.throws(() => parseByteSize(value, 'SHARC_MEMORY'), /^InvalidArgumentError: SHARC_MEMORY .* is not a valid byte count/, String(value));
    }
  });

  it('refuses sizes too large to count exactly', () => {
    assert.throws(() => parseByteSize('1e400', 'memory'), /memory "?1e400"? is not a valid byte count/);
    assert.throws(() => parseByteSize('9999999TiB', 'memory'), InvalidArgumentError);
  });
});

describe('formatBytes', () => {
  it('writes sizes with binary units, one decimal below 100', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1024), '1.0 KiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(4 * 1024 ** 3), '4.0 GiB');
    assert.equal(formatBytes(256 * 1024 ** 2), '256 MiB');
    assert.equal(formatBytes(2 * 1024 ** 5), '2048 TiB');
  });
});

describe('reservedBytesOf (what a partition costs an agent, for agent and coordinator alike)', () => {
  const MIB = 1024 * 1024;
  it('is the bytes of a partition under 1 MiB (a plain SharedArrayBuffer)', () => {
    for (const bytes of [0, 1, 8, 65_537, MIN_WASM_PARTITION_BYTES - 1]) {
      assert.equal(reservedBytesOf(bytes), bytes);
      assert.equal(wasmPagesOf(bytes), undefined);
    }
  });

  it('is whole 64 KiB pages from 1 MiB to 4 GiB (a WebAssembly memory), nothing more', () => {
    assert.equal(reservedBytesOf(MIB), MIB);
    assert.equal(reservedBytesOf(MIB + 1), MIB + WASM_PAGE_BYTES);
    assert.equal(reservedBytesOf(MIB + WASM_PAGE_BYTES), MIB + WASM_PAGE_BYTES);
    assert.equal(wasmPagesOf(MIB + 8), 17);
    assert.equal(reservedBytesOf(4 * 1024 ** 3), 4 * 1024 ** 3);
    assert.equal(wasmPagesOf(4 * 1024 ** 3), 65_536);
  });

  it('is the bytes again past 4 GiB (wasm32 cannot address it: a plain SharedArrayBuffer)', () => {
    assert.equal(wasmPagesOf(4 * 1024 ** 3 + 1), undefined);
    assert.equal(reservedBytesOf(4 * 1024 ** 3 + 1), 4 * 1024 ** 3 + 1);
  });
});
