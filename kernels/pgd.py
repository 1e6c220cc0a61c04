"""Projected gradient descent for one ReLU on the squared loss (THEORY.md §6.1).

The model is f_w(x) = relu(<w, x>), the loss L(w) = (1/n) sum_i (relu(<w, x_i>) - y_i)^2
(no 1/2), its gradient grad L(w) = (2/n) sum_i (relu(<w, x_i>) - y_i) relu'(<w, x_i>) x_i
with relu'(0) = ``slope_at_zero`` (THEORY.md §6.1 takes 1/2; with 0, PGD never leaves
w = 0). PGD: w_{t+1} = P_K(w_t - mu_t grad L(w_t)), mu_0 = ``mu0`` and mu_t = ``mu`` for
t >= 1, P_K a projection of :mod:`kernels.projections`.

The products X w and X^T r are BLAS matrix-vector products (``np.dot``: Numba calls
SciPy's BLAS); the rest are plain loops. X is C-contiguous (n, d), float64 or float32,
with y and w of the same dtype; sums of squares are accumulated in float64.
"""
from __future__ import annotations

import math

import numpy as np

from kernels.activations import leaky_relu, leaky_relu_slope
from kernels.jit import jit
from kernels.projections import project


@jit
def relu_loss_gradient(X, y, w, slope_at_zero, z, residual, grad):
    """Return L(w) and write grad L(w) into ``grad`` (THEORY.md §6.1).

    ``z`` (n) receives X w and ``residual`` (n) the weights of the rows in X^T r, both
    scratch. The factor 2/n is applied after the product, so that at w = 0 with
    relu'(0) = 1/2 the step -mu0 grad is exactly (mu0/n) X^T y as rounded by BLAS.
    """
    n = X.shape[0]
    np.dot(X, w, z)
    total = 0.0
    for i in range(n):
        r = leaky_relu(z[i], 0.0) - y[i]
        total += r * r
        residual[i] = r * leaky_relu_slope(z[i], 0.0, slope_at_zero)
    np.dot(residual, X, grad)
    scale = 2.0 / n
    for j in range(grad.shape[0]):
        grad[j] *= scale
    return total / n


@jit(inline=True)
def _distance_and_norm(w, w_star):
    """(||w - w*||, ||w||), accumulated in float64."""
    distance = 0.0
    norm = 0.0
    for j in range(w.shape[0]):
        diff = float(w[j]) - float(w_star[j])
        distance += diff * diff
        norm += float(w[j]) * float(w[j])
    return math.sqrt(distance), math.sqrt(norm)


@jit(inline=True)
def _support_overlap(w, w_star, s):
    """|supp(w) ∩ supp(w*)| / s."""
    shared = 0
    for j in range(w.shape[0]):
        if w[j] != 0.0 and w_star[j] != 0.0:
            shared += 1
    return shared / s


@jit
def pgd_relu(X, y, w_star, projection, level, slope_at_zero, mu0, mu, iterations, blowup, w,
             rel_err, loss, overlap):
    """Run PGD from ``w`` (updated in place) for ``iterations`` steps (THEORY.md §6.1).

    ``projection``, ``level``: the set K (a code of kernels.projections.PROJECTIONS and
    its level: s for l0, the radius for l1). Records at t = 0 .. T (arrays of at least
    T + 1 entries): rel_err[t] = ||w_t - w*|| / ||w*||, loss[t] = L(w_t), overlap[t] =
    |supp(w_t) ∩ supp(w*)| / |supp(w*)|. Stops after the first step at which ||w_t|| >
    blowup ||w*|| or w_t is not finite. Returns (T run, diverged); entries after T run
    are left untouched. w* must be non-zero.
    """
    n, d = X.shape
    z = np.empty(n, X.dtype)
    residual = np.empty(n, X.dtype)
    grad = np.empty(d, X.dtype)
    s = 0
    star_norm = 0.0
    for j in range(d):
        if w_star[j] != 0.0:
            s += 1
        star_norm += float(w_star[j]) * float(w_star[j])
    star_norm = math.sqrt(star_norm)
    distance, norm = _distance_and_norm(w, w_star)
    rel_err[0] = distance / star_norm
    overlap[0] = _support_overlap(w, w_star, s)
    for t in range(iterations):
        loss[t] = relu_loss_gradient(X, y, w, slope_at_zero, z, residual, grad)
        step = mu0 if t == 0 else mu
        for j in range(d):
            w[j] -= step * grad[j]
        project(w, projection, level)
        distance, norm = _distance_and_norm(w, w_star)
        rel_err[t + 1] = distance / star_norm
        overlap[t + 1] = _support_overlap(w, w_star, s)
        if not norm <= blowup * star_norm:
            loss[t + 1] = relu_loss_gradient(X, y, w, slope_at_zero, z, residual, grad)
            return t + 1, True
    loss[iterations] = relu_loss_gradient(X, y, w, slope_at_zero, z, residual, grad)
    return iterations, False


@jit
def pgd_relu_many(X, y, w_star, projection, level, slope_at_zero, mu0, mu, iterations, blowup, w, curves,
                  steps, diverged):
    """:func:`pgd_relu` for each run r of a batch: X (R, n, d), y (R, n), w_star and w (R, d),
    one ``projection``, ``level``, ``slope_at_zero``, ``mu0`` and ``mu`` per run; ``curves``
    (R, 3, >= T + 1) receives rel_err, loss and overlap; ``steps`` and ``diverged`` (R) what
    pgd_relu returns. Each run's numbers are those of pgd_relu called on it alone."""
    for r in range(X.shape[0]):
        steps[r], diverged[r] = pgd_relu(X[r], y[r], w_star[r], projection[r], level[r], slope_at_zero[r], mu0[r],
                                         mu[r], iterations, blowup, w[r], curves[r, 0], curves[r, 1], curves[r, 2])
