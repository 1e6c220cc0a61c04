"""BOUND.md Prop. 7's worst-case start (THEORY.md §2.1): every row of W0 equal to -B e_d.

On the data set ``two_point`` (x_+ = (1, 1), x_- = (-1, 1)) the rows (0, -B) with
B = :func:`dead_row_depth` are dead on both points, and the proof of Prop. 7 gives, for
every visiting order, E_clean >= :func:`prop7_lower_bound` = z_eps / (4 k alpha^2 v^2 lr) + 1/4:
an a-priori bound valid for every W0 cannot scale better than alpha^-2 k^-1 v^-2 lr^-1.
With ``bias`` any data set has last coordinate 1, so these rows are dead on every point.
"""
from __future__ import annotations

import math

import numpy as np


def eps_logit(eps: float) -> float:
    """z_eps = -log(e^eps - 1): a point has loss >= eps exactly when its margin z <= z_eps (BOUND.md §1)."""
    return -math.log(math.expm1(eps))


def dead_row_depth(*, k: int, alpha: float, v: float, lr: float, eps: float) -> float:
    """B = z_eps / (k alpha v) + 4 lr v alpha, the depth of Prop. 7's dead rows (R_0 = B)."""
    return eps_logit(eps) / (k * alpha * v) + 4 * lr * v * alpha


def dead_row_weights(width: int, d: int, depth: float, dtype=np.float64) -> np.ndarray:
    """W0 (2 * width, d): every row -depth e_d, i.e. (0, -B) in R^2 (BOUND.md Prop. 7)."""
    W0 = np.zeros((2 * width, d), dtype=dtype)
    W0[:, -1] = -depth
    return W0


def prop7_lower_bound(*, k: int, alpha: float, v: float, lr: float, eps: float) -> float:
    """E_clean >= z_eps / (4 k alpha^2 v^2 lr) + 1/4 on ``two_point`` from ``dead_rows``, every
    visiting order (BOUND.md Prop. 7)."""
    return eps_logit(eps) / (4 * k * alpha * alpha * v * v * lr) + 0.25
