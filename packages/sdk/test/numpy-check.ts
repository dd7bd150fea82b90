/**
 * numpy's side of the built-in op tests (fixtures/builtin_ops_numpy.py): random inputs written
 * as .npy files, and a check of sharc's outputs against numpy's own answers.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArrayRef, DType } from '../src/index.js';

const PYTHON = '/usr/bin/python3';
const NUMPY_SIDE = fileURLToPath(new URL('../../test/fixtures/builtin_ops_numpy.py', import.meta.url));

export interface Entry {
  label: string;
  op: string;
  params?: unknown;
  a: string;
  b?: string;
  out?: string;
  /** dot's result, as JavaScript prints it (NaN and ±Infinity survive JSON so). */
  value?: string;
}

/** Runs the ops, saves each output, then asks numpy: every mismatch is one line of the result. */
export class NumpyCheck {
  readonly entries: Entry[] = [];
  constructor(private readonly dir: string) {}

  file(dtype: DType, shape: string, which: 'a' | 'b' = 'a'): string {
    return path.join(this.dir, `${dtype}-${shape}${which === 'b' ? '-b' : ''}.npy`);
  }

  async output(label: string, op: string, params: unknown, a: string, made: ArrayRef, b?: string): Promise<void> {
    const out = path.join(this.dir, `out-${this.entries.length}.npy`);
    await made.save(out);
    await made.delete();
    this.entries.push({ label, op, params, a, out, ...(b === undefined ? {} : { b }) });
  }

  async problems(): Promise<string[]> {
    const manifest = path.join(this.dir, `manifest-${Date.now()}.json`);
    await writeFile(manifest, JSON.stringify(this.entries, (_, v: unknown) => (v instanceof Float64Array ? Array.from(v) : v)));
    this.entries.length = 0;
    const printed = execFileSync(PYTHON, [NUMPY_SIDE, 'check', manifest], { encoding: 'utf8' }).trim();
    return printed === '' ? [] : printed.split('\n');
  }
}


/** Writes random inputs of every dtype (`<dtype>-<shape>.npy` and a second set `…-b.npy`) for each shape ('37x4', '23'). */
export function makeNumpyInputs(dir: string, shapes: readonly string[]): void {
  execFileSync(PYTHON, [NUMPY_SIDE, 'make', dir, ...shapes]);
}
