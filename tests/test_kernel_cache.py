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
from kernels.metrics import training_metrics
from kernels.sgd import sgd_train
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


TRAIN = """
import numpy as np
from kernels.sgd import sgd_train
rng = np.random.default_rng(0)
X = rng.standard_normal((30, 20)); y = np.sign(X @ rng.standard_normal(20)); W0 = 1e-2 * rng.standard_normal((128, 20))
print(repr(float(sgd_train(X, y, W0, np.array([rng.permutation(30) for _ in range(3)]), alpha=0.1, lr=0.05,
                            eps=0.01).W.sum())))
"""


@pytest.mark.slow
def test_editing_a_callee_in_another_file_recompiles_its_callers(tmp_path):
    """Numba keys a cache on the function's own file; kernels/jit.py keys it on the package."""
    import shutil
    from pathlib import Path

    root = Path(__file__).parent.parent
    shutil.copytree(root / "kernels", tmp_path / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}
    run = lambda: subprocess.run([sys.executable, "-c", TRAIN], env=env, cwd=tmp_path, capture_output=True, text=True,
                                 check=True).stdout.strip()
    before = run()
    assert run() == before  # from the cache
    losses = tmp_path / "kernels" / "losses.py"  # the loss slope, called by the SGD loops in sgd_loops.py
    losses.write_text(losses.read_text().replace("return e / (1.0 + e)", "return 2.0 * e / (1.0 + e)")
                      .replace("return 1.0 / (1.0 + math.exp(z))", "return 2.0 / (1.0 + math.exp(z))"))
    assert run() != before
