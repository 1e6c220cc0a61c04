"""A plain-NumPy, step-by-step reference of the network and SGD (THEORY.md §1-2).

Written from the formulas, independently of the kernels, so the tests can replay any
run step by step and compare.
"""
from __future__ import annotations

import numpy as np


def sigma(z, alpha):
    return np.maximum(alpha * z, z)


def sigma_prime(z, alpha):
    return np.where(z > 0, 1.0, alpha)


def output(W, X, alpha, v):
    """N_W(x) for each row of X."""
    k = W.shape[0] // 2
    act = sigma(X @ W.T, alpha)
    return v * (act[:, :k].sum(axis=1) - act[:, k:].sum(axis=1))


def loss(z):
    return np.logaddexp(0.0, -z)


def dataset_loss(W, X, y, alpha, v):
    return float(np.mean(loss(y * output(W, X, alpha, v))))


def sgd_step(W, x, y, alpha, v, lr):
    """One SGD step on (x, y); returns (new W, margin z before the step)."""
    k = W.shape[0] // 2
    z = y * output(W, x[None, :], alpha, v)[0]
    g = 1.0 / (1.0 + np.exp(z))
    signs = np.r_[np.ones(k), -np.ones(k)]
    coef = lr * g * y * v * signs * sigma_prime(W @ x, alpha)
    return W + coef[:, None] * x[None, :], z


def sgd_reference(X, y, W0, order, alpha, v, lr, eps):
    """Replay SGD over ``order``; returns (W, epoch losses, E_clean, E_conv)."""
    W = W0.astype(np.float64).copy()
    losses, e_clean, e_conv = [], -1, -1
    for epoch, perm in enumerate(order, start=1):
        clean = True
        for i in perm:
            W, z = sgd_step(W, X[i], y[i], alpha, v, lr)
            clean &= bool(loss(z) < eps)
        losses.append(dataset_loss(W, X, y, alpha, v))
        if clean and e_clean < 0:
            e_clean = epoch
        if losses[-1] < eps and e_conv < 0:
            e_conv = epoch
    return W, np.array(losses), e_clean, e_conv
