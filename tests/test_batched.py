"""Many runs per kernel call (kernels.sgd_train_many, batch_trainer): each run is bit for
bit its own sgd_train call, whatever the other runs, the layout or the blocks."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.orders import SeededOrders, seeded_orders
from kernels.sgd import SGDTrainer, sgd_train, trains_in_canonical_order
from kernels.sgd_batched import (LANES_SHUFFLE_POINTS, MIN_LANES, batch_trainer, lane_layout, sgd_train_many,
                                 trains_as_lanes)
from tests import reference as ref


def problem(n, d, k, runs, seed, init=0.3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    y = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    return X, y, init * rng.standard_normal((runs, 2 * k, d)), rng


def assert_same_run(batch, r, one, epochs=None):
    """Run r of a batch result is bit for bit ``one`` (a TrainingResult)."""
    assert (batch.E_clean[r], batch.E_conv[r], batch.epochs_run[r], batch.diverged[r], batch.violating_steps[r],
            batch.violating_steps_run[r]) == (one.E_clean, one.E_conv, one.epochs_run, one.diverged,
                                              one.violating_steps, one.violating_steps_run)
    np.testing.assert_array_equal(batch.W[r], one.W)
    np.testing.assert_array_equal(batch.loss[r, :one.epochs_run], one.loss)
    assert np.isnan(batch.loss[r, one.epochs_run:]).all()


@pytest.mark.parametrize("n,d,k,dtype", [
    (30, 2, 4, np.float64),    # lanes
    (25, 5, 3, np.float32),    # lanes, odd d, float32; one run diverges
    (40, 3, 1, np.float64),    # lanes, k = 1 (no run converges)
    (30, 1, 2, np.float64),    # lanes, d = 1 (one pass over the features)
    (30, 2, 6, np.float32),    # lanes, d = 2, 2k = 12 (neurons past the 8 partial sums)
    (30, 6, 2, np.float32),    # lanes, three passes (first, middle, last)
    (20, 40, 16, np.float64),  # per-run layout (d * 2k above CANONICAL_LIMIT)
])
def test_runs_equal_their_own_sgd_train_bit_for_bit(n, d, k, dtype):
    """Random per-run alpha, lr, eps, v and seeds; stop_early, so that runs finish at
    different epochs (and leave the lanes: 40 runs take 64 lanes, then 32, then none);
    in float32 a huge lr makes one run diverge."""
    runs = 40
    X, y, W0s, rng = problem(n, d, k, runs, seed=n + d + k, init=0.01)
    alpha, lr = rng.uniform(0.05, 0.5, runs), rng.uniform(0.5, 2.0, runs)
    eps, v = rng.uniform(0.05, 0.5, runs), rng.uniform(0.7, 1.3, runs)
    if dtype == np.float32:
        lr[4] = 1e300
    seeds = rng.integers(0, 2**63, runs)
    kwargs = dict(stop_early=True, dtype=dtype, loss_at=[1, 2, 5, 30])
    batch = sgd_train_many(X, y, W0s, SeededOrders(seeds, 150), alpha=alpha, lr=lr, eps=eps, v=v, **kwargs)
    for r in range(runs):
        one = sgd_train(X, y, W0s[r], SeededOrders(int(seeds[r]), 150), alpha=alpha[r], lr=lr[r], eps=eps[r],
                        v=v[r], **kwargs)
        assert_same_run(batch, r, one)
    if k > 1 and d > 1:  # (the d = 1 runs all take the 150 epochs)
        assert len(set(batch.epochs_run)) > 2, "runs must stop at different epochs"
        assert np.count_nonzero(batch.epochs_run < 150) > 8, "the lanes must narrow"
    assert batch.diverged.sum() == (dtype == np.float32)


def test_orders_of_many_points_are_drawn_run_by_run_in_the_lanes():
    """Above LANES_SHUFFLE_POINTS the lanes draw each run's orders run by run: the same runs."""
    n, runs = LANES_SHUFFLE_POINTS + 44, MIN_LANES["narrow"] + 4
    X, y, W0s, rng = problem(n, 2, 3, runs, seed=11)
    seeds = rng.integers(0, 2**63, runs)
    batch = sgd_train_many(X, y, W0s, SeededOrders(seeds, 3), alpha=0.2, lr=0.5, eps=0.05)
    for r in range(runs):
        assert_same_run(batch, r, sgd_train(X, y, W0s[r], SeededOrders(int(seeds[r]), 3), alpha=0.2, lr=0.5, eps=0.05))


