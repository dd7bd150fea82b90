"""The numpy side of the bench's file section (bench/src/file/): run with /usr/bin/python3.

  npy_file.py create PATH ELEMENTS   writes a float64 .npy of ELEMENTS values (the formula of
                                     bench/src/data.ts) to PATH.partial, then renames it to PATH,
                                     so an interrupted run never leaves a file that looks whole
  npy_file.py sum PATH               times numpy.load(PATH, mmap_mode='r').sum(): the recipe
                                     numpy users copy for an array on disk

Each prints one JSON object on stdout.
"""
import json
import os
import sys
import time

import numpy as np

# Values written per step: 128 MiB of float64, so creating the file holds little memory.
CHUNK = 1 << 24


def create(path, elements):
    partial = path + '.partial'
    start = time.perf_counter()
    out = np.lib.format.open_memmap(partial, mode='w+', dtype=np.float64, shape=(elements,))
    for begin in range(0, elements, CHUNK):
        end = min(begin + CHUNK, elements)
        i = np.arange(begin, end, dtype=np.int64)
        out[begin:end] = ((i * 7919) % 1000) / 1000 - 0.5
    out.flush()
    del out
    with open(partial, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(partial, path)
    print(json.dumps({'ms': (time.perf_counter() - start) * 1000, 'bytes': os.path.getsize(path), 'numpy': np.__version__}))


def memmap_sum(path):
    start = time.perf_counter()
    array = np.load(path, mmap_mode='r')
    result = float(array.sum())
    ms = (time.perf_counter() - start) * 1000
    print(json.dumps({'ms': ms, 'result': result, 'dtype': str(array.dtype), 'shape': list(array.shape), 'numpy': np.__version__}))


if __name__ == '__main__':
    command = sys.argv[1] if len(sys.argv) > 1 else ''
    if command == 'create' and len(sys.argv) == 4:
        create(sys.argv[2], int(sys.argv[3]))
    elif command == 'sum' and len(sys.argv) == 3:
        memmap_sum(sys.argv[2])
    else:
        sys.exit('usage: npy_file.py create PATH ELEMENTS | npy_file.py sum PATH')
