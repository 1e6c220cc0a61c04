"""The two-layer ReLU student of THEORY.md §6.2: forward pass, squared loss plus penalty,
gradients, and the plain and conic gradient steps.

The network is f(x) = sum_k a_k relu(<w_k, x>), stored as ``a`` (M,) and ``W`` (M, d).
Inputs are feature-major, ``XT`` (d, B) with one point per column, and are taken in
blocks of BLOCK_POINTS points, so that every inner loop runs over the points of a block
and vectorises whatever d and M. On a batch of B points the objective is

    F = (1/(2B)) sum_i (f(x_i) - y_i)^2 + P(a, W),

with the penalty P picked by name from :data:`PENALTIES`:

- ``tv``: lam sum_k |a_k| ||w_k||, the total variation of the measure sum_k c_k delta_{theta_k}
  (c_k = a_k ||w_k||); its gradient takes sign(0) = 0 and w/||w|| = 0 at w = 0;
- ``weight_decay``: (lam/2) sum_k (a_k^2 + ||w_k||^2), the smooth surrogate with the same
  infimum over the rescalings (a, w) -> (a/t, t w).

relu'(0) = 0 (THEORY.md §6.2). The step, picked by name from :data:`LEARNERS`, moves each
neuron theta_k = (a_k, w_k) in R^{d+1}:

- ``gd``: theta_k -= lr g_k, with g_k = grad_{theta_k} F;
- ``conic``: theta_k -= lr (g_rad + rho g_tan), g_rad = (<g_k, theta_k>/||theta_k||^2) theta_k,
  g_tan = g_k - g_rad; computed as rho g_k + (1 - rho) g_rad, which is g_k exactly when
  rho = 1 (so that ``conic`` at rho = 1 *is* ``gd``, bit for bit). At theta_k = 0, g_rad = 0.

Inputs come from standard normal draws, turned in place into the input law of
:data:`INPUT_LAWS`: ``sphere`` (columns normalised: Unif(S^{d-1})) or ``gaussian``
(columns scaled by 1/sqrt(d): N(0, I_d/d), the same E||x||^2 = 1 as the sphere).

Float32 runs keep a, W and the inputs in float32; the loss, the residuals and the labels
are float64. Pure arrays in and out; the RNG stays with the caller (normal draws are
passed in).
"""
from __future__ import annotations

import math

import numpy as np

from kernels.jit import jit
from kernels.ordered_sums import dot, dot_float64, dot_float64_four

SPHERE, GAUSSIAN = 0, 1
INPUT_LAWS = {"sphere": SPHERE, "gaussian": GAUSSIAN}
TV, WEIGHT_DECAY = 0, 1
PENALTIES = {"tv": TV, "weight_decay": WEIGHT_DECAY}
GD, CONIC = 0, 1
LEARNERS = {"gd": GD, "conic": CONIC}

BLOCK_POINTS = 256  # points per block: their inputs (d x 256) stay in L1/L2 while every neuron passes over them


@jit
def block_preactivations(W, XT, start, stop, HT):
    """HT[k, i - start] = <w_k, x_i> for the points start <= i < stop (columns of XT (d, B)).

    Four features per pass over a row of HT (a quarter of the loads and stores of one).
    """
    M, d = W.shape
    P = stop - start
    d4 = d - d % 4
    for k in range(M):
        row = HT[k, :P]
        row[:] = 0.0
        for f in range(0, d4, 4):
            w0, w1, w2, w3 = W[k, f], W[k, f + 1], W[k, f + 2], W[k, f + 3]
            x0, x1 = XT[f, start:stop], XT[f + 1, start:stop]
            x2, x3 = XT[f + 2, start:stop], XT[f + 3, start:stop]
            for i in range(P):
                row[i] += w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]
        for f in range(d4, d):
            w = W[k, f]
            x = XT[f, start:stop]
            for i in range(P):
                row[i] += w * x[i]


@jit
def add_block_products(CT, XT, start, stop, grad_W):
    """grad_W[k, f] += sum_i CT[k, i - start] XT[f, i] over start <= i < stop, summed in
    float64 in kernels.ordered_sums' order (four features per pass over a row of CT)."""
    M, d = grad_W.shape
    P = stop - start
    d4 = d - d % 4
    for k in range(M):
        row = CT[k, :P]
        for f in range(0, d4, 4):
            s0, s1, s2, s3 = dot_float64_four(row, XT[f, start:stop], XT[f + 1, start:stop], XT[f + 2, start:stop],
                                              XT[f + 3, start:stop])
            grad_W[k, f] += s0
            grad_W[k, f + 1] += s1
            grad_W[k, f + 2] += s2
            grad_W[k, f + 3] += s3
        for f in range(d4, d):
            grad_W[k, f] += dot_float64(row, XT[f, start:stop])