def test_lanes_past_e_conv_without_the_loss_check_only_that_it_is_finite():
    """Without stop_early and with the loss asked at few epochs, a lane past E_conv only
    checks that its loss is finite (from max |w| of its lane, as the per-run kernel does
    from its W): the same runs."""
    n, runs = 30, MIN_LANES["narrow"] + 8
    X, y, W0s, rng = problem(n, 2, 4, runs, seed=12)
    seeds = rng.integers(0, 2**63, runs)
    kw = dict(alpha=0.3, lr=1.0, eps=0.2, loss_at=[1, 40])
    batch = sgd_train_many(X, y, W0s, SeededOrders(seeds, 40), **kw)
    assert ((batch.E_conv > 0) & (batch.E_conv < 39)).sum() > runs // 2
    for r in range(runs):
        assert_same_run(batch, r, sgd_train(X, y, W0s[r], SeededOrders(int(seeds[r]), 40), **kw))


def test_explicit_orders_loss_every_epoch_and_blocks_with_snapshots():
    """Explicit orders; the loss after every epoch; a batch cut into blocks with
    snapshots equals runs cut likewise, and the whole run."""
    n, d, k, runs = 24, 3, 2, 6
    X, y, W0s, rng = problem(n, d, k, runs, seed=3)
    orders = np.stack([np.stack([rng.permutation(n) for _ in range(20)]) for _ in range(runs)])
    whole = sgd_train_many(X, y, W0s, orders, alpha=0.2, lr=0.3, eps=0.05)
    trainer = batch_trainer(X, y, W0s, alpha=0.2, lr=0.3, eps=0.05)
    snaps = [trainer.run_block(orders[:, a:b], snapshot_at=[4, 9, 15]) for a, b in [(0, 7), (7, 12), (12, 20)]]
    blocked = trainer.result()
    for r in range(runs):
        one = sgd_train(X, y, W0s[r], orders[r], alpha=0.2, lr=0.3, eps=0.05)
        assert_same_run(whole, r, one)
        assert_same_run(blocked, r, one)
        single = SGDTrainer(X, y, W0s[r], alpha=0.2, lr=0.3, eps=0.05)
        for (shots, reached), (a, b) in zip(snaps, [(0, 7), (7, 12), (12, 20)]):
            expected = single.run_block(orders[r, a:b], snapshot_at=[4, 9, 15])
            np.testing.assert_array_equal(shots[r][reached[r]], expected)
    assert [int(reached.sum()) for _, reached in snaps] == [runs, runs, runs]


def test_a_run_does_not_depend_on_the_other_runs():
    """The same run alone, among 3 others and among 40 (lanes of other widths): equal."""
    n, d, k = 30, 2, 3
    X, y, W0s, rng = problem(n, d, k, 40, seed=5)
    alphas = rng.uniform(0.0, 0.5, 40)
    results = [sgd_train_many(X, y, W0s[:size], SeededOrders(np.arange(size), 60), alpha=alphas[:size], lr=0.2,
                              eps=0.05, stop_early=True)
               for size in (1, MIN_LANES["narrow"], 40)]
    for other in results[1:]:
        np.testing.assert_array_equal(other.W[0], results[0].W[0])
        np.testing.assert_array_equal(other.loss[0], results[0].loss[0])


