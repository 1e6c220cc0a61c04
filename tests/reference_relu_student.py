"""A plain-NumPy reference of the ReLU student of THEORY.md §6.2: objective, gradients and
the two learners, written from the formulas (neuron-major W (M, d), whole-batch array
operations) independently of kernels/relu_student.py. The tests compare the kernels with
it step by step; benchmarks/bench_relu_student.py times it as the baseline.
"""
from __future__ import annotations

import numpy as np


def relu(z):
    return np.maximum(z, 0.0)


def output(a, W, X):
    """f(x) = sum_k a_k relu(<w_k, x>) for each row of X."""
    return relu(X @ W.T) @ a


def objective(a, W, X, y, lam, penalty):
    """(1/(2B)) sum (f - y)^2 + lam sum |a_k| ||w_k|| (tv) or + (lam/2) sum (a_k^2 + ||w_k||^2)."""
    loss = 0.5 * np.mean((output(a, W, X) - y) ** 2)
    norms = np.linalg.norm(W, axis=1)
    if penalty == "tv":
        return loss + lam * np.sum(np.abs(a) * norms)
    return loss + 0.5 * lam * np.sum(a ** 2 + norms ** 2)


def gradient(a, W, X, y, lam, penalty):
    """(grad_a (M,), grad_W (M, d)) of :func:`objective`, with relu'(0) = 0."""
    B = X.shape[0]
    H = X @ W.T
    r = relu(H) @ a - y
    grad_a = relu(H).T @ r / B
    grad_W = ((r[:, None] * (H > 0)) * a).T @ X / B
    norms = np.linalg.norm(W, axis=1)
    if penalty == "tv":
        grad_a = grad_a + lam * np.sign(a) * norms
        safe = np.where(norms > 0, norms, 1.0)
        grad_W = grad_W + lam * (np.abs(a) / safe * (norms > 0))[:, None] * W
    else:
        grad_a = grad_a + lam * a
        grad_W = grad_W + lam * W
    return grad_a, grad_W


def step(a, W, grad_a, grad_W, learner, rho, lr):
    """One step: plain GD, or conic: theta -= lr (g_rad + rho g_tan) per neuron theta_k = (a_k, w_k)."""
    theta = np.column_stack([a, W])
    g = np.column_stack([grad_a, grad_W])
    if learner == "conic":
        norm2 = np.sum(theta ** 2, axis=1)
        radial = np.where(norm2 > 0, np.sum(g * theta, axis=1) / np.where(norm2 > 0, norm2, 1.0), 0.0)
        g_rad = radial[:, None] * theta
        g = g_rad + rho * (g - g_rad)
    theta = theta - lr * g
    return theta[:, 0], theta[:, 1:]


def inputs_from_normals(Z, law):
    """Unif(S^{d-1}) rows (sphere) or N(0, I/d) rows (gaussian) from standard normal rows."""
    if law == "sphere":
        return Z / np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.sqrt(Z.shape[1])


def fresh_batch_steps(a, W, normals, noise_normals, a_teacher, W_teacher, noise, law, lam, penalty, learner, rho, lr):
    """The steps of kernels.relu_student.fresh_batch_steps; returns the new (a, W)."""
    for s in range(normals.shape[0]):
        X = inputs_from_normals(normals[s], law)
        y = output(a_teacher, W_teacher, X)
        if noise:
            y = y + noise * noise_normals[s]
        a, W = step(a, W, *gradient(a, W, X, y, lam, penalty), learner, rho, lr)
    return a, W
