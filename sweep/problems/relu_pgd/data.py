"""Teacher and data of the ``relu_pgd`` problem (THEORY.md §6.1).

Teacher: support S of size s uniform without replacement, w*_S ~ N(0, I_s), zero
elsewhere, scaled to ||w*|| = 1. Inputs x ~ N(0, I_d), labels y = relu(<w*, x>).
One draw per (data_seed, seed), the same in any process: the teacher, the training
inputs and the test inputs come from three streams ``default_rng([data_seed, seed, k])``,
k = 0, 1, 2. Training inputs are drawn row by row, so the first n rows are the same
for every larger n (a sweep over n adds points to the same sample).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sweep.problems.relu_pgd.params import ReluPGDParams

TEACHER, TRAIN, TEST = 0, 1, 2  # the stream of each draw


@dataclass(frozen=True)
class Instance:
    """One draw: w* (d, float64), X (n, d) and y (n) in the run's dtype, X_test (n_test, d, float64)."""

    w_star: np.ndarray
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray


def teacher(d: int, s: int, rng: np.random.Generator) -> np.ndarray:
    """An s-sparse unit vector of R^d: uniform support, Gaussian values."""
    w_star = np.zeros(d)
    support = rng.choice(d, size=s, replace=False)
    w_star[support] = rng.standard_normal(s)
    return w_star / np.linalg.norm(w_star)


def relu_labels(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.maximum(X @ w, 0.0)


def make_instance(p: ReluPGDParams) -> Instance:
    """The teacher, training set and test inputs of the run ``p`` (labels computed in float64)."""
    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([p.data_seed, p.seed, k])

    w_star = teacher(p.d, p.s, stream(TEACHER))
    X = stream(TRAIN).standard_normal((p.n, p.d))
    y = relu_labels(X, w_star)
    X_test = stream(TEST).standard_normal((p.n_test, p.d))
    return Instance(w_star, X.astype(p.dtype, copy=False), y.astype(p.dtype, copy=False), X_test)
