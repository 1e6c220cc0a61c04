"""A depth-2 ReLU network with biases, g(x) = sum_k a_k relu(<w_k, x> + b_k), and the
squared-loss SGD that trains it (THEORY.md §6.3, the gradient baseline and the hybrid).

Rows of W are neurons: W (m, d), b (m,), a (m,). relu'(0) = 0. The loss of a batch B is
(1/2|B|) sum (g(x) - y)^2; one step moves (W, b, a) along its gradient, every neuron's
update computed from the pre-step parameters. The products are plain loops, not BLAS:
they are small (m, d <= 100), and BLAS threads only contend on a shared machine. SGD
works in the dtype of its arrays (float64 or float32); the sums of
:func:`accumulate_least_squares` are float64.
"""
from __future__ import annotations

import math

import numpy as np

from kernels.hermite import BLOCK_ROWS, add_compensated
from kernels.jit import jit
from kernels.ordered_sums import dot, dot_float64


@jit(inline=True)
def _hidden(x, W, b, h):
    """h[k] = relu(<w_k, x> + b_k) (h is also the pre-activation's sign: h > 0 iff active);
    <w_k, x> in kernels.ordered_sums' order, in W's dtype."""
    for k in range(W.shape[0]):
        z = b[k] + dot(W[k], x)
        h[k] = z if z > 0.0 else 0.0


@jit
def network_output(X, W, b, a, out):
    """out[i] = sum_k a_k relu(<w_k, x_i> + b_k) for the rows x_i of X (n, d), the sum over
    k in float64."""
    rows, neurons, weights = np.ascontiguousarray(X), np.ascontiguousarray(W), np.ascontiguousarray(a)  # for dot
    h = np.empty(W.shape[0], W.dtype)
    for i in range(X.shape[0]):
        _hidden(rows[i], neurons, b, h)
        out[i] = dot_float64(weights, h)


@jit
def accumulate_least_squares(X, y, W, b, total, compensation):
    """Add [H^T H | H^T y] of H = relu(X W^T + b) (n, m) to (total, compensation), both
    (m, m + 1) float64: the normal equations of the second layer a for given (W, b)."""
    n = X.shape[0]
    m = W.shape[0]
    rows, neurons = np.ascontiguousarray(X), np.ascontiguousarray(W)  # for ordered_sums.dot (no copy if C)
    h = np.empty(m)
    block = np.empty((m, m + 1))
    for start in range(0, n, BLOCK_ROWS):
        block[:] = 0.0
        for i in range(start, min(start + BLOCK_ROWS, n)):
            _hidden(rows[i], neurons, b, h)
            for k in range(m):
                if h[k] > 0.0:
                    for l in range(m):
                        block[k, l] += h[k] * h[l]
                    block[k, m] += h[k] * y[i]
        add_compensated(total, compensation, block)


@jit
def sgd_steps(X, y, W, b, a, lr, batch, steps, losses):
    """``steps`` SGD steps on the batches X[s*batch:(s+1)*batch], s = 0..steps-1.

    X (steps*batch or more rows, d) and y in the dtype of W, b, a (C-contiguous), which
    are updated in place. losses[s] (float64) receives the batch loss (1/2B) sum (g - y)^2
    before step s. Stops at the first loss that is not finite (the parameters are then those that
    produced it) and returns the steps taken.
    """
    m, d = W.shape
    scale = 1.0 / batch
    h = np.empty(m, W.dtype)
    grad_W = np.empty_like(W)
    grad_b = np.empty_like(b)
    grad_a = np.empty_like(a)
    for s in range(steps):
        grad_W[:] = 0.0
        grad_b[:] = 0.0
        grad_a[:] = 0.0
        loss = 0.0
        for i in range(s * batch, (s + 1) * batch):
            x = X[i]
            _hidden(x, W, b, h)
            r = dot_float64(a, h) - y[i]
            loss += r * r
            for k in range(m):
                if h[k] > 0.0:
                    grad_a[k] += r * h[k]
                    back = r * a[k]
                    grad_b[k] += back
                    for j in range(d):
                        grad_W[k, j] += back * x[j]
        losses[s] = 0.5 * loss * scale
        if not math.isfinite(losses[s]):
            return s
        step = lr * scale
        for k in range(m):
            for j in range(d):
                W[k, j] -= step * grad_W[k, j]
            b[k] -= step * grad_b[k]
            a[k] -= step * grad_a[k]
    return steps
