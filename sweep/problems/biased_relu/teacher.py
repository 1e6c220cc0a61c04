"""Depth-2 ReLU networks with biases: the teacher, the canonical form, and the random
streams every run draws from (THEORY.md §6.3).

A network is (W, b, a) with W (m, d) whose rows are the neurons' w_i:
f(x) = sum_i a_i relu(<w_i, x> + b_i). Canonical form: w <- w/||w||, b <- b/||w||,
a <- a ||w|| (the same function). Every random draw of a run comes from
``numpy.random.default_rng([TAG, ...])`` with one tag per purpose, so that no two
purposes share a stream (:func:`stream`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import ortho_group

from sweep.problems.biased_relu.params import BiasedReluParams

# Purposes of the random streams (first entry of every seed sequence).
TEACHER, LEARNER, TRAINING, TEST = 1501, 1502, 1503, 1504


def stream(purpose: int, *keys: int) -> np.random.Generator:
    """The generator of ``purpose`` (a tag above) for the integer ``keys``."""
    return np.random.default_rng([purpose, *keys])


@dataclass(frozen=True)
class Network:
    """(W (m, d), b (m,), a (m,)) in float64."""

    W: np.ndarray
    b: np.ndarray
    a: np.ndarray

    @property
    def width(self) -> int:
        return self.W.shape[0]

    def canonical(self) -> "Network":
        """Unit rows: w/||w||, b/||w||, a||w||. A zero row stays as it is (it has no direction)."""
        norms = np.linalg.norm(self.W, axis=1)
        scale = np.where(norms > 0, norms, 1.0)
        return Network(self.W / scale[:, None], self.b / scale, self.a * scale)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """f(X) for the rows of X (n, d), in float64."""
        return np.maximum(X @ self.W.T + self.b, 0.0) @ self.a


def teacher_directions(p: BiasedReluParams, rng: np.random.Generator) -> np.ndarray:
    """Unit rows w_i = normalise(Q diag(s) g_i): Q Haar orthogonal (d, d), s geometric
    from 1 to 1/cond over the d axes, g_i ~ N(0, I_d). cond = 1 gives Gaussian
    (uniform) directions; larger cond crowds them towards the top axes of Q, so the
    smallest singular value s_m of W falls (THEORY.md §6.3)."""
    scales = p.cond ** -np.linspace(0.0, 1.0, p.d) if p.d > 1 else np.ones(1)
    Q = ortho_group.rvs(p.d, random_state=rng) if p.d > 1 else np.ones((1, 1))
    G = rng.standard_normal((p.m, p.d))
    W = (G * scales) @ Q.T
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def make_teacher(p: BiasedReluParams) -> Network:
    """The teacher of the run (canonical, float64) from ``stream(TEACHER, seed)``:
    directions by :func:`teacher_directions`, b_i ~ U[-beta, beta] or ``bias_values``,
    a_i = +-U[a_range] with independent fair signs. The b_i are drawn even when
    ``bias_values`` replaces them, so a bias ablation keeps the same W and a."""
    rng = stream(TEACHER, p.seed)
    W = teacher_directions(p, rng)
    b = rng.uniform(-p.beta, p.beta, p.m)
    if p.bias_values:
        b = np.array(p.bias_values, dtype=np.float64)
    lo, hi = p.a_range
    a = rng.uniform(lo, hi, p.m) * rng.choice((-1.0, 1.0), p.m)
    return Network(W, b, a)
