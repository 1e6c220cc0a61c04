"""Every entry of tests/conformance.py against its plain-NumPy reference, and every path of
the SGD kernels reached by the shapes the table gives for it."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.orders import SeededOrders, seeded_orders
from kernels.sgd import LAYOUTS, SGDTrainer
from kernels.sgd_batched import SGDBatchResult, batch_trainer
from tests import reference as ref
from tests.conformance import (KERNEL_COMPARISONS, LANE_LAYOUTS, SGD_COUNT_BLOCKS, SGD_COUNT_SETTINGS, SGD_PATHS,
                               SGD_SETTINGS, SGD_TEST_EPOCHS, SGD_TOLERANCE, SGDPath, sgd_problem)

DTYPES = (np.float64, np.float32)
# The counts of a run held against the replay's e_clean, e_conv, violating, violating_run.
COUNTS = ("E_clean", "E_conv", "violating_steps", "violating_steps_run")


def trainer_for(path: SGDPath, X, y, W0s, settings, dtype):
    """The path's trainer of the runs W0s (R, 2k, d) on (X, y) with ``settings``."""
    if path.layout in LANE_LAYOUTS or W0s.shape[0] > 1:
        return batch_trainer(X, y, W0s, **settings, dtype=dtype)
    return SGDTrainer(X, y, W0s[0], delayed_steps=path.delayed_steps, **settings, dtype=dtype)


def run_blocks(path: SGDPath, trainer, orders, cuts):
    """Run ``trainer`` through the visiting orders (R, epochs, n) in blocks [cuts[i],
    cuts[i + 1]): the orders themselves, or, for a seeded path, the same drawn in the
    kernel from seed r for run r (kernels.orders.seeded_orders)."""
    runs = orders.shape[0]
    for start, stop in zip(cuts[:-1], cuts[1:]):
        if path.seeded:
            trainer.run_block(SeededOrders(np.arange(runs) if runs > 1 else 0, stop - start))
        else:
            trainer.run_block(orders[:, start:stop] if runs > 1 else orders[0, start:stop])
    return trainer.result()


def run_of(result, name: str, r: int):
    """Run r's ``name`` in a batch result (SGDBatchResult), or the one run's (TrainingResult)."""
    value = getattr(result, name)
    return value[r] if isinstance(result, SGDBatchResult) else value


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("path", SGD_PATHS, ids=lambda p: p.name)
def test_sgd_path_follows_the_numpy_replay(path, dtype):
    """The path is the one its shape selects, and each run's W, losses and counts are
    those of the step-by-step replay (THEORY.md §1-2): float64 to rounding, float32 to
    its precision."""
    n, d, k, runs = path.test_shape
    X, y, W0s = sgd_problem(n, d, k, runs, seed=n + d + k)
    trainer = trainer_for(path, X, y, W0s, SGD_SETTINGS, dtype)
    assert trainer.layout == path.layout
    orders = np.stack([seeded_orders(r, SGD_TEST_EPOCHS, n) for r in range(runs)])
    result = run_blocks(path, trainer, orders, (0, SGD_TEST_EPOCHS))
    tolerance = SGD_TOLERANCE[dtype]
    for r in range(runs):
        replay = ref.sgd_reference(X, y, W0s[r], orders[r], **SGD_SETTINGS)
        np.testing.assert_allclose(run_of(result, "W", r), replay.W, rtol=tolerance,
                                   atol=tolerance * np.abs(replay.W).max())
        np.testing.assert_allclose(run_of(result, "loss", r), replay.losses, rtol=100 * tolerance)
        if dtype == np.float64:
            counts = tuple(int(run_of(result, name, r)) for name in COUNTS)
            assert counts == (replay.e_clean, replay.e_conv, replay.violating, replay.violating_run)


@pytest.mark.parametrize("path", SGD_PATHS, ids=lambda p: p.name)
def test_sgd_path_counts_the_violating_steps_of_the_replay(path):
    """On data with a margin and a large step, where every run reaches E_clean, each run's
    E_clean, V (violating steps before it) and violating steps of the whole run are the
    replay's (THEORY.md §2.1), the run cut into blocks."""
    n, d, k, runs = path.test_shape
    X, y, rng = ref.margin_data(n, d, seed=n + d + k)
    W0s = 0.1 * rng.standard_normal((runs, 2 * k, d))
    trainer = trainer_for(path, X, y, W0s, SGD_COUNT_SETTINGS, np.float64)
    assert trainer.layout == path.layout
    orders = np.stack([seeded_orders(r, SGD_COUNT_BLOCKS[-1], n) for r in range(runs)])
    result = run_blocks(path, trainer, orders, SGD_COUNT_BLOCKS)
    for r in range(runs):
        replay = ref.sgd_reference(X, y, W0s[r], orders[r], **SGD_COUNT_SETTINGS)
        assert replay.e_clean > 0 and replay.violating >= replay.e_clean - 1  # each epoch before has one
        counts = tuple(int(run_of(result, name, r)) for name in COUNTS)
        assert counts == (replay.e_clean, replay.e_conv, replay.violating, replay.violating_run)


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