@jit
def block_outputs(a, HT, P, out):
    """out[i] = sum_k a_k relu(HT[k, i]) for i < P, summed in float64."""
    out[:P] = 0.0
    for k in range(a.shape[0]):
        ak = float(a[k])
        row = HT[k]
        for i in range(P):
            h = row[i]
            if h > 0.0:
                out[i] += ak * h


@jit
def outputs_into(a, W, XT, HT, out):
    """out[i] = f(x_i) for every column x_i of XT (d, n); HT: (M, P) work array."""
    n = XT.shape[1]
    P = HT.shape[1]
    for start in range(0, n, P):
        stop = min(start + P, n)
        block_preactivations(W, XT, start, stop, HT)
        block_outputs(a, HT, stop - start, out[start:stop])


@jit
def network_output(XT, W, a):
    """f(x_i) for every column x_i of XT (d, n); an (n,) float64 array."""
    n = XT.shape[1]
    out = np.empty(n)
    outputs_into(a, W, XT, np.empty((a.shape[0], min(n, BLOCK_POINTS)), dtype=W.dtype), out)
    return out


@jit
def penalty_value(a, W, lam, penalty):
    """P(a, W): lam sum |a_k| ||w_k|| (tv) or (lam/2) sum (a_k^2 + ||w_k||^2) (weight_decay)."""
    M, d = W.shape
    total = 0.0
    for k in range(M):
        norm2 = 0.0
        for f in range(d):
            norm2 += float(W[k, f]) ** 2
        if penalty == TV:
            total += abs(float(a[k])) * math.sqrt(norm2)
        else:
            total += 0.5 * (float(a[k]) ** 2 + norm2)
    return lam * total


@jit
def add_penalty_gradient(a, W, lam, penalty, grad_a, grad_W):
    """grad += grad P (see :func:`penalty_value`); tv takes sign(0) = 0 and w/||w|| = 0 at w = 0."""
    M, d = W.shape
    for k in range(M):
        if penalty == WEIGHT_DECAY:
            grad_a[k] += lam * a[k]
            for f in range(d):
                grad_W[k, f] += lam * W[k, f]
            continue
        norm2 = 0.0
        for f in range(d):
            norm2 += float(W[k, f]) ** 2
        norm = math.sqrt(norm2)
        grad_a[k] += lam * np.sign(a[k]) * norm
        if norm > 0.0:
            scale = lam * abs(a[k]) / norm
            for f in range(d):
                grad_W[k, f] += scale * W[k, f]


@jit
def loss_gradient(a, W, XT, y, lam, penalty, grad_a, grad_W, HT, r, active):
    """Write grad F into grad_a (M,) and grad_W (M, d) and return F on the batch (XT, y).

    XT: (d, B) inputs, one point per column; HT: (M, P) work array in W's dtype with P from
    ``min(B, BLOCK_POINTS)``; r, active: (P,) float64 work arrays. grad_a and grad_W are
    overwritten. The points are taken in blocks of P, every loop running over the points
    of a block; the sums over points are float64, in kernels.ordered_sums' order.
    """
    M, d = W.shape
    B = XT.shape[1]
    P = HT.shape[1]
    grad_a[:] = 0.0
    grad_W[:, :] = 0.0
    loss = 0.0
    for start in range(0, B, P):
        stop = min(start + P, B)
        n = stop - start
        block_preactivations(W, XT, start, stop, HT)
        block_outputs(a, HT, n, r)
        residuals, relu = r[:n], active[:n]
        for i in range(n):
            residuals[i] -= y[start + i]
        loss += dot(residuals, residuals)
        for k in range(M):
            ak = a[k]
            row = HT[k, :n]
            for i in range(n):
                h = row[i]
                relu[i] = h if h > 0.0 else 0.0
                row[i] = residuals[i] * ak if h > 0.0 else 0.0
            grad_a[k] += dot(residuals, relu)
        add_block_products(HT, XT, start, stop, grad_W)
    grad_a /= B
    grad_W /= B
    if lam != 0.0:
        add_penalty_gradient(a, W, lam, penalty, grad_a, grad_W)
    return 0.5 * loss / B + penalty_value(a, W, lam, penalty)


