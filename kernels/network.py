"""The two-layer Leaky-ReLU network with a fixed second layer, and its loss.

THEORY.md §1: N_W(x) = v * sum_i [sigma(<w_i, x>) - sigma(<u_i, x>)], rows 0..k-1 of
W are the w-neurons (second-layer weight +v), rows k..2k-1 the u-neurons (-v).
Loss l(z) = log(1 + e^{-z}) on the margin z = y N_W(x), computed stably, or, for
gradient methods, another loss of kernels.losses.
All functions are Numba-jitted, take arrays and scalars, and allocate only their outputs.
"""
from __future__ import annotations

import math

import numpy as np

from kernels.activations import leaky_relu_slope
from kernels.jit import jit
from kernels.losses import LOGISTIC, neg_loss_slope, softplus_neg


@jit(inline=True)
def hidden_sum(W, x, alpha, k):
    """sum_i sigma(<w_i, x>) - sigma(<u_i, x>), i.e. N_W(x) / v, for one input x."""
    two_k, d = W.shape
    total = 0.0
    for j in range(two_k):
        h = 0.0
        for f in range(d):
            h += W[j, f] * x[f]
        act = h if h > 0.0 else alpha * h
        total += act if j < k else -act
    return total


@jit
def network_output(X, W, alpha, v):
    """N_W(x) for every row x of X (THEORY.md §1); returns an (n,) float64 array. Argument
    order of every ``network_output``: inputs, first-layer weights, (biases,) second layer."""
    k = W.shape[0] // 2
    out = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        out[i] = v * hidden_sum(W, X[i], alpha, k)
    return out


@jit
def loss_from_preactivations(HT, y, alpha, v, net):
    """L_S from the pre-activations HT = W X^T (2k, n): (1/n) sum_i l(y_i N_W(x_i)) (THEORY.md §1).

    net: (n,) float64 work array, overwritten with N_W(x_i) / v. The sums run neuron by
    neuron over contiguous rows of HT, so they vectorise over the points for any k.
    """
    two_k, n = HT.shape
    k = two_k // 2
    net[:] = 0.0
    for j in range(two_k):
        row = HT[j]
        if j < k:
            for i in range(n):
                h = row[i]
                net[i] += h if h > 0.0 else alpha * h
        else:
            for i in range(n):
                h = row[i]
                net[i] -= h if h > 0.0 else alpha * h
    return summed_loss(y, v, net) / n


# Points per log1p in ``summed_loss``: the running product of (1 + e^{-|z|}) <= 2 stays
# below 2^64 over a chunk.
LOSS_CHUNK = 64


@jit
def summed_loss(y, v, net):
    """sum_i l(y_i v net_i), with one exp per point and one log1p per LOSS_CHUNK points.

    l(z) = max(-z, 0) + log1p(e^{-|z|}), and log1p(a) + log1p(b) = log1p(a + b + ab): over a
    chunk the log1p terms sum to log1p(s), with s accumulated as s + e + s e. That keeps
    the relative precision of small losses, as summing the terms would, at about half the
    cost of a log1p per point. NaN in, NaN out; a margin of -inf gives inf.
    """
    n = net.shape[0]
    total = 0.0
    for start in range(0, n, LOSS_CHUNK):
        s = 0.0
        for i in range(start, min(start + LOSS_CHUNK, n)):
            z = y[i] * v * net[i]
            e = math.exp(-abs(z))
            s += e + s * e
            total += max(-z, 0.0)
        total += math.log1p(s)
    return total


@jit
def dataset_loss(W, X, y, alpha, v):
    """L_S(W) = (1/n) sum_i l(y_i N_W(x_i)) (THEORY.md §1); W and X of one dtype.

    The 2kn pre-activations come from one matrix product W X^T (BLAS), the cheapest way
    to do the 4kdn flops.
    """
    return loss_from_preactivations(np.dot(W, X.T), y, alpha, v, np.empty(X.shape[0]))


@jit
def loss_and_gradient(W, X, y, alpha, v, grad, loss=LOGISTIC, slope_at_zero=-1.0):
    """Return L_S(W) = (1/n) sum_i l and write dL_S/dW into grad (same shape as W).

    ``loss``: a code of kernels.losses (logistic on the margin y N_W(x), THEORY.md §1, or
    squared on N_W(x) - y with real labels). Uses the subgradient sigma'(z) = 1 if z > 0,
    alpha if z < 0 and ``slope_at_zero`` at 0; a negative ``slope_at_zero`` means alpha,
    the convention of THEORY.md §1.
    """
    n, d = X.shape
    two_k = W.shape[0]
    k = two_k // 2
    at_zero = alpha if slope_at_zero < 0.0 else slope_at_zero
    h = np.empty(two_k)
    grad[:, :] = 0.0
    total_loss = 0.0
    for i in range(n):
        total = 0.0
        for j in range(two_k):
            acc = 0.0
            for f in range(d):
                acc += W[j, f] * X[i, f]
            h[j] = acc
            act = acc if acc > 0.0 else alpha * acc
            total += act if j < k else -act
        if loss == LOGISTIC:
            z = y[i] * v * total
            total_loss += softplus_neg(z)
            base = -neg_loss_slope(z) * y[i] * v / n
        else:
            residual = v * total - y[i]
            total_loss += 0.5 * residual * residual
            base = residual * v / n
        for j in range(two_k):
            c = base * leaky_relu_slope(h[j], alpha, at_zero)
            if j >= k:
                c = -c
            for f in range(d):
                grad[j, f] += c * X[i, f]
    return total_loss / n
