"""A plain-NumPy, step-by-step reference of the network and SGD (THEORY.md §1-2).

Written from the formulas, independently of the kernels, so the tests can replay any
run step by step and compare.
"""
from __future__ import annotations

from typing import NamedTuple

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


class Replay(NamedTuple):
    """What ``sgd_reference`` replays: the final W, the loss after each epoch, E_clean and
    E_conv (-1: not reached), V = the violating steps (sampled point at loss >= eps, before
    its update) before E_clean (-1: not reached) and those of every epoch replayed."""

    W: np.ndarray
    losses: np.ndarray
    e_clean: int
    e_conv: int
    violating: int
    violating_run: int


def sgd_reference(X, y, W0, order, alpha, v, lr, eps) -> Replay:
    """Replay SGD over ``order`` (THEORY.md §1-2, §2.1)."""
    W = W0.astype(np.float64).copy()
    losses, e_clean, e_conv, before_clean, total = [], -1, -1, 0, 0
    for epoch, perm in enumerate(order, start=1):
        violating = 0
        for i in perm:
            W, z = sgd_step(W, X[i], y[i], alpha, v, lr)
            violating += int(loss(z) >= eps)
        total += violating
        if e_clean < 0:
            before_clean += violating
        losses.append(dataset_loss(W, X, y, alpha, v))
        if violating == 0 and e_clean < 0:
            e_clean = epoch
        if losses[-1] < eps and e_conv < 0:
            e_conv = epoch
    return Replay(W, np.array(losses), e_clean, e_conv, before_clean if e_clean > 0 else -1, total)


def margin_data(n, d, seed, margin=0.1):
    """n points in R^d (rows ~ N(0, I/d)) at distance > ``margin`` from a random unit teacher's
    hyperplane through the origin, labelled by its side: separable with margin, so SGD
    reaches E_clean within tens of epochs. Returns (X, y, rng)."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal(d)
    teacher /= np.linalg.norm(teacher)
    X = rng.standard_normal((8 * n, d)) / np.sqrt(d)
    X = X[np.abs(X @ teacher) > margin][:n]
    assert X.shape[0] == n, "margin_data: too few points beyond the margin"
    return X, np.sign(X @ teacher), rng


# ---------------------------------------------------------------- exact SVM (THEORY.md §1)

def certified_svm_margin(X, y, dps: int = 60):
    """s_min = min ||w|| s.t. y_i <w, x_i> >= 1 for the float data (X, y), in mpmath.

    Independent of sweep/problems/separable/margin.py: Lawson–Hanson NNLS on the least-distance form
    [ (y x)^T ; 1^T ] u ~ e_{d+1}, u >= 0, in ``dps`` digits, then certified by the
    duality gap: any w with min_i y<w, x_i> > 0 gives s_min <= ||w|| / min_i y<w, x_i>,
    and any lambda >= 0 gives s_min >= sum(lambda) / ||sum_i lambda_i y_i x_i||.
    Returns (lower, upper) as mpmath numbers; raises AssertionError if they are not
    within 10^-(dps/2) of each other (then the reference itself is not trustworthy).
    """
    import mpmath

    with mpmath.workdps(dps):
        n, d = X.shape
        G = [[mpmath.mpf(float(y[i])) * mpmath.mpf(float(X[i, j])) for j in range(d)] for i in range(n)]
        columns = [row + [mpmath.mpf(1)] for row in G]  # column i of E is (y_i x_i, 1)
        u = _nnls_columns(columns, d + 1, mpmath)
        residual = [sum((u[i] * columns[i][r] for i in range(n)), mpmath.mpf(0)) - (1 if r == d else 0)
                    for r in range(d + 1)]
        assert residual[d] < 0, "reference: not separable"
        w = [-residual[r] / residual[d] for r in range(d)]
        margins = [mpmath.fsum(G[i][j] * w[j] for j in range(d)) for i in range(n)]
        upper = mpmath.sqrt(mpmath.fsum(c * c for c in w)) / min(margins)
        combined = [mpmath.fsum(u[i] * G[i][j] for i in range(n)) for j in range(d)]
        lower = mpmath.fsum(u) / mpmath.sqrt(mpmath.fsum(c * c for c in combined))
        assert upper - lower <= upper * mpmath.mpf(10) ** (-dps // 2), "reference: duality gap not closed"
        return lower, upper


def _nnls_columns(columns, m, mpmath):
    """Lawson–Hanson NNLS: argmin_{u >= 0} ||sum_i u_i c_i - e_m|| for columns c_i in R^m (mpmath)."""
    p = len(columns)
    tol = mpmath.mpf(10) ** (-(mpmath.mp.dps * 3) // 4)
    u = [mpmath.mpf(0)] * p
    passive: list[int] = []

    def gradient(u):
        r = [-(sum((u[i] * columns[i][row] for i in passive), mpmath.mpf(0))) + (1 if row == m - 1 else 0)
             for row in range(m)]
        return [mpmath.fsum(columns[i][row] * r[row] for row in range(m)) for i in range(p)]

    def least_squares(indices):
        A = mpmath.matrix([[columns[i][row] for i in indices] for row in range(m)])
        f = mpmath.matrix([1 if row == m - 1 else 0 for row in range(m)])
        return list(mpmath.lu_solve(A.T * A, A.T * f))

    for _ in range(10 * p + 10):
        grad = gradient(u)
        candidates = [i for i in range(p) if i not in passive and grad[i] > tol]
        if not candidates:
            return u
        passive.append(max(candidates, key=lambda i: grad[i]))
        while True:
            trial = least_squares(passive)
            if min(trial) > 0:
                for i, value in zip(passive, trial):
                    u[i] = value
                break
            step = min(u[i] / (u[i] - t) for i, t in zip(passive, trial) if t <= 0)
            for i, t in zip(passive, trial):
                u[i] = u[i] + step * (t - u[i])
            passive = [i for i in passive if u[i] > tol]
            for i in range(p):
                if i not in passive:
                    u[i] = mpmath.mpf(0)
    raise AssertionError("reference NNLS did not converge")
