"""Hermite moments of y = f(x), x ~ N(0, I_d), accumulated chunk by chunk (THEORY.md §6.3).

- :func:`hermite` and :func:`relu_hermite_coefficient`: the probabilists' He_k and
  c_k(b) = E_z[relu(z + b) He_k(z)] in closed form (k = 0..5 are tested against quadrature).
- :func:`accumulate_moments`: the sums over a chunk of samples of y, y x, y x x^T and
  y (x.u_j) x x^T for contraction directions u_j, from which T_1, T_2 and T_3[u_j] follow
  (:func:`moments_from_sums`). Never a d^3 array: T_3 is only ever contracted with u.
- :func:`accumulate_directional`: the sums of y He_k(<x, q_i>), k = 1, 2, 3, for unit q_i.

Summation: within a chunk, blocks of BLOCK_ROWS samples are summed in float64 in plain
loops (no BLAS: on a shared machine its threads only contend); the block sums are added
to the running totals with Neumaier's compensated summation (:func:`add_compensated`),
so the totals of 1e7 samples carry the rounding of one block, not of 1e7 additions. The
caller owns the totals, so memory does not depend on how many samples stream through.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from kernels.jit import jit
from kernels.ordered_sums import dot

BLOCK_ROWS = 2048  # samples summed plainly before a compensated addition to the totals
DIRECTIONAL_ORDERS = 3  # He_1, He_2, He_3 along each direction


def hermite(k: int, z):
    """He_k(z), the probabilists' Hermite polynomial (He_0 = 1, He_1 = z,
    He_{k+1} = z He_k - k He_{k-1}); elementwise on arrays."""
    previous, current = np.ones_like(np.asarray(z, dtype=np.float64)), np.asarray(z, dtype=np.float64)
    if k == 0:
        return previous
    for j in range(1, k):
        previous, current = current, z * current - j * previous
    return current


def normal_pdf(b):
    """phi(b), the standard normal density."""
    return np.exp(-0.5 * np.asarray(b, dtype=np.float64) ** 2) / math.sqrt(2.0 * math.pi)


def relu_hermite_coefficient(k: int, b):
    """c_k(b) = E_z[relu(z + b) He_k(z)], z ~ N(0, 1) (THEORY.md §6.3).

    c_0 = b Phi(b) + phi(b), c_1 = Phi(b), c_k = (-1)^k He_{k-2}(b) phi(b) for k >= 2.
    Elementwise on arrays of b; ValueError for k < 0.
    """
    if k < 0:
        raise ValueError(f"the Hermite order k must be >= 0, got {k}")
    b = np.asarray(b, dtype=np.float64)
    if k == 0:
        return b * ndtr(b) + normal_pdf(b)
    if k == 1:
        return ndtr(b)
    return (-1.0) ** k * hermite(k - 2, b) * normal_pdf(b)


def feature_count(d: int) -> int:
    """Columns of the feature block: x_a x_b (a <= b), x_a, 1."""
    return d * (d + 1) // 2 + d + 1


@jit
def add_compensated(total, compensation, value):
    """total += value elementwise with Neumaier's compensation (the exact sum is
    total + compensation); arrays of one shape, updated in place."""
    t, c, v = total.ravel(), compensation.ravel(), value.ravel()
    for i in range(t.size):
        s = t[i] + v[i]
        if abs(t[i]) >= abs(v[i]):
            c[i] += (t[i] - s) + v[i]
        else:
            c[i] += (v[i] - s) + t[i]
        t[i] = s


@jit
def accumulate_moments(X, y, U, total, compensation):
    """Add the moment sums of the samples (X, y) to (total, compensation).

    X (n, d) float64, y (n,), U (r, d) contraction directions. total and compensation
    (r + 1, feature_count(d)): row 0 weights the samples by y, row 1 + j by y <x, u_j>;
    the columns are x_a x_b for a <= b (row-major upper triangle), then x_a, then 1.
    So row 0 holds sum y x x^T, sum y x, sum y, and row 1 + j sum y (x.u_j) x x^T, ...
    (see :func:`moments_from_sums`). Plain loops (no BLAS: its threads only contend on
    a busy machine): per sample, the features once, then one AXPY per weight row.
    """
    n, d = X.shape
    r = U.shape[0]
    rows, directions = np.ascontiguousarray(X), np.ascontiguousarray(U)  # for ordered_sums.dot (no copy if C)
    width = total.shape[1]
    block = np.empty((r + 1, width))
    features = np.empty(width)
    weights = np.empty(r + 1)
    for start in range(0, n, BLOCK_ROWS):
        block[:] = 0.0
        for i in range(start, min(start + BLOCK_ROWS, n)):
            x = rows[i]
            col = 0
            for a in range(d):
                xa = x[a]
                for b in range(a, d):
                    features[col] = xa * x[b]
                    col += 1
            for a in range(d):
                features[col + a] = x[a]
            features[col + d] = 1.0
            weights[0] = y[i]
            for j in range(r):
                weights[1 + j] = y[i] * dot(x, directions[j])
            for j in range(r + 1):
                weight = weights[j]
                for f in range(width):
                    block[j, f] += weight * features[f]
        add_compensated(total, compensation, block)


@jit
def accumulate_directional(X, y, Q, total, compensation):
    """Add sum y He_k(<x, q_i>) for k = 1..3 (rows k - 1) and unit rows q_i of Q (m, d)
    (columns i) to (total, compensation), both (3, m)."""
    n, d = X.shape
    m = Q.shape[0]
    rows, directions = np.ascontiguousarray(X), np.ascontiguousarray(Q)  # for ordered_sums.dot (no copy if C)
    block = np.empty((DIRECTIONAL_ORDERS, m))
    for start in range(0, n, BLOCK_ROWS):
        block[:] = 0.0
        for i in range(start, min(start + BLOCK_ROWS, n)):
            yi = y[i]
            x = rows[i]
            for k in range(m):
                z = dot(x, directions[k])
                z2 = z * z
                block[0, k] += yi * z
                block[1, k] += yi * (z2 - 1.0)
                block[2, k] += yi * z * (z2 - 3.0)
        add_compensated(total, compensation, block)


def moments_from_sums(total: np.ndarray, compensation: np.ndarray, n: int, U: np.ndarray):
    """(T_1, T_2, [T_3[u_j]]) as means over the n samples whose sums are given.

    T_2 = mean y (x x^T - I); T_3[u] = mean y (x.u) x x^T - T_1 u^T - u T_1^T - mean y (x.u) I
    (He_3 contracted with u, THEORY.md §6.3). Returns T_1 (d,), T_2 (d, d), T_3u (r, d, d).
    """
    d = U.shape[1]
    sums = (total + compensation) / n
    upper = np.triu_indices(d)
    quadratic = np.empty((sums.shape[0], d, d))
    for row, values in enumerate(sums):
        square = np.zeros((d, d))
        square[upper] = values[: upper[0].size]
        quadratic[row] = square + np.triu(square, 1).T
    linear = sums[:, upper[0].size: upper[0].size + d]
    constant = sums[:, -1]
    eye = np.eye(d)
    T1 = linear[0]
    T2 = quadratic[0] - constant[0] * eye
    T3u = np.stack([quadratic[1 + j] - np.outer(T1, u) - np.outer(u, T1) - constant[1 + j] * eye
                    for j, u in enumerate(U)])
    return T1, T2, T3u
