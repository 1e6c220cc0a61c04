"""Full-batch gradient descent: the gradient-flow approximation of THEORY.md §4.

Plain GD takes steps lr * grad L_S. Loss-normalised GD takes steps lr * grad L_S / L_S,
which follows the same path re-parametrised in time and reaches the flow's limit
direction far sooner; the ratio grad/L_S is formed from log-losses so that it stays
exact when L_S underflows. Plain GD also takes another loss (kernels.losses, e.g.
squared with real labels), another convention for sigma'(0) and a projection of W after
each step (kernels.projections): projected GD.
"""
from __future__ import annotations

import math

import numpy as np
from kernels.jit import jit

from kernels.losses import BINARY_LABELS, LOGISTIC, loss_code, softplus_neg
from kernels.network import loss_and_gradient
from kernels.projections import NONE, project, projection_code
from kernels.validation import check_finite_positive, check_training_inputs


@jit
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


@jit
def _gd_steps(X, y, W, alpha, v, lr, steps, normalised, log_loss_out, loss, slope_at_zero, projection, level):
    """Run ``steps`` full-batch steps in place; log_loss_out[t] = log L_S before step t.

    Stops after a step whose loss before it is not finite."""
    n = X.shape[0]
    grad = np.empty_like(W)
    pre = np.empty((n, W.shape[0]))
    log_g = np.empty(n)
    log_l = np.empty(n)
    for t in range(steps):
        if normalised:
            log_loss_out[t] = _normalised_gradient(W, X, y, alpha, v, grad, pre, log_g, log_l)
            if not math.isfinite(log_loss_out[t]):
                return t + 1
        else:
            value = loss_and_gradient(W, X, y, alpha, v, grad, loss, slope_at_zero)
            log_loss_out[t] = math.log(value) if value != 0.0 else -math.inf
            if not math.isfinite(value):
                return t + 1
        W -= lr * grad
        if projection != NONE:
            project(W.reshape(-1), projection, level)
    return steps


def gd_train(X, y, W0, *, alpha, lr, steps, v=1.0, normalised=False, dtype=np.float64, loss="logistic",
             relu_slope_at_zero=None, projection="none", level=0.0):
    """Full-batch GD from W0 for ``steps`` steps; returns (W, log_loss per step).

    ``normalised`` divides each step by L_S(W) (THEORY.md §4; logistic loss only).
    log_loss[t] is log L_S before step t (-inf when L_S = 0); a non-finite loss ends the
    run early (the array is cut there). ``loss``: a name in kernels.losses.LOSSES (real
    labels unless logistic). ``relu_slope_at_zero``: sigma'(0), default alpha (THEORY.md
    §1). ``projection``, ``level``: W, as one vector, is projected onto that set
    (kernels.projections) after every step. Raises ValueError naming a bad argument.
    """
    code = loss_code(loss)
    X, y, W = check_training_inputs(X, y, W0, alpha, dtype, binary_labels=loss in BINARY_LABELS)
    check_finite_positive("lr", lr)
    check_finite_positive("v", v)
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    if normalised and code != LOGISTIC:
        raise ValueError(f"normalised GD needs the logistic loss, got loss {loss!r}")
    slope_at_zero = -1.0 if relu_slope_at_zero is None else float(relu_slope_at_zero)
    if relu_slope_at_zero is not None and not 0.0 <= slope_at_zero <= 1.0:
        raise ValueError(f"relu_slope_at_zero must be in [0, 1], got {relu_slope_at_zero!r}")
    kind = projection_code(projection)
    if not (np.isfinite(level) and level >= 0):
        raise ValueError(f"level must be a finite number >= 0, got {level!r}")
    log_loss = np.empty(int(steps))
    ran = _gd_steps(X, y, W, float(alpha), float(v), float(lr), int(steps), bool(normalised), log_loss, code,
                    slope_at_zero, kind, float(level))
    return W, log_loss[:ran]
