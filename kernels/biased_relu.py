"""A depth-2 ReLU network with biases, g(x) = sum_k a_k relu(<w_k, x> + b_k), and the
squared-loss SGD that trains it (THEORY.md §6.3, the gradient baseline and the hybrid).

Rows of W are neurons: W (m, d), b (m,), a (m,). relu'(0) = 0. The loss of a batch B is
(1/2|B|) sum (g(x) - y)^2; one step moves (W, b, a) along its gradient, every neuron's
update computed from the pre-step parameters. Kernels work in the dtype of their
arrays (float64 or float32); :func:`accumulate_least_squares` accumulates in float64.
"""
from __future__ import annotations

import math

import numpy as np

from kernels.hermite import BLOCK_ROWS, add_compensated
from kernels.jit import jit


@jit
def network_output(X, W, b, a, out):
    """out[i] = sum_k a_k relu(<w_k, x_i> + b_k) for the rows x_i of X (n, d)."""
    n = X.shape[0]
    m = W.shape[0]
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        Z = np.dot(X[start:stop], W.T)
        for i in range(stop - start):
            s = 0.0
            for k in range(m):
                z = Z[i, k] + b[k]
                if z > 0.0:
                    s += a[k] * z
            out[start + i] = s


@jit
def accumulate_least_squares(X, y, W, b, total, compensation):
    """Add [H^T H | H^T y] of H = relu(X W^T + b) (n, m) to (total, compensation), both
    (m, m + 1) float64: the normal equations of the second layer a for given (W, b)."""
    n = X.shape[0]
    m = W.shape[0]
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        H = np.dot(X[start:stop], W.T)
        for i in range(stop - start):
            for k in range(m):
                z = H[i, k] + b[k]
                H[i, k] = z if z > 0.0 else 0.0
        block = np.empty((m, m + 1))
        block[:, :m] = np.dot(H.T, H)
        block[:, m] = np.dot(H.T, y[start:stop])
        add_compensated(total, compensation, block)


@jit
def sgd_steps(X, y, W, b, a, lr, batch, steps, losses):
    """``steps`` SGD steps on the batches X[s*batch:(s+1)*batch], s = 0..steps-1.

    X (steps*batch or more, d) and y in the dtype of W, b, a, which are updated in place.
    losses[s] receives the batch loss (1/2B) sum (g - y)^2 before step s. Stops early
    when a loss is not finite (the parameters are then those that produced it) and
    returns the steps taken.
    """
    m = W.shape[0]
    d = W.shape[1]
    scale = 1.0 / batch
    grad_W = np.empty_like(W)
    grad_b = np.empty_like(b)
    grad_a = np.empty_like(a)
    D = np.empty((batch, m), W.dtype)
    for s in range(steps):
        Xb = X[s * batch:(s + 1) * batch]
        yb = y[s * batch:(s + 1) * batch]
        Z = np.dot(Xb, W.T)
        loss = 0.0
        grad_b[:] = 0.0
        grad_a[:] = 0.0
        for i in range(batch):
            g = 0.0
            for k in range(m):
                z = Z[i, k] + b[k]
                h = z if z > 0.0 else 0.0
                Z[i, k] = h
                g += a[k] * h
            r = g - yb[i]
            loss += r * r
            r *= scale
            for k in range(m):
                grad_a[k] += r * Z[i, k]
                if Z[i, k] > 0.0:
                    D[i, k] = r * a[k]
                    grad_b[k] += r * a[k]
                else:
                    D[i, k] = 0.0
        losses[s] = 0.5 * loss * scale
        if not math.isfinite(losses[s]):
            return s
        grad_W[:] = np.dot(D.T, Xb)
        for k in range(m):
            for j in range(d):
                W[k, j] -= lr * grad_W[k, j]
            b[k] -= lr * grad_b[k]
            a[k] -= lr * grad_a[k]
    return steps
