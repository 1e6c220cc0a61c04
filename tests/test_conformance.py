"""Every entry of tests/conformance.py against its plain-NumPy reference, and every path of
the SGD kernels reached by the shapes the table gives for it."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.orders import SeededOrders, seeded_orders
from kernels.sgd import LAYOUTS, SGDTrainer
from kernels.sgd_batched import batch_trainer
from tests import reference as ref
from tests.conformance import (KERNEL_COMPARISONS, LANE_LAYOUTS, SGD_PATHS, SGD_SETTINGS, SGD_TEST_EPOCHS,
                               SGD_TOLERANCE, SGDPath, sgd_problem)

DTYPES = (np.float64, np.float32)


def trainer_for(path: SGDPath, shape, dtype):
    """(trainer, X, y, W0s, orders): the path's trainer on a problem of ``shape``, and the
    explicit visiting orders (R, epochs, n) it will follow."""
    n, d, k, runs = shape
    X, y, W0s = sgd_problem(n, d, k, runs, seed=n + d + k)
    settings = dict(alpha=SGD_SETTINGS["alpha"], v=SGD_SETTINGS["v"], lr=SGD_SETTINGS["lr"],
                    eps=SGD_SETTINGS["eps"], dtype=dtype)
    if path.layout in LANE_LAYOUTS or runs > 1:
        trainer = batch_trainer(X, y, W0s, **settings)
    else:
        trainer = SGDTrainer(X, y, W0s[0], delayed_steps=path.delayed_steps, **settings)
    orders = np.stack([seeded_orders(r, SGD_TEST_EPOCHS, n) for r in range(runs)])
    return trainer, X, y, W0s, orders


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("path", SGD_PATHS, ids=lambda p: p.name)
def test_sgd_path_follows_the_numpy_replay(path, dtype):
    """The path is the one its shape selects, and each run's W, losses and counts are
    those of the step-by-step replay (THEORY.md §1-2): float64 to rounding, float32 to
    its precision."""
    trainer, X, y, W0s, orders = trainer_for(path, path.test_shape, dtype)
    assert trainer.layout == path.layout
    runs = W0s.shape[0]
    if path.seeded:
        block = SeededOrders(np.arange(runs) if runs > 1 else 0, SGD_TEST_EPOCHS)
    else:
        block = orders if runs > 1 else orders[0]
    trainer.run_block(block)
    result = trainer.result()
    tolerance = SGD_TOLERANCE[dtype]
    for r in range(runs):
        W, losses, e_clean, e_conv = ref.sgd_reference(X, y, W0s[r], orders[r], SGD_SETTINGS["alpha"],
                                                       SGD_SETTINGS["v"], SGD_SETTINGS["lr"], SGD_SETTINGS["eps"])
        got_W = result.W[r] if runs > 1 else result.W
        got_loss = result.loss[r] if runs > 1 else result.loss
        np.testing.assert_allclose(got_W, W, rtol=tolerance, atol=tolerance * np.abs(W).max())
        np.testing.assert_allclose(got_loss, losses, rtol=100 * tolerance)
        if dtype == np.float64:
            counts = (result.E_clean[r], result.E_conv[r]) if runs > 1 else (result.E_clean, result.E_conv)
            assert tuple(int(c) for c in counts) == (e_clean, e_conv)


@pytest.mark.parametrize("path", SGD_PATHS, ids=lambda p: p.name)
def test_benchmark_shapes_select_their_path(path):
    """The shapes benchmarks time for a path are that path, in both dtypes."""
    n, d, k, runs = path.bench_shape
    X, y, W0s = np.zeros((n, d)), np.ones(n), np.ones((runs, 2 * k, d))
    for dtype in DTYPES:
        if path.layout in LANE_LAYOUTS:
            layout = batch_trainer(X, y, W0s, alpha=0.1, lr=0.1, eps=0.1, dtype=dtype).layout
        else:
            layout = SGDTrainer(X, y, W0s[0], alpha=0.1, lr=0.1, eps=0.1, dtype=dtype,
                                delayed_steps=path.delayed_steps).layout
        assert layout == path.layout


def test_every_layout_has_a_path():
    assert {p.layout for p in SGD_PATHS} == set(LAYOUTS) | set(LANE_LAYOUTS)
    assert len({p.name for p in SGD_PATHS}) == len(SGD_PATHS)


@pytest.mark.parametrize("comparison", KERNEL_COMPARISONS, ids=lambda c: c.name)
def test_kernel_matches_its_numpy_reference(comparison):
    rng = np.random.default_rng(17)
    for _ in range(3):
        arguments = comparison.make(rng)
        np.testing.assert_allclose(comparison.kernel(*arguments), comparison.reference(*arguments),
                                   rtol=comparison.rtol, atol=comparison.atol)
