"""The kernels against a plain-NumPy reference, finite differences, and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kernels.blas import BLAS_AS_WIDE_AS_NUMBA, gemm
from kernels.gd import gd_train
from kernels.network import dataset_loss, loss_and_gradient, network_output, summed_loss
from kernels.sgd import SGDTrainer, sgd_train
from kernels.sgd_loops import delayed_steps_for, epoch_neuron_major
from tests import reference as ref


def separable_problem(n, d, k, seed, init=0.3):
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal(d)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    y = np.where(X @ teacher >= 0, 1.0, -1.0)
    W0 = init * rng.standard_normal((2 * k, d))
    return X, y, W0, rng


def orders(rng, epochs, n):
    return np.stack([rng.permutation(n) for _ in range(epochs)])


@pytest.mark.parametrize("n,d,k,alpha", [(7, 3, 1, 0.2), (20, 5, 3, 0.1), (15, 4, 2, 0.0),  # small: canonical
                                         (40, 11, 8, 0.5),    # 2k > d: feature-major
                                         (30, 37, 3, 0.3),    # 2k <= d, d >= 32: rows padded to 40
                                         (30, 37, 14, 0.3),
                                         (30, 20, 30, 0.2)])
def test_sgd_matches_numpy_reference(n, d, k, alpha):
    X, y, W0, rng = separable_problem(n, d, k, seed=n + d + k)
    order = orders(rng, 12, n)
    res = sgd_train(X, y, W0, order, alpha=alpha, v=0.7, lr=0.3, eps=0.05)
    replay = ref.sgd_reference(X, y, W0, order, alpha, 0.7, 0.3, 0.05)
    np.testing.assert_allclose(res.W, replay.W, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.loss, replay.losses, rtol=0, atol=1e-10)
    assert (res.E_clean, res.E_conv) == (replay.e_clean, replay.e_conv)
    assert (res.violating_steps, res.violating_steps_run) == (replay.violating, replay.violating_run)
    assert replay.violating_run > 0
    assert res.epochs_run == 12 and not res.diverged


@pytest.mark.parametrize("n,d,k,delayed_steps,dtype", [
    (40, 64, 16, 16, np.float64),   # 40 = 16 + 16 + 8: a short last block
    (70, 80, 20, 32, np.float64),
    (33, 50, 40, 1, np.float64),    # one point per block: plain SGD through BLAS
    (40, 64, 16, 16, np.float32),
])
def test_delayed_updates_match_numpy_reference(n, d, k, delayed_steps, dtype):
    """The steps with delayed updates (sgd_loops.epoch_delayed) are per-sample SGD."""
    X, y, W0, rng = separable_problem(n, d, k, seed=n + d + k)
    order = orders(rng, 12, n)
    res = sgd_train(X, y, W0, order, alpha=0.2, v=0.7, lr=0.3, eps=0.05, delayed_steps=delayed_steps, dtype=dtype)
    replay = ref.sgd_reference(X, y, W0, order, 0.2, 0.7, 0.3, 0.05)
    atol = 1e-10 if dtype == np.float64 else 1e-4 * np.abs(replay.W).max()
    np.testing.assert_allclose(res.W, replay.W, rtol=0, atol=atol)
    if dtype == np.float64:
        np.testing.assert_allclose(res.loss, replay.losses, rtol=0, atol=1e-10)
        assert (res.E_clean, res.E_conv) == (replay.e_clean, replay.e_conv)
        assert (res.violating_steps, res.violating_steps_run) == (replay.violating, replay.violating_run)


def test_delayed_updates_only_where_they_pay():
    """Small W keeps the fused loops whatever the BLAS; large W delays (sgd_loops.delayed_steps_for)."""
    assert delayed_steps_for(10, 784) == 0 and delayed_steps_for(100, 20) == 0
    assert delayed_steps_for(100, 784) == (12 if BLAS_AS_WIDE_AS_NUMBA else 24)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_writes_or_accumulates_into_a_block(dtype):
    """kernels.blas.gemm: C = op(A) op(B) or C += ..., into a sub-block of a larger array."""
    rng = np.random.default_rng(5)
    for trans_a in (False, True):
        for trans_b in (False, True):
            for accumulate in (False, True):
                A = rng.standard_normal((3, 5) if trans_a else (5, 3)).astype(dtype)
                B = rng.standard_normal((7, 3) if trans_b else (3, 7)).astype(dtype)
                outer = rng.standard_normal((9, 11)).astype(dtype)
                before = outer.copy()
                gemm(A, B, outer[:5, :7], trans_a, trans_b, accumulate, np.empty(6, dtype=np.int32))
                product = (A.T if trans_a else A) @ (B.T if trans_b else B)
                expected = before.copy()
                expected[:5, :7] = product + (before[:5, :7] if accumulate else 0)
                np.testing.assert_allclose(outer, expected, rtol=1e-5 if dtype == np.float32 else 1e-13)


def test_counts_are_reached_and_match_reference():
    X, y, W0, rng = separable_problem(30, 4, 4, seed=1, init=0.01)
    order = orders(rng, 300, 30)
    res = sgd_train(X, y, W0, order, alpha=0.3, lr=0.5, eps=0.1)
    replay = ref.sgd_reference(X, y, W0, order, 0.3, 1.0, 0.5, 0.1)
    assert res.E_clean == replay.e_clean > 0 and res.E_conv == replay.e_conv > 0
    assert res.violating_steps == replay.violating >= res.E_clean - 1
    assert res.violating_steps_run == replay.violating_run >= res.violating_steps


def test_stop_early_stops_at_both_counts():
    X, y, W0, rng = separable_problem(30, 4, 4, seed=1, init=0.01)
    order = orders(rng, 300, 30)
    full = sgd_train(X, y, W0, order, alpha=0.3, lr=0.5, eps=0.1)
    early = sgd_train(X, y, W0, order, alpha=0.3, lr=0.5, eps=0.1, stop_early=True)
    assert early.epochs_run == max(full.E_clean, full.E_conv)
    np.testing.assert_array_equal(early.loss, full.loss[: early.epochs_run])


def test_blocks_equal_one_run_and_snapshots_are_the_weights_then():
    X, y, W0, rng = separable_problem(25, 6, 3, seed=2)
    order = orders(rng, 20, 25)
    whole = sgd_train(X, y, W0, order, alpha=0.2, lr=0.2, eps=0.01)
    trainer = SGDTrainer(X, y, W0, alpha=0.2, lr=0.2, eps=0.01)
    snaps = [trainer.run_block(order[a:b], snapshot_at=[3, 9, 15]) for a, b in [(0, 7), (7, 12), (12, 20)]]
    np.testing.assert_array_equal(trainer.result().W, whole.W)
    np.testing.assert_array_equal(trainer.result().loss, whole.loss)
    assert [len(s) for s in snaps] == [1, 1, 1]
    W9 = sgd_train(X, y, W0, order[:9], alpha=0.2, lr=0.2, eps=0.01).W
    np.testing.assert_array_equal(snaps[1][0], W9)


@pytest.mark.parametrize("n,d,k,lr,stop_early,dtype", [
    (150, 6, 2, 0.3, False, np.float64),    # small networks: the canonical loss pass
    (150, 6, 2, 0.3, True, np.float64),
    (200, 4, 6, 0.2, True, np.float64),
    (200, 4, 6, 0.2, False, np.float32),
    (40, 5, 3, 1e300, False, np.float32),   # diverges
    (150, 37, 14, 0.1, True, np.float64),   # larger: neuron-major W, BLAS loss pass
    (150, 20, 30, 0.1, True, np.float64),   # larger: feature-major W^T (2k > d)
])
def test_loss_at_changes_only_the_losses_it_skips(n, d, k, lr, stop_early, dtype):
    """Asked for the loss at a few epochs only, SGD skips or cuts short the other loss
    passes; W, E_clean, E_conv, the stopping and divergence epochs stay the same."""
    X, y, W0, rng = separable_problem(n, d, k, seed=n + k, init=0.05)
    order = orders(rng, 400, n)
    kwargs = dict(alpha=0.2, lr=lr, eps=0.02, stop_early=stop_early, dtype=dtype)
    every = sgd_train(X, y, W0, order, **kwargs)
    some = sgd_train(X, y, W0, order, loss_at=[1, 2, 3, 10, 100], **kwargs)
    np.testing.assert_array_equal(some.W, every.W)
    assert (some.E_clean, some.E_conv, some.epochs_run, some.diverged) == (
        every.E_clean, every.E_conv, every.epochs_run, every.diverged)
    known = ~np.isnan(some.loss)
    np.testing.assert_allclose(some.loss[known], every.loss[known], rtol=1e-12)
    if every.diverged:
        assert not np.isfinite(some.loss[-1])
    else:
        wanted = np.array([e for e in (1, 2, 3, 10, 100, every.epochs_run) if e <= every.epochs_run])
        assert known[wanted - 1].all()
        assert not known.all(), "the other passes must be skipped"
        assert every.E_conv > 0, "the case must reach E_conv, to exercise both skips"


def test_bad_loss_at_names_the_field():
    X, y, W0, rng = separable_problem(10, 3, 2, seed=11)
    for bad in ([0, 3], [3, 3], [[1, 2]], [1.5]):
        with pytest.raises(ValueError, match="loss_at"):
            sgd_train(X, y, W0, orders(rng, 2, 10), alpha=0.1, lr=0.1, eps=0.01, loss_at=bad)


@pytest.mark.parametrize("d, k", [(5, 4), (20, 30), (37, 14)], ids=["small", "feature-major", "rows-padded"])
def test_float32_tracks_float64(d, k):
    """The float32 layouts: a small network (canonical order), W^T (2k > d), and rows
    padded with zero features (d % 8 != 0); snapshots and W come back unpadded."""
    X, y, W0, rng = separable_problem(30, d, k, seed=3)
    order = orders(rng, 10, 30)
    r64 = sgd_train(X, y, W0, order, alpha=0.1, lr=0.1, eps=0.01)
    trainer = SGDTrainer(X, y, W0, alpha=0.1, lr=0.1, eps=0.01, dtype=np.float32)
    snaps = trainer.run_block(order[:4], snapshot_at=[4])
    trainer.run_block(order[4:])
    r32 = trainer.result()
    assert r32.W.dtype == np.float32 and snaps.shape == (1,) + W0.shape
    np.testing.assert_allclose(snaps[0], sgd_train(X, y, W0, order[:4], alpha=0.1, lr=0.1, eps=0.01).W,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r32.W, r64.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r32.loss, r64.loss, rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_features_change_no_bit_of_the_neuron_major_steps(dtype):
    """Rows padded with zero features (kernels/sgd.py ROW_BYTES) give the unpadded rows'
    numbers exactly: the padding is a speed choice, never a change of results."""
    X, y, W0, rng = separable_problem(40, 13, 3, seed=8)
    perm = rng.permutation(40)
    results = []
    for extra in (0, 3, 11):
        Xp = np.zeros((40, 13 + extra), dtype=dtype)
        Wp = np.zeros((6, 13 + extra), dtype=dtype)
        Xp[:, :13], Wp[:, :13] = X, W0
        pre, coef = np.empty(6, dtype=dtype), np.empty(6, dtype=dtype)
        violating = epoch_neuron_major(Xp, y, Wp, perm, 0.1, 1.0, 0.5, -1.0, pre, coef)
        assert not Wp[:, 13:].any()
        results.append((violating, Wp[:, :13].copy()))
    for violating, W in results[1:]:
        assert violating == results[0][0]
        np.testing.assert_array_equal(W, results[0][1])


def test_output_and_loss_match_reference():
    X, y, W0, _ = separable_problem(50, 7, 5, seed=4)
    np.testing.assert_allclose(network_output(X, W0, 0.2, 1.3), ref.output(W0, X, 0.2, 1.3), atol=1e-12)
    assert dataset_loss(W0, X, y, 0.2, 1.3) == pytest.approx(ref.dataset_loss(W0, X, y, 0.2, 1.3), abs=1e-12)


def test_loss_is_stable_at_large_margins():
    X = np.array([[1.0], [-1.0]])
    y = np.array([1.0, -1.0])
    W = np.array([[1e3], [-1e3]])
    assert 0.0 <= dataset_loss(W, X, y, 0.1, 1.0) < 1e-300
    assert dataset_loss(-W, X, y, 0.1, 1.0) == pytest.approx(1100.0)


def test_summed_loss_keeps_small_losses_precise():
    """One log1p per chunk of points (kernels.network.summed_loss) against a log1p per point."""
    rng = np.random.default_rng(12)
    margins = np.concatenate([rng.uniform(-40.0, 40.0, 300), rng.uniform(30.0, 700.0, 700)])
    y = rng.choice([-1.0, 1.0], margins.size)
    net = margins * y / 1.5  # y v net = margin with v = 1.5
    plain = sum(math.log1p(math.exp(-z)) if z > 0 else -z + math.log1p(math.exp(z)) for z in margins)
    assert summed_loss(y, 1.5, net) == pytest.approx(plain, rel=1e-13)
    small = margins[300:]  # losses from e^-30 down to e^-700
    assert summed_loss(np.ones(700), 1.0, small) == pytest.approx(np.sum(np.exp(-small)), rel=1e-13)
    assert math.isnan(summed_loss(np.ones(3), 1.0, np.array([1.0, np.nan, 2.0])))
    assert summed_loss(np.ones(2), 1.0, np.array([1.0, -np.inf])) == np.inf


def test_sgd_gradient_matches_finite_differences():
    """The kernel's step is W - lr * grad l(y N_W(x)); check grad by central differences."""
    X, y, W0, _ = separable_problem(5, 6, 3, seed=5, init=1.0)
    alpha, v, lr, h = 0.3, 0.8, 1e-3, 1e-6
    for i in range(5):
        one = sgd_train(X[i:i + 1], y[i:i + 1], W0, np.array([[0]]), alpha=alpha, v=v, lr=lr, eps=0.1)
        kernel_grad = (W0 - one.W) / lr
        fd = np.zeros_like(W0)
        for idx in np.ndindex(W0.shape):
            Wp, Wm = W0.copy(), W0.copy()
            Wp[idx] += h
            Wm[idx] -= h
            fd[idx] = (ref.loss(y[i] * ref.output(Wp, X[i:i + 1], alpha, v))[0]
                       - ref.loss(y[i] * ref.output(Wm, X[i:i + 1], alpha, v))[0]) / (2 * h)
        assert np.min(np.abs(W0 @ X[i])) > 1e-3, "the test point must be away from the kinks"
        np.testing.assert_allclose(kernel_grad, fd, rtol=1e-5, atol=1e-8)


