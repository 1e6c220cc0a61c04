"""Numba's disk cache (kernels/jit.py) changes no number: a process that compiles the
kernels and a process that loads them from the cache compute bit-identical results."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Every kernel layout of SGD (neuron-major, feature-major, delayed updates through BLAS),
# float64 and float32, and the metrics with their reassociated sums.
PROBE = """
import hashlib, numpy as np
from kernels import sgd_train, training_metrics
digest = hashlib.sha256()
rng = np.random.default_rng(0)
for n, d, k, dtype in ((200, 20, 64, np.float64), (200, 20, 4, np.float64), (120, 110, 60, np.float64),
                       (200, 20, 64, np.float32)):
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    y = np.sign(X @ rng.standard_normal(d))
    W0 = 1e-3 * rng.standard_normal((2 * k, d))
    order = np.array([rng.permutation(n) for _ in range(5)])
    r = sgd_train(X, y, W0, order, alpha=0.1, lr=0.05, eps=0.01, dtype=dtype, delayed_steps=24 if d > 100 else 0)
    metrics = np.empty(8)
    training_metrics(r.W, X.astype(dtype), y, X[:10].astype(dtype), metrics)
    for array in (r.W, r.loss, metrics):
        digest.update(np.ascontiguousarray(array).tobytes())
print(digest.hexdigest())
"""


@pytest.mark.slow
def test_cached_kernels_compute_what_fresh_ones_do(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    run = lambda: subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                                 check=True).stdout.strip()
    compiled = run()                      # an empty cache: compiles, and writes the cache
    assert any((tmp_path / "numba-cache").rglob("*.nbc"))
    assert run() == compiled              # loads every kernel from the cache