@pytest.mark.parametrize("d", [2, 3])
def test_lanes_follow_the_numpy_reference(d):
    """The lanes (narrow d <= 2, wide d > 2; enough runs that lanes are used) run per-sample
    SGD in the canonical order: as the plain-NumPy replay of every run, to rounding."""
    n, k, runs = 20, 4, MIN_LANES[lane_layout(d)] + 3
    X, y, W0s, rng = problem(n, d, k, runs, seed=8)
    orders = np.stack([seeded_orders(s, 8, n) for s in range(runs)])
    alphas = rng.uniform(0.05, 0.4, runs)
    trainer = batch_trainer(X, y, W0s, alpha=alphas, lr=0.4, eps=0.05, v=0.8)
    assert trainer.layout == f"lanes {lane_layout(d)}"
    trainer.run_block(orders)
    batch = trainer.result()
    for r in range(runs):
        replay = ref.sgd_reference(X, y, W0s[r], orders[r], alphas[r], 0.8, 0.4, 0.05)
        np.testing.assert_allclose(batch.W[r], replay.W, rtol=0, atol=1e-12)
        np.testing.assert_allclose(batch.loss[r], replay.losses, rtol=1e-12)
        assert (batch.E_clean[r], batch.E_conv[r]) == (replay.e_clean, replay.e_conv)
        assert (batch.violating_steps[r], batch.violating_steps_run[r]) == (replay.violating, replay.violating_run)


def test_layouts_are_chosen_by_size_and_run_count():
    for d, few in ((2, MIN_LANES["narrow"]), (3, MIN_LANES["wide"])):
        X, y, W0s, _ = problem(10, d, 2, few, seed=1)
        assert trains_in_canonical_order(4, d)
        assert batch_trainer(X, y, W0s, alpha=0.1, lr=0.1, eps=0.1).layout == f"lanes {lane_layout(d)}"
        assert batch_trainer(X, y, W0s[:few - 1], alpha=0.1, lr=0.1, eps=0.1).layout == "run by run"
        assert trains_as_lanes(few, 4, d, 8) and not trains_as_lanes(few - 1, 4, d, 8)
    assert not trains_in_canonical_order(100, 50) and not trains_as_lanes(1000, 100, 50, 8)


def test_bad_arguments_name_what_is_wrong():
    X, y, W0s, rng = problem(10, 2, 2, 3, seed=2)
    orders = SeededOrders([0, 1, 2], 2)
    kw = dict(alpha=0.1, lr=0.1, eps=0.1)
    cases = [
        (dict(alpha=[0.1, 0.2]), "alpha must be a number or an array of one per run"),
        (dict(alpha=[0.1, 0.2, 1.0]), "alpha must be in"),
        (dict(lr=[0.1, -1.0, 0.1]), "lr must be a finite number > 0"),
        (dict(v=0.0), "v must be a finite number > 0"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            sgd_train_many(X, y, W0s, orders, **(kw | change))
    with pytest.raises(ValueError, match="seeds must hold one seed per run"):
        sgd_train_many(X, y, W0s, SeededOrders([0, 1], 2), **kw)
    with pytest.raises(ValueError, match="seeds must be integers"):
        sgd_train_many(X, y, W0s, SeededOrders([0, 1, -2], 2), **kw)
    with pytest.raises(ValueError, match="epochs must be an integer"):
        SeededOrders([0, 1, 2], -1)
    with pytest.raises(ValueError, match=r"order\[1\] row 0 is not a permutation"):
        bad = np.stack([np.stack([rng.permutation(10)]) for _ in range(3)])
        bad[1, 0, 0] = bad[1, 0, 1]
        sgd_train_many(X, y, W0s, bad, **kw)
    with pytest.raises(ValueError, match=r"shape \(3, epochs, 10\)"):
        sgd_train_many(X, y, W0s, np.zeros((2, 1, 10), dtype=int), **kw)
    with pytest.raises(ValueError, match="W0s must be an array"):
        sgd_train_many(X, y, W0s[0], orders, **kw)
    with pytest.raises(ValueError, match=r"shared_XT must be X.T as a C-contiguous float64 array of shape \(2, 10\)"):
        SGDTrainer(X, y, W0s[0], shared_XT=np.ascontiguousarray(X), **kw)
