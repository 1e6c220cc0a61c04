"""How well a learned network recovers the teacher, neuron by neuron (THEORY.md §6.3, metrics).

Both networks are canonicalised (unit rows); each teacher neuron l is matched to one
learned neuron i by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``)
on the cost 1 - |<w_hat_i, w_l>| (a wider student leaves neurons unmatched). Per matched
pair: sign-resolved errors ||w_hat - w||, |b_hat - b|, |a_hat - a|; sign-agnostic ones
compare (s w_hat, s b_hat, a_hat) with s = sign <w_hat, w> (T_k, k >= 2, cannot tell
(w, b) from (-w, -b), THEORY.md §6.3); the pair is *flipped* when s = -1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from sweep.problems.biased_relu.teacher import Network


def match(teacher_W: np.ndarray, W: np.ndarray) -> np.ndarray:
    """For each teacher row (unit), the index of the learned row (unit or zero) matched to
    it, minimising the total 1 - |<w_hat_i, w_l>|."""
    cost = 1.0 - np.abs(teacher_W @ W.T)
    rows, columns = linear_sum_assignment(np.nan_to_num(cost, nan=2.0))
    matched = np.empty(teacher_W.shape[0], dtype=np.int64)
    matched[rows] = columns
    return matched


def direction_errors(teacher_W: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Per teacher neuron: min_s ||s w_hat - w|| of its matched learned direction."""
    W = Network(W, np.zeros(W.shape[0]), np.zeros(W.shape[0])).canonical().W
    mine = W[match(teacher_W, W)]
    return np.minimum(np.linalg.norm(mine - teacher_W, axis=1), np.linalg.norm(mine + teacher_W, axis=1))


@dataclass(frozen=True)
class Recovery:
    """Per teacher neuron (arrays of m): sign-resolved and sign-agnostic errors, flips."""

    err_w: np.ndarray
    err_b: np.ndarray
    err_a: np.ndarray
    err_w_sign_agnostic: np.ndarray
    err_b_sign_agnostic: np.ndarray
    err_a_sign_agnostic: np.ndarray
    flipped: np.ndarray

    def scalars(self) -> dict[str, float | int]:
        """The largest error of each kind over the neurons, and the number of flipped neurons."""
        worst = {name: float(np.max(getattr(self, name))) for name in
                 ("err_w", "err_b", "err_a", "err_w_sign_agnostic", "err_b_sign_agnostic", "err_a_sign_agnostic")}
        return {**worst, "flipped": int(np.sum(self.flipped))}


def recovery(teacher: Network, learned: Network) -> Recovery:
    """Match the canonical forms of ``learned`` and ``teacher`` and measure each pair."""
    teacher, learned = teacher.canonical(), learned.canonical()
    matched = match(teacher.W, learned.W)
    W, b, a = learned.W[matched], learned.b[matched], learned.a[matched]
    sign = np.where(np.sum(W * teacher.W, axis=1) < 0, -1.0, 1.0)
    return Recovery(
        err_w=np.linalg.norm(W - teacher.W, axis=1),
        err_b=np.abs(b - teacher.b),
        err_a=np.abs(a - teacher.a),
        err_w_sign_agnostic=np.linalg.norm(sign[:, None] * W - teacher.W, axis=1),
        err_b_sign_agnostic=np.abs(sign * b - teacher.b),
        err_a_sign_agnostic=np.abs(a - teacher.a),
        flipped=sign < 0,
    )
