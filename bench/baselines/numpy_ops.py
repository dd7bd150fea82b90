"""The numpy baseline of `npm run bench` (run by bench/src/baseline/numpy-ops.ts with /usr/bin/python3).

    numpy_ops.py ELEMENTS RUNS WARMUPS KEY...     KEY = op:dtype, e.g. sum:float64

WARMUPS untimed runs precede each op's timed runs, and at least one after a dataset is filled
(the workers' first pass over a new shared block maps its pages).

The recipe numpy users copy: the parent puts the data in a multiprocessing.shared_memory block,
2 worker processes (started once, kept warm) attach to it, and each reduces its half with numpy
(x.sum(), np.dot(x, x), x.min(), np.histogram, ...); the parent combines the two answers. Timed
from sending the op to both workers to having both answers; best of RUNS.

Datasets (the same values as bench/src/data.ts and ops.c):
  float64: x[i] = ((i * 7919) % 1000) / 1000 - 0.5, i < ELEMENTS (1 GiB for 2^27)
  float32: the same rounded to float32, i < 2 * ELEMENTS (also 1 GiB)
dot and add take the first half of the dataset as a and the second half as b. add and astype
write into a shared output block written once before the warm-up (pre-faulted); astype-fresh
is `x.astype(np.float32)`, a new array every run, as users write it. numpy's own accumulation
is kept: float32 sum/mean accumulate in float32 (pairwise), np.dot of float32 in float32 (BLAS).

Prints one JSON object: {"workers":2,"results":[{"key":...,"runsMs":[...],"result":[...]}]}.
"""
import json
import math
import multiprocessing as mp
import sys
import time
from multiprocessing import resource_tracker, shared_memory

import numpy as np

WORKERS = 2
BINS = 64
HIST_RANGE = (-0.5, 0.5)
FILL_CHUNK = 1 << 22


def part(array, worker, parts=WORKERS):
    size = len(array) // parts
    return array[worker * size:(worker + 1) * size]


