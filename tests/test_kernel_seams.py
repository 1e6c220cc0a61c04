"""The kernels' seams for other problems: the loss as a choice (logistic, squared with real
labels), sigma'(0) as a stated convention, and a projection after each GD step
(kernels/losses.py, activations.py, projections.py, gd.py), against plain NumPy."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from kernels.gd import gd_train
from kernels.network import loss_and_gradient
from kernels.losses import LOGISTIC, SQUARED, neg_loss_slope, softplus_neg
from tests import reference as ref


def network_loss(W, X, y, alpha, v, loss):
    out = ref.output(W, X, alpha, v)
    return float(np.mean(np.logaddexp(0.0, -y * out) if loss == LOGISTIC else 0.5 * (out - y) ** 2))


def test_logistic_pieces_match_numpy_at_every_scale():
    z = np.concatenate([np.linspace(-50, 50, 101), [-700.0, 700.0, 0.0]])
    assert np.allclose([softplus_neg(t) for t in z], np.logaddexp(0.0, -z), rtol=1e-14, atol=0)
    assert np.allclose([neg_loss_slope(t) for t in z], expit(-z), rtol=1e-14, atol=0)


@pytest.mark.parametrize("loss", [LOGISTIC, SQUARED])
def test_gradient_matches_finite_differences_for_either_loss(loss):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4))
    y = np.sign(rng.standard_normal(30)) if loss == LOGISTIC else rng.standard_normal(30)
    W = rng.standard_normal((6, 4))
    grad = np.empty_like(W)
    value = loss_and_gradient(W, X, y, 0.2, 1.5, grad, loss, -1.0)
    assert value == pytest.approx(network_loss(W, X, y, 0.2, 1.5, loss), rel=1e-13)
    step = 1e-6
    numeric = np.zeros_like(W)
    for index in np.ndindex(W.shape):
        delta = np.zeros_like(W)
        delta[index] = step
        numeric[index] = (network_loss(W + delta, X, y, 0.2, 1.5, loss)
                          - network_loss(W - delta, X, y, 0.2, 1.5, loss)) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("slope_at_zero", [0.0, 0.5, 1.0])
def test_the_slope_at_zero_is_the_stated_one(slope_at_zero):
    """Every pre-activation is 0 at W = 0: the gradient is the slope at 0 times the rest."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 3)), rng.standard_normal(10)
    grad = np.empty((2, 3))
    loss_and_gradient(np.zeros((2, 3)), X, y, 0.0, 1.0, grad, SQUARED, slope_at_zero)
    # N = 0 everywhere, so dL/dw = (1/n) sum (0 - y) * slope * x for the w-row, the negative for the u-row.
    expected = slope_at_zero * (-(y[:, None] * X).mean(axis=0))
    np.testing.assert_allclose(grad, [expected, -expected], rtol=1e-14, atol=1e-16)


def numpy_projection(z, kind, level):
    """Plain references: hard thresholding with ties to the lower index; the l1 ball by bisection."""
    z = z.copy()
    if kind == "l0":
        keep = sorted(range(z.size), key=lambda j: (-abs(z[j]), j))[:int(level)]
        mask = np.zeros(z.size, bool)
        mask[keep] = True
        z[~mask] = 0.0
    elif kind == "l1" and np.abs(z).sum() > level:
        low, high = 0.0, np.abs(z).max()
        for _ in range(200):
            tau = (low + high) / 2
            low, high = (tau, high) if np.maximum(np.abs(z) - tau, 0).sum() > level else (low, tau)
        z = np.sign(z) * np.maximum(np.abs(z) - (low + high) / 2, 0)
    return z


@pytest.mark.parametrize("kind, level", [("none", 0.0), ("l0", 3), ("l1", 0.7)])
def test_projected_gd_steps_match_numpy(kind, level):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 5)), rng.standard_normal(40)
    W = 0.3 * rng.standard_normal((2, 5))
    W[0, 1] = W[0, 2]  # a tie for hard thresholding
    expected = W.copy()
    for _ in range(3):
        grad = np.empty_like(expected)
        loss_and_gradient(expected, X, y, 0.0, 1.0, grad, SQUARED, 0.5)
        expected = numpy_projection((expected - 0.1 * grad).reshape(-1), kind, level).reshape(W.shape)
    got, _ = gd_train(X, y, W, alpha=0.0, lr=0.1, steps=3, loss="squared", relu_slope_at_zero=0.5,
                      projection=kind, level=level)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    if kind == "l0":
        assert np.count_nonzero(got) <= level
    if kind == "l1":
        assert np.abs(got).sum() <= level * (1 + 1e-12)


def test_bad_seam_arguments_name_themselves():
    X, y, W = np.ones((3, 2)), np.array([0.5, -2.0, 1.0]), np.zeros((2, 2))
    with pytest.raises(ValueError, match="labels \\+1 or -1"):
        gd_train(X, y, W, alpha=0.1, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="loss must be one of"):
        gd_train(X, y, W, alpha=0.1, lr=0.1, steps=1, loss="hinge")
    with pytest.raises(ValueError, match="projection must be one of"):
        gd_train(X, y, W, alpha=0.1, lr=0.1, steps=1, loss="squared", projection="l2")
    with pytest.raises(ValueError, match="relu_slope_at_zero"):
        gd_train(X, y, W, alpha=0.1, lr=0.1, steps=1, loss="squared", relu_slope_at_zero=2.0)
    with pytest.raises(ValueError, match="normalised GD needs the logistic loss"):
        gd_train(X, y, W, alpha=0.1, lr=0.1, steps=1, loss="squared", normalised=True)
