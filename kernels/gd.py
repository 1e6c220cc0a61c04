"""Full-batch gradient descent: the gradient-flow approximation of THEORY.md §4.

Plain GD takes steps lr * grad L_S. Loss-normalised GD takes steps lr * grad L_S / L_S,
which follows the same path re-parametrised in time and reaches the flow's limit
direction far sooner; the ratio grad/L_S is formed from log-losses so that it stays
exact when L_S underflows.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.network import loss_and_gradient, softplus_neg
from kernels.validation import check_finite_positive, check_training_inputs


@njit(nogil=True)
def _normalised_gradient(W, X, y, alpha, v, grad, pre, log_g, log_l):
    """Write grad L_S / L_S into grad and return log L_S (THEORY.md §4)."""
    n, d = X.shape
    two_k = W.shape[0]
    k = two_k // 2
    for i in range(n):
        total = 0.0
        for j in range(two_k):
            acc = 0.0
            for f in range(d):
                acc += W[j, f] * X[i, f]
            pre[i, j] = acc
            act = acc if acc > 0.0 else alpha * acc
            total += act if j < k else -act
        z = y[i] * v * total
        log_g[i] = -(max(z, 0.0) + math.log1p(math.exp(-abs(z))))    # log 1/(1+e^z)
        log_l[i] = -z if z > 30.0 else math.log(softplus_neg(z))     # log l(z); l ~ e^{-z} for large z
    top = log_l.max()
    log_loss = top + math.log(np.exp(log_l - top).sum() / n)
    grad[:, :] = 0.0
    for i in range(n):
        base = -math.exp(log_g[i] - log_loss) * y[i] * v / n
        for j in range(two_k):
            c = base if pre[i, j] > 0.0 else alpha * base
            if j >= k:
                c = -c
            for f in range(d):
                grad[j, f] += c * X[i, f]
    return log_loss


@njit(nogil=True)
def _gd_steps(X, y, W, alpha, v, lr, steps, normalised, log_loss_out):
    """Run ``steps`` full-batch steps in place; log_loss_out[t] = log L_S before step t."""
    n = X.shape[0]
    grad = np.empty_like(W)
    pre = np.empty((n, W.shape[0]))
    log_g = np.empty(n)
    log_l = np.empty(n)
    for t in range(steps):
        if normalised:
            log_loss_out[t] = _normalised_gradient(W, X, y, alpha, v, grad, pre, log_g, log_l)
        else:
            log_loss_out[t] = math.log(loss_and_gradient(W, X, y, alpha, v, grad))
        if not math.isfinite(log_loss_out[t]):
            return t + 1
        W -= lr * grad
    return steps


def gd_train(X, y, W0, *, alpha, lr, steps, v=1.0, normalised=False, dtype=np.float64):
    """Full-batch GD from W0 for ``steps`` steps; returns (W, log_loss per step).

    ``normalised`` divides each step by L_S(W) (THEORY.md §4). log_loss[t] is log L_S
    before step t; a non-finite value ends the run early (the array is cut there).
    """
    X, y, W = check_training_inputs(X, y, W0, alpha, dtype)
    check_finite_positive("lr", lr)
    check_finite_positive("v", v)
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    log_loss = np.empty(int(steps))
    ran = _gd_steps(X, y, W, float(alpha), float(v), float(lr), int(steps), bool(normalised), log_loss)
    return W, log_loss[:ran]
