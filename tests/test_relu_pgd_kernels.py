"""kernels/pgd.py against a plain-NumPy PGD written from THEORY.md §6.1, the gradient
against finite differences, and the derived facts at w_0 = 0."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.pgd import pgd_relu, relu_loss_gradient
from kernels.projections import PROJECTIONS
from tests.test_projections import hard_threshold_reference, l1_ball_reference


def relu_slope(z, at_zero):
    return np.where(z > 0, 1.0, np.where(z < 0, 0.0, at_zero))


def loss_reference(X, y, w):
    return np.mean((np.maximum(X @ w, 0.0) - y) ** 2)


def gradient_reference(X, y, w, at_zero):
    z = X @ w
    return (2.0 / X.shape[0]) * X.T @ ((np.maximum(z, 0.0) - y) * relu_slope(z, at_zero))


def project_reference(z, constraint, level):
    if constraint == "l0":
        return hard_threshold_reference(z, int(level))
    if constraint == "l1":
        return l1_ball_reference(z, level)
    return z


def pgd_reference(X, y, w_star, constraint, level, at_zero, mu0, mu, iterations, blowup=np.inf):
    """w_{t+1} = P_K(w_t - mu_t grad L(w_t)) from 0, with its rel_err, loss and overlap at every t,
    up to the first t with ||w_t|| > blowup ||w*||."""
    w = np.zeros(X.shape[1])
    support = w_star != 0
    rel_err, loss, overlap = [], [], []
    for t in range(iterations + 1):
        rel_err.append(np.linalg.norm(w - w_star) / np.linalg.norm(w_star))
        loss.append(loss_reference(X, y, w))
        overlap.append(np.sum((w != 0) & support) / support.sum())
        if t == iterations or not np.linalg.norm(w) <= blowup * np.linalg.norm(w_star):
            break
        w = project_reference(w - (mu0 if t == 0 else mu) * gradient_reference(X, y, w, at_zero), constraint, level)
    return w, np.array(rel_err), np.array(loss), np.array(overlap)


def instance(n, d, s, seed=0):
    rng = np.random.default_rng(seed)
    w_star = np.zeros(d)
    support = rng.choice(d, s, replace=False)
    w_star[support] = rng.standard_normal(s)
    w_star /= np.linalg.norm(w_star)
    X = rng.standard_normal((n, d))
    return X, np.maximum(X @ w_star, 0.0), w_star


def level_of(constraint, w_star):
    return {"l0": float(np.count_nonzero(w_star)), "l1": float(np.abs(w_star).sum()), "none": 0.0}[constraint]


def run_kernel(X, y, w_star, constraint, at_zero=0.5, mu0=2.0, mu=1.0, iterations=40, blowup=1e3):
    curves = np.full((3, iterations + 1), np.nan)
    w = np.zeros(X.shape[1], X.dtype)
    steps, diverged = pgd_relu(X, y, w_star, PROJECTIONS[constraint], level_of(constraint, w_star), at_zero,
                               mu0, mu, iterations, blowup, w, curves[0], curves[1], curves[2])
    return w, curves, steps, diverged


def test_loss_and_gradient_match_numpy_and_finite_differences():
    rng = np.random.default_rng(5)
    X, y, _ = instance(30, 12, 4)
    w = rng.standard_normal(12)
    grad = np.empty(12)
    loss = relu_loss_gradient(X, y, w, 0.5, np.empty(30), np.empty(30), grad)
    assert loss == pytest.approx(loss_reference(X, y, w), rel=1e-14)
    np.testing.assert_allclose(grad, gradient_reference(X, y, w, 0.5), rtol=1e-13)
    h = 1e-6
    numeric = [(loss_reference(X, y, w + h * e) - loss_reference(X, y, w - h * e)) / (2 * h) for e in np.eye(12)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("at_zero", [0.0, 0.5, 1.0])
def test_gradient_at_a_kink_uses_the_stated_slope(at_zero):
    """A row with <w, x> = 0 exactly enters the gradient with weight relu'(0) = at_zero."""
    X = np.array([[1.0, -1.0], [2.0, 0.5]])
    y = np.array([0.7, 0.0])
    w = np.array([1.0, 1.0])  # z = (0, 2.5)
    grad = np.empty(2)
    relu_loss_gradient(X, y, w, at_zero, np.empty(2), np.empty(2), grad)
    np.testing.assert_allclose(grad, (2 / 2) * (at_zero * (0.0 - 0.7) * X[0] + 1.0 * 2.5 * X[1]), rtol=1e-15)