def compute(op, x, out, worker):
    """One worker's share of `op` over its part of x (and out); returns something picklable."""
    n = len(x)
    if op in ('dot', 'add'):
        a, b = part(x[:n // 2], worker), part(x[n // 2:], worker)
        if op == 'dot':
            return float(np.dot(a, b))
        np.add(a, b, out=part(out, worker))
        return part(out, worker)
    mine = part(x, worker)
    if op == 'sum':
        return float(mine.sum())
    if op in ('sumsq', 'norm'):
        return float(np.dot(mine, mine))
    if op == 'mean':
        return float(mine.mean())
    if op == 'min':
        return float(mine.min())
    if op == 'max':
        return float(mine.max())
    if op in ('argmin', 'argmax'):
        i = int(mine.argmin() if op == 'argmin' else mine.argmax())
        return (i + worker * len(mine), float(mine[i]))
    if op in ('var', 'std'):
        return (float(mine.mean()), float(mine.var()))
    if op == 'histogram':
        return np.histogram(mine, bins=BINS, range=HIST_RANGE)[0]
    if op == 'astype':
        np.copyto(part(out, worker), mine, casting='same_kind')
        return part(out, worker)
    if op == 'astype-fresh':
        return mine.astype(np.float32)
    if op.startswith('mean-axis0-'):
        return mine.reshape(-1, int(op[len('mean-axis0-'):])).sum(axis=0)
    raise ValueError(f'unknown op {op}')


def worker_main(conn, worker):
    blocks = {}
    last = None
    while True:
        message = conn.recv()
        kind = message[0]
        if kind == 'stop':
            break
        if kind == 'attach':
            _, role, name, dtype, count = message
            if role in blocks:
                blocks.pop(role)[0].close()
            if name is not None:
                shm = shared_memory.SharedMemory(name=name)
                blocks[role] = (shm, np.ndarray((count,), dtype=dtype, buffer=shm.buf))
            conn.send(True)
        elif kind == 'run':
            _, op = message
            answer = compute(op, blocks['x'][1], blocks['out'][1] if 'out' in blocks else None, worker)
            if isinstance(answer, np.ndarray) and op in ('add', 'astype', 'astype-fresh'):
                last, answer = answer, None  # a map op: its output stays here; 'checksum' sums it
            elif isinstance(answer, np.ndarray):
                answer = answer.tolist()
            conn.send(answer)
        elif kind == 'checksum':
            conn.send(float(last.sum(dtype=np.float64)))
            last = None
    for shm, _ in blocks.values():
        shm.close()


def combine(op, answers, n):
    """The whole-array result from the workers' answers (halves of equal size)."""
    if op in ('sum', 'sumsq', 'dot'):
        return [sum(answers)]
    if op == 'norm':
        return [math.sqrt(sum(answers))]
    if op == 'mean':
        return [sum(answers) / len(answers)]
    if op == 'min':
        return [float('nan') if any(math.isnan(a) for a in answers) else min(answers)]
    if op == 'max':
        return [float('nan') if any(math.isnan(a) for a in answers) else max(answers)]
    if op in ('argmin', 'argmax'):
        best = None
        for index, value in answers:
            if best is None or (not math.isnan(best[1]) and (math.isnan(value) or (value < best[1] if op == 'argmin' else value > best[1]))):
                best = (index, value)
        return [best[0]]
    if op in ('var', 'std'):
        means = [m for m, _ in answers]
        mean = sum(means) / len(means)
        var = sum(v for _, v in answers) / len(answers) + sum((m - mean) ** 2 for m in means) / len(means)
        return [var if op == 'var' else math.sqrt(var)]
    if op == 'histogram':
        return [sum(counts) for counts in zip(*answers)]
    if op.startswith('mean-axis0-'):
        rows = n // int(op[len('mean-axis0-'):])
        return [s / rows for s in map(sum, zip(*answers))]
    raise ValueError(f'cannot combine {op}')


def shared(dtype, count):
    shm = shared_memory.SharedMemory(create=True, size=count * np.dtype(dtype).itemsize)
    return shm, np.ndarray((count,), dtype=dtype, buffer=shm.buf)


def fill(array):
    for start in range(0, len(array), FILL_CHUNK):
        i = np.arange(start, min(start + FILL_CHUNK, len(array)), dtype=np.int64)
        array[start:start + len(i)] = ((i * 7919) % 1000) / 1000 - 0.5


def finite(v):
    return v if isinstance(v, int) or math.isfinite(v) else None


def main():
    n64, runs, warmups = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    keys = sys.argv[4:]
    context = mp.get_context('fork')
    # One resource tracker, started before the fork: the workers register their attachments with
    # it instead of starting their own, which would unlink the blocks when a worker exits.
    resource_tracker.ensure_running()
    pipes = [context.Pipe() for _ in range(WORKERS)]
    workers = [context.Process(target=worker_main, args=(child, w), daemon=True) for w, (_, child) in enumerate(pipes)]
    for w in workers:
        w.start()
    for _, child in pipes:
        child.close()  # so a worker that dies is an EOFError here, not a hang
    conns = [parent for parent, _ in pipes]
    blocks = {}

    def ask_all(message):
        for c in conns:
            c.send(message)
        return [c.recv() for c in conns]

    def attach(role, dtype, count):
        """Replaces the block of `role` (freeing the old one first); count 0 just frees it."""
        if role in blocks and blocks[role][1].dtype == np.dtype(dtype) and len(blocks[role][1]) == count:
            return blocks[role][1]
        ask_all(('attach', role, None, None, 0))
        if role in blocks:
            shm, _ = blocks.pop(role)
            shm.close()
            shm.unlink()
        if count == 0:
            return None
        shm, array = shared(dtype, count)
        blocks[role] = (shm, array)
        ask_all(('attach', role, shm.name, dtype, count))
        return array

    results = []
    try:
        for key in keys:
            op, dtype = key.split(':')
            n = n64 if dtype == 'float64' else 2 * n64
            warm = warmups
            if 'x' not in blocks or blocks['x'][1].dtype != np.dtype(dtype):
                attach('out', None, 0)
                attach('x', None, 0)
                fill(attach('x', dtype, n))
                warm = max(warmups, 1)  # the workers' first pass over a new block maps its pages
            if op == 'add':
                attach('out', 'float64', n // 2)[:] = 0
            elif op == 'astype':
                attach('out', 'float32', n)[:] = 0
            else:
                attach('out', None, 0)
            for _ in range(warm):
                ask_all(('run', op))
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                answers = ask_all(('run', op))
                times.append((time.perf_counter() - start) * 1000)
            if op in ('add', 'astype', 'astype-fresh'):
                result = [sum(ask_all(('checksum',)))]
            else:
                result = combine(op, answers, n)
            results.append({'key': key, 'runsMs': times, 'result': [finite(v) for v in result]})
    finally:
        for role in list(blocks):
            attach(role, None, 0)
        for c in conns:
            c.send(('stop',))
        for w in workers:
            w.join()
    print(json.dumps({'workers': WORKERS, 'numpy': np.__version__, 'results': results}))


if __name__ == '__main__':
    main()
