"""Where delayed updates pay, and with how many points per block (kernels/sgd_loops.py).

For each shape (n, d, k) it times ``sgd_train`` with the fused loops (``delayed_steps=0``)
and with blocks of b points, in interleaved rounds (each round times every b once, so
all see the same machine load), the loss asked for at no epoch (``loss_at=[]``): the
steps are what the block size changes. Prints GFLOP/s (8kd flops per step) and the
median over rounds of fused time / delayed time, and marks the b that
``delayed_steps_for`` picks. Not part of the tests.

Delayed updates need OpenBLAS as wide as Numba's code; on this machine image run it as

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/tune_delayed_steps.py [--quick]
"""
from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kernels import ALPHA, EPS, LR, V, make_problem  # noqa: E402
from kernels.sgd import sgd_train  # noqa: E402
from kernels.blas import openblas_core  # noqa: E402
from kernels.sgd_loops import delayed_steps_for  # noqa: E402

SHAPES = [(1000, 50, 16), (1000, 50, 50), (1000, 50, 64), (1000, 50, 500), (100, 50, 50),
          (1000, 100, 16), (1000, 100, 50), (1000, 784, 16), (1000, 784, 50), (1000, 300, 100),
          (1000, 784, 500)]
BLOCKS = (8, 12, 16, 24, 32)


def compare_blocks(n, d, k, dtype, rounds, flops):
    """{b: (GFLOP/s, fused time / delayed time)} for b = 0 (fused) and every BLOCKS."""
    epochs = int(np.clip(round(flops / (8 * k * d * n)), 1, 200))
    X, y, W0, order = make_problem(n, d, k, epochs, dtype)

    def run(b):
        sgd_train(X, y, W0, order, alpha=ALPHA, lr=LR, eps=EPS, v=V, dtype=dtype, delayed_steps=b, loss_at=[])

    blocks = (0,) + BLOCKS
    seconds = {b: [] for b in blocks}
    for b in blocks:  # compile
        run(b)
    for _ in range(rounds):
        for b in blocks:
            start = time.perf_counter()
            run(b)
            seconds[b].append(time.perf_counter() - start)
    fused = np.array(seconds[0])
    return {b: (8 * k * d * n * epochs / np.median(t) / 1e9, float(np.median(fused / np.array(t))))
            for b, t in seconds.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and epochs")
    args = parser.parse_args(argv)
    rounds, flops = (3, 2e8) if args.quick else (5, 1e9)
    print(f"OpenBLAS runs {openblas_core() or 'unknown'} kernels; median of {rounds} interleaved rounds; "
          "b = 0 is fused; '*' marks the rule's choice (delayed_steps_for)")
    for dtype in (np.float64, np.float32):
        for n, d, k in SHAPES:
            chosen = delayed_steps_for(2 * k, d)
            result = compare_blocks(n, d, k, dtype, rounds, flops)
            cells = "  ".join(f"{'*' if b == chosen else ' '}b={b:<2} {gflops:5.1f} GF {ratio:4.2f}x"
                              for b, (gflops, ratio) in result.items())
            print(f"{np.dtype(dtype).name} (n, d, k) = {(n, d, k)!s:<16} {cells}", flush=True)


if __name__ == "__main__":
    main()