def test_full_batch_gradient_matches_finite_differences():
    X, y, W0, _ = separable_problem(12, 4, 2, seed=6, init=1.0)
    grad = np.empty_like(W0)
    loss = loss_and_gradient(W0, X, y, 0.25, 1.1, grad)
    assert loss == pytest.approx(ref.dataset_loss(W0, X, y, 0.25, 1.1), abs=1e-12)
    h = 1e-6
    for idx in np.ndindex(W0.shape):
        Wp, Wm = W0.copy(), W0.copy()
        Wp[idx] += h
        Wm[idx] -= h
        fd = (ref.dataset_loss(Wp, X, y, 0.25, 1.1) - ref.dataset_loss(Wm, X, y, 0.25, 1.1)) / (2 * h)
        assert grad[idx] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_normalised_gd_follows_plain_gd_direction():
    """Loss-normalised GD at step lr/L equals plain GD at step lr for one step (THEORY.md §4)."""
    X, y, W0, _ = separable_problem(20, 3, 2, seed=7)
    W_norm, log_loss = gd_train(X, y, W0, alpha=0.2, lr=0.1, steps=1, normalised=True)
    W_plain, _ = gd_train(X, y, W0, alpha=0.2, lr=0.1 / np.exp(log_loss[0]), steps=1)
    np.testing.assert_allclose(W_norm, W_plain, rtol=1e-12, atol=1e-14)
    W_far, log_far = gd_train(X, y, W0, alpha=0.2, lr=500.0, steps=3000, normalised=True)
    assert np.all(np.isfinite(W_far)) and log_far[-1] < -1000  # far past where L_S underflows