@jit
def update(a, W, grad_a, grad_W, learner, rho, lr):
    """One step of ``learner`` (a code of LEARNERS) from the gradient, in place."""
    M, d = W.shape
    if learner == GD:
        for k in range(M):
            a[k] -= lr * grad_a[k]
            for f in range(d):
                W[k, f] -= lr * grad_W[k, f]
        return
    for k in range(M):
        inner = float(grad_a[k]) * a[k]
        norm2 = float(a[k]) ** 2
        for f in range(d):
            inner += float(grad_W[k, f]) * W[k, f]
            norm2 += float(W[k, f]) ** 2
        radial = (1.0 - rho) * inner / norm2 if norm2 > 0.0 else 0.0  # (1 - rho) <g, theta>/||theta||^2
        a[k] -= lr * (rho * grad_a[k] + radial * a[k])
        for f in range(d):
            W[k, f] -= lr * (rho * grad_W[k, f] + radial * W[k, f])


@jit
def inputs_from_normals(ZT, law, norms):
    """Turn standard normal columns of ZT (d, n) into inputs of ``law`` (a code of
    INPUT_LAWS), in place: sphere columns are normalised, gaussian ones scaled by
    1/sqrt(d). norms: (n,) float64 work array."""
    d, n = ZT.shape
    if law == GAUSSIAN:
        ZT *= 1.0 / math.sqrt(d)
        return
    norms[:n] = 0.0
    for f in range(d):
        z = ZT[f]
        for i in range(n):
            norms[i] += float(z[i]) * z[i]
    for i in range(n):
        norms[i] = 1.0 / math.sqrt(norms[i])
    for f in range(d):
        z = ZT[f]
        for i in range(n):
            z[i] *= norms[i]


@jit
def fresh_batch_steps(a, W, normals, noise_normals, a_teacher, W_teacher, noise, law, lam, penalty, learner, rho,
                      lr):
    """Steps on fresh batches: step s turns normals[s] (d, B) into its inputs (in place),
    labels them with the teacher (a_teacher, W_teacher) plus noise * noise_normals[s]
    (noise_normals: (S, B), or (S, 0) when noise = 0) and takes one step.

    Returns the number of steps taken: len(normals), or fewer when the batch objective
    before a step is not finite (that step is not taken).
    """
    steps, d, B = normals.shape
    M = a.shape[0]
    grad_a = np.empty_like(a)
    grad_W = np.empty_like(W)
    HT = np.empty((M, min(B, BLOCK_POINTS)), dtype=W.dtype)
    HT_teacher = np.empty((a_teacher.shape[0], min(B, BLOCK_POINTS)), dtype=W.dtype)
    r, active = np.empty(HT.shape[1]), np.empty(HT.shape[1])
    y = np.empty(B)
    norms = np.empty(B)
    for s in range(steps):
        XT = normals[s]
        inputs_from_normals(XT, law, norms)
        outputs_into(a_teacher, W_teacher, XT, HT_teacher, y)
        if noise != 0.0:
            for i in range(B):
                y[i] += noise * noise_normals[s, i]
        value = loss_gradient(a, W, XT, y, lam, penalty, grad_a, grad_W, HT, r, active)
        if not math.isfinite(value):
            return s
        update(a, W, grad_a, grad_W, learner, rho, lr)
    return steps


@jit
def training_set_steps(a, W, XT, y, order, lam, penalty, learner, rho, lr):
    """Steps on a fixed training set (XT (d, n), y): step s uses the points order[s] (an
    (S, b) array of indices); b = 0 means every point, in stored order (full-batch GD).

    Returns the number of steps taken (fewer than len(order) when the batch objective
    before a step is not finite; that step is not taken).
    """
    steps, b = order.shape
    d = XT.shape[0]
    size = b if b > 0 else XT.shape[1]
    M = a.shape[0]
    grad_a = np.empty_like(a)
    grad_W = np.empty_like(W)
    HT = np.empty((M, min(size, BLOCK_POINTS)), dtype=W.dtype)
    r, active = np.empty(HT.shape[1]), np.empty(HT.shape[1])
    XTb = np.empty((d, b), dtype=XT.dtype)
    yb = np.empty(b)
    for s in range(steps):
        if b == 0:
            value = loss_gradient(a, W, XT, y, lam, penalty, grad_a, grad_W, HT, r, active)
        else:
            for i in range(b):
                j = order[s, i]
                yb[i] = y[j]
                for f in range(d):
                    XTb[f, i] = XT[f, j]
            value = loss_gradient(a, W, XTb, yb, lam, penalty, grad_a, grad_W, HT, r, active)
        if not math.isfinite(value):
            return s
        update(a, W, grad_a, grad_W, learner, rho, lr)
    return steps
