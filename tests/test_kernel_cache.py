"""A run's numbers do not depend on who compiled the kernels (kernels/jit.py): Dask
workers that compile into an empty cache, a process that loads their cache, and a
process that compiles alone all write bit-identical stores, in either order; no kernel
is compiled with fastmath; the cache of every kernel follows edits of any kernel file."""
from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from numba.core.registry import CPUDispatcher

import kernels
from tests.store_contents import stored_runs

ROOT = Path(__file__).resolve().parent.parent

# The SGD paths of one run (kernels/sgd.py): the canonical order (width 2, d = 20),
# feature-major (2k > d), neuron-major (ordered sums), delayed blocks (2k >= 32, d >= 100
# on any BLAS), in float64 and float32; the metrics along training; GD runs.
HISTORY_SPEC = """\
name: compile-history
params: {dataset: linear_teacher, n: 150, n_test: 50, margin: 0.05, lr: 0.05, eps: 0.01, max_epochs: 25,
         stop_early: false}
grid:
  seed: [0, 1]
  width: [2, 4, 64]
  d: [20, 130]
  dtype: [float64, float32]
  optimizer: [sgd, gd]
"""


def kernel_dispatchers():
    """Every Numba dispatcher defined in the kernels package."""
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"kernels.{info.name}")
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module.__name__:
                yield value


def test_no_kernel_is_compiled_with_fastmath():
    found = list(kernel_dispatchers())
    assert len(found) > 50
    assert [d.py_func.__qualname__ for d in found if d.targetoptions.get("fastmath")] == []


def sweep_run(spec: Path, store: Path, cache: Path, *extra: str) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-m", "sweep", "run", str(spec), "--store", str(store), *extra], env=env,
                   cwd=ROOT, check=True, capture_output=True, text=True)


stored_numbers = stored_runs


@pytest.mark.slow
def test_stores_do_not_depend_on_which_process_compiled_the_kernels(tmp_path):
    spec = tmp_path / "history.yaml"
    spec.write_text(HISTORY_SPEC)
    # Dask workers compile into an empty cache; then a fresh process runs from their cache.
    sweep_run(spec, tmp_path / "workers_compiled.zarr", tmp_path / "cache_a")
    assert any((tmp_path / "cache_a").rglob("*.nbc"))
    sweep_run(spec, tmp_path / "loaded_workers_cache.zarr", tmp_path / "cache_a", "--serial")
    # The reverse: one process compiles alone; then Dask workers run from its cache.
    sweep_run(spec, tmp_path / "serial_compiled.zarr", tmp_path / "cache_b", "--serial")
    sweep_run(spec, tmp_path / "workers_loaded.zarr", tmp_path / "cache_b")
    reference = stored_numbers(tmp_path / "serial_compiled.zarr")
    assert bool(reference["done"].all()) and np.isfinite(reference["final_loss"]).all()
    for other in ("workers_compiled", "loaded_workers_cache", "workers_loaded"):
        xr.testing.assert_identical(stored_numbers(tmp_path / f"{other}.zarr"), reference)


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
    shutil.copytree(ROOT / "kernels", tmp_path / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}
    run = lambda: subprocess.run([sys.executable, "-c", TRAIN], env=env, cwd=tmp_path, capture_output=True, text=True,
                                 check=True).stdout.strip()
    before = run()
    assert run() == before  # from the cache
    losses = tmp_path / "kernels" / "losses.py"  # the loss slope, called by the SGD loops in sgd_loops.py
    text = losses.read_text()
    edited = text.replace("return quotient(e if z >= 0.0 else 1.0, 1.0 + e)",
                          "return quotient(2.0 * e if z >= 0.0 else 2.0, 1.0 + e)")
    assert edited != text
    losses.write_text(edited)
    assert run() != before
