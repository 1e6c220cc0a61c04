"""What bounds an SGD step: the inner loops of kernels/sgd_loops.py timed alone.

Prints, per shape, the time of one pass over W that only reads it (the forward) and of
the fused update + forward pass, with the bytes of W they move per second; when both move
W at the same rate the step is bound by cache bandwidth, not by arithmetic. Then the
per-step time of the scalar part (step coefficients) against the row loops at a small
shape, where latency rather than bandwidth bounds the step. Last, whole fused epochs on
rows of d features against the same rows padded with zero features to a multiple of one
SIMD vector of kernels.ordered_sums, as kernels/sgd.py pads them (ROW_BYTES); and the loss pass's product W X^T taken
with X^T as a view of X (BLAS "NT") against a C-contiguous copy (BLAS "NN", what
kernels/sgd.py uses). Not part of the tests.

    python benchmarks/probe_kernel_limits.py
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kernels.ordered_sums import update_dot_pair  # noqa: E402
from kernels.sgd import ROW_BYTES, _zero_padded  # noqa: E402
from kernels.sgd_loops import _forward_rows, epoch_neuron_major, step_coefficients  # noqa: E402


@njit(nogil=True)
def _read_passes(W, X, pre, reps):
    for r in range(reps):
        _forward_rows(W, X[r % X.shape[0]], pre)


@njit(nogil=True)
def _fused_passes(W, coef, X, pre, reps):
    for r in range(reps):
        x, x_next = X[r % X.shape[0]], X[(r + 1) % X.shape[0]]
        for j in range(0, W.shape[0], 2):  # as kernels.sgd_loops.epoch_neuron_major
            pre[j], pre[j + 1] = update_dot_pair(W[j], W[j + 1], coef[j], coef[j + 1], x, x_next)
        coef[0] = pre[0] * 1e-12  # the next step depends on this one, as in SGD


@njit(nogil=True)
def _coefficient_steps(pre, coef, reps):
    z = 0.0
    for _ in range(reps):
        pre[0] += 1e-9
        z += step_coefficients(pre, 1.0, 0.2, 1.0, 0.01, coef)
    return z


@njit(nogil=True)
def _fused_epochs(X, y, W, order, pre, coef):
    for e in range(order.shape[0]):
        epoch_neuron_major(X, y, W, order[e], 0.2, 1.0, 0.01, -1e9, pre, coef)


def padded_rows_speedup(rng, d, k, dtype, rounds=7, n=1000, epochs=20):
    """(median, quartiles) over interleaved rounds of unpadded time / padded time."""
    X = (rng.standard_normal((n, d)) / np.sqrt(d)).astype(dtype)
    y = np.sign(rng.standard_normal(n))
    W0 = (0.3 * rng.standard_normal((2 * k, d)) / np.sqrt(d)).astype(dtype)
    Xp, Wp0 = _zero_padded(X), _zero_padded(W0)
    order = np.stack([rng.permutation(n) for _ in range(epochs)])
    pre, coef = np.empty(2 * k, dtype), np.empty(2 * k, dtype)
    ratios = []
    for r in range(rounds + 1):  # round 0 compiles
        times = []
        for A, B in ((X, W0), (Xp, Wp0)):
            W = B.copy()
            start = time.perf_counter()
            _fused_epochs(A, y, W, order if r else order[:1], pre, coef)
            times.append(time.perf_counter() - start)
        if r:
            ratios.append(times[0] / times[1])
    return np.median(ratios), np.percentile(ratios, [25, 75])


@njit(nogil=True)
def _loss_products(W, XT, HT, reps):
    for _ in range(reps):
        np.dot(W, XT, HT)


def seconds_per_call(fn, args, reps):
    fn(*args[:-1], 2)
    start = time.perf_counter()
    fn(*args[:-1], reps)
    return (time.perf_counter() - start) / reps


def main() -> None:
    rng = np.random.default_rng(0)
    print("one pass over W (2k, d), neuron-major:")
    for two_k, d in ((100, 784), (100, 200), (100, 56), (10, 50)):
        for dtype in (np.float64, np.float32):
            W = (rng.random((two_k, d)) * 1e-3).astype(dtype)
            X = rng.random((100, d)).astype(dtype)
            pre, coef = np.zeros(two_k, dtype), np.full(two_k, 1e-9, dtype)
            reps = int(2e8 / (two_k * d))
            read = seconds_per_call(_read_passes, (W, X, pre, reps), reps)
            fused = seconds_per_call(_fused_passes, (W, coef, X, pre, reps), reps)
            print(f"  2k={two_k:>3} d={d:>3} {np.dtype(dtype).name}: W {W.nbytes / 1024:4.0f} KB | read-only "
                  f"{read * 1e9:7.0f} ns ({W.nbytes / read / 1e9:4.0f} GB/s) | fused update+forward "
                  f"{fused * 1e9:7.0f} ns ({2 * W.nbytes / fused / 1e9:4.0f} GB/s read+write)")
    two_k, d, reps = 10, 50, 2_000_000
    W, X = rng.random((two_k, d)) * 0.01, rng.standard_normal((1000, d))
    pre, coef = rng.standard_normal(two_k), np.full(two_k, 1e-6)
    coefficients = seconds_per_call(_coefficient_steps, (pre, coef, reps), reps)
    rows = seconds_per_call(_fused_passes, (W, coef, X, pre, reps), reps)
    print(f"a step at (d, k) = ({d}, {two_k // 2}), float64: coefficients {coefficients * 1e9:.0f} ns, "
          f"fused row loops {rows * 1e9:.0f} ns")
    print(f"fused epochs (n = 1000, k = 5), rows padded to a multiple of {ROW_BYTES} bytes: "
          "unpadded time / padded time (quartiles)")
    for d in (20, 30, 50, 62, 100, 300):
        cells = []
        for dtype in (np.float32, np.float64):
            median, (low, high) = padded_rows_speedup(rng, d, 5, dtype)
            cells.append(f"{np.dtype(dtype).name} {median:.2f}x ({low:.2f}-{high:.2f})")
        print(f"  d={d:>3} -> {_zero_padded(np.zeros((1, d))).shape[1]:>3} (float64), "
              f"{_zero_padded(np.zeros((1, d), np.float32)).shape[1]:>3} (float32): " + "  ".join(cells))
    print("the loss product W X^T (2k, n), best of 5: X^T as a view of X (NT) / X^T copied (NN)")
    for n, d, k in ((200, 20, 4), (200, 20, 64), (1000, 50, 5), (100, 50, 50), (1000, 50, 50), (1000, 784, 5),
                    (1000, 784, 50), (10000, 50, 5)):
        cells = []
        for dtype in (np.float64, np.float32):
            W = rng.standard_normal((2 * k, d)).astype(dtype)
            X = rng.standard_normal((n, d)).astype(dtype)
            HT = np.empty((2 * k, n), dtype)
            reps = max(2, int(1e8 / (4 * k * d * n)))
            view = min(seconds_per_call(_loss_products, (W, X.T, HT, reps), reps) for _ in range(5))
            copy = min(seconds_per_call(_loss_products, (W, np.ascontiguousarray(X.T), HT, reps), reps)
                       for _ in range(5))
            cells.append(f"{np.dtype(dtype).name} {view * 1e6:7.1f} / {copy * 1e6:7.1f} us = {view / copy:.2f}x")
        print(f"  (n, d, k) = {(n, d, k)}: " + "  ".join(cells))


if __name__ == "__main__":
    main()