def test_diverging_run_is_recorded_not_raised():
    X, y, W0, rng = separable_problem(20, 4, 2, seed=8)
    res = sgd_train(X, y, W0, orders(rng, 50, 20), alpha=0.1, lr=1e300, eps=0.01, dtype=np.float32)
    assert res.diverged and res.epochs_run < 50 and not np.isfinite(res.loss[-1])


@pytest.mark.parametrize("change,field", [
    (dict(alpha=1.0), "alpha"), (dict(alpha=-0.1), "alpha"), (dict(lr=0.0), "lr"), (dict(lr=-1.0), "lr"),
    (dict(eps=0.0), "eps"), (dict(eps=float("nan")), "eps"), (dict(v=0.0), "v"),
    (dict(delayed_steps=-1), "delayed_steps"), (dict(delayed_steps=2.5), "delayed_steps"),
])
def test_bad_scalars_name_the_field(change, field):
    X, y, W0, rng = separable_problem(10, 3, 2, seed=9)
    kwargs = dict(alpha=0.1, lr=0.1, eps=0.01) | change
    with pytest.raises(ValueError, match=field):
        sgd_train(X, y, W0, orders(rng, 2, 10), **kwargs)


def test_bad_arrays_name_the_field():
    X, y, W0, rng = separable_problem(10, 3, 2, seed=10)
    order = orders(rng, 2, 10)
    kw = dict(alpha=0.1, lr=0.1, eps=0.01)
    bad_X = X.copy()
    bad_X[3, 1] = np.nan
    cases = [
        ((bad_X, y, W0, order), "X must be finite"),
        ((np.where(X > 0, np.inf, X), y, W0, order), "X must be finite"),
        ((X, np.r_[y[:-1], 0.0], W0, order), "y must hold labels"),
        ((X, y[:-1], W0, order), r"y must have shape"),
        ((X, y, W0[:, :2], order), "W0 must have shape"),
        ((X, y, W0[:3], order), "W0 must have an even number"),
        ((X, y, W0[:0], order), "width k >= 1"),
        ((X, y, W0, order[:, :5]), "order must be"),
        ((X, y, W0, np.stack([np.zeros(10, int), np.arange(10)])), "order row 0 is not a permutation"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            sgd_train(*args, **kw)
