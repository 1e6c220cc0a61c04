"""The inner loops of per-sample SGD: one epoch of steps (THEORY.md §1).

A step on (x, y) needs the pre-activations <w_j, x> of all 2k neurons (forward), then
moves every row: w_j += c_j x (update), with c_j = +-eta g y v sigma'(<w_j, x>) from the
pre-step W. Row j's update depends only on row j, so the forward of the next point can
be taken row by row right after that row is updated: each step then reads and writes W
once instead of twice. Both loops below do that fusion; they differ in the layout of W,
chosen so the innermost loop is the longer of d and 2k and vectorises:

- ``epoch_neuron_major``: W (2k, d), inner loop over features; the dot products are
  reassociated (fastmath), which changes only rounding.
- ``epoch_feature_major``: W^T (d, 2k), inner loop over neurons, two features per pass;
  each pre-activation is summed over feature pairs in order, which changes only rounding.

Float32 weights are updated and their pre-activations summed in float32 (2x the SIMD
width of float64); the margin, the loss slope and the loss are float64.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.network import neg_loss_slope

_FAST = {"reassoc", "contract", "nsz"}


@njit(nogil=True, fastmath=_FAST)
def step_coefficients(pre, yi, alpha, v, lr, coef):
    """From the pre-activations of one point, write c_j into coef; return the margin z.

    z = y N_W(x); c_j = eta g y v sigma'(pre_j), negated for the u-rows (THEORY.md §1).
    The sum over neurons is reassociated (fastmath: it vectorises instead of one long
    chain of dependent adds), which changes only rounding.
    """
    two_k = pre.shape[0]
    k = two_k // 2
    total = 0.0
    for j in range(two_k):
        h = pre[j]
        act = h if h > 0.0 else alpha * h
        total += act if j < k else -act
    z = yi * v * total
    step = lr * neg_loss_slope(z) * yi * v
    for j in range(two_k):
        c = step if pre[j] > 0.0 else alpha * step
        coef[j] = c if j < k else -c
    return z


@njit(nogil=True, fastmath=_FAST)
def _forward_rows(W, x, pre):
    """pre_j = <w_j, x>, accumulated in W's dtype."""
    zero = W.dtype.type(0)
    for j in range(W.shape[0]):
        acc = zero
        for f in range(W.shape[1]):
            acc += W[j, f] * x[f]
        pre[j] = acc


@njit(nogil=True, fastmath=_FAST)
def _update_forward_rows(W, coef, x, x_next, pre):
    """w_j += coef_j x, then pre_j = <w_j, x_next>, in one pass over each row."""
    zero = W.dtype.type(0)
    for j in range(W.shape[0]):
        c = coef[j]
        acc = zero
        for f in range(W.shape[1]):
            w = W[j, f] + c * x[f]
            W[j, f] = w
            acc += w * x_next[f]
        pre[j] = acc


@njit(nogil=True)
def epoch_neuron_major(X, y, W, perm, alpha, v, lr, z_eps, pre, coef):
    """One epoch over the points in ``perm`` with W (2k, d) in place; True if no point had
    margin <= z_eps when sampled (THEORY.md §2). pre, coef: (2k,) work arrays of W's dtype."""
    n = perm.shape[0]
    clean = True
    _forward_rows(W, X[perm[0]], pre)
    for t in range(n):
        i = perm[t]
        if step_coefficients(pre, y[i], alpha, v, lr, coef) <= z_eps:
            clean = False
        # After the last step the next forward is wasted work; the next epoch redoes it.
        _update_forward_rows(W, coef, X[i], X[perm[min(t + 1, n - 1)]], pre)
    return clean


@njit(nogil=True)
def epoch_feature_major(X, y, WT, perm, alpha, v, lr, z_eps, pre, coef):
    """As ``epoch_neuron_major`` with the weights stored transposed, WT (d, 2k).

    The feature loop is unrolled by 2 and jammed into the neuron loop, so each pass over
    the neurons updates 2 rows of WT and loads and stores pre_j once for 2 features.
    """
    n = perm.shape[0]
    d, two_k = WT.shape
    d2 = d - d % 2
    clean = True
    x = X[perm[0]]
    pre[:] = 0.0
    for f in range(d):
        for j in range(two_k):
            pre[j] += WT[f, j] * x[f]
    for t in range(n):
        i = perm[t]
        if step_coefficients(pre, y[i], alpha, v, lr, coef) <= z_eps:
            clean = False
        x = X[i]
        x_next = X[perm[min(t + 1, n - 1)]]
        pre[:] = 0.0
        for f in range(0, d2, 2):
            x0, x1 = x[f], x[f + 1]
            n0, n1 = x_next[f], x_next[f + 1]
            r0, r1 = WT[f], WT[f + 1]
            for j in range(two_k):
                c = coef[j]
                w0 = r0[j] + c * x0
                w1 = r1[j] + c * x1
                r0[j] = w0
                r1[j] = w1
                pre[j] += w0 * n0 + w1 * n1
        for f in range(d2, d):
            xf = x[f]
            xn = x_next[f]
            for j in range(two_k):
                w = WT[f, j] + coef[j] * xf
                WT[f, j] = w
                pre[j] += w * xn
    return clean