CASES = [  # (n, d, s, constraint, relu'(0), mu0): n < d in the first four
    (120, 300, 5, "l0", 0.5, 2.0),
    (200, 400, 8, "l1", 0.5, 2.0),
    (90, 150, 3, "l0", 1.0, 1.0),
    (150, 200, 4, "l1", 1.0, 2.0),
    (400, 60, 60, "none", 0.5, 2.0),
    (500, 80, 10, "l0", 0.5, 1.0),
]


@pytest.mark.parametrize("n, d, s, constraint, at_zero, mu0", CASES)
def test_pgd_matches_the_numpy_reference(n, d, s, constraint, at_zero, mu0):
    X, y, w_star = instance(n, d, s, seed=n + d)
    w_ref, rel_err, loss, overlap = pgd_reference(X, y, w_star, constraint, level_of(constraint, w_star), at_zero,
                                                  mu0, 1.0, 40)
    w, curves, steps, diverged = run_kernel(X, y, w_star, constraint, at_zero, mu0)
    assert (steps, diverged) == (40, False)
    assert np.linalg.norm(w - w_ref) <= 1e-12 * np.linalg.norm(w_ref)
    np.testing.assert_allclose(curves[0], rel_err, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(curves[1], loss, rtol=1e-9, atol=1e-20)
    np.testing.assert_array_equal(curves[2], overlap)


@pytest.mark.parametrize("constraint", ["l0", "l1", "none"])
def test_first_step_from_zero_is_the_projected_unbiased_estimate(constraint):
    """relu'(0) = 1/2, mu0 = 2: w_1 = P_K((2/n) sum_i y_i x_i) (THEORY.md §6.1). The
    kernel scales after its BLAS product, so w_1 is the projection of (2/n) X^T y as
    its BLAS rounds X^T y: equal to NumPy's to the last bits, with the same support."""
    X, y, w_star = instance(80, 200, 6, seed=1)
    w, _, _, _ = run_kernel(X, y, w_star, constraint, iterations=1)
    expected = project_reference((2.0 / 80) * (X.T @ y), constraint, level_of(constraint, w_star))
    np.testing.assert_array_equal(w != 0, expected != 0)
    np.testing.assert_allclose(w, expected, rtol=1e-15, atol=1e-15 * np.abs(expected).max())


@pytest.mark.parametrize("constraint", ["l0", "l1", "none"])
def test_with_slope_zero_at_zero_the_iterate_never_leaves_zero(constraint):
    X, y, w_star = instance(100, 50, 5, seed=2)
    w, curves, steps, diverged = run_kernel(X, y, w_star, constraint, at_zero=0.0, iterations=10)
    assert (steps, diverged) == (10, False)
    np.testing.assert_array_equal(w, 0.0)
    np.testing.assert_array_equal(curves[0], 1.0)
    np.testing.assert_array_equal(curves[1], np.mean(y ** 2))
    np.testing.assert_array_equal(curves[2], 0.0)


def test_a_blown_up_iterate_stops_the_run_as_diverged():
    X, y, w_star = instance(50, 20, 20, seed=3)
    w, curves, steps, diverged = run_kernel(X, y, w_star, "none", mu=50.0, iterations=40)
    assert diverged and 1 < steps < 40
    assert np.linalg.norm(w) > 1e3
    assert np.all(np.isfinite(curves[:, :steps + 1])) and np.all(np.isnan(curves[:, steps + 1:]))


def test_float32_follows_float64():
    X, y, w_star = instance(300, 100, 5, seed=4)
    w64, curves64, _, _ = run_kernel(X, y, w_star, "l0", iterations=15)
    w32, curves32, _, _ = run_kernel(X.astype(np.float32), y.astype(np.float32), w_star.astype(np.float32), "l0",
                                     iterations=15)
    assert w32.dtype == np.float32
    np.testing.assert_allclose(curves32[0, :8], curves64[0, :8], rtol=1e-3)
    assert curves32[0, -1] < 1e-5
