"""Teacher and data of the ``relu_pgd`` problem (THEORY.md §6.1).

Teacher: support S of size s uniform without replacement, w*_S ~ N(0, I_s), zero
elsewhere, scaled to ||w*|| = 1. Inputs x ~ N(0, I_d), labels y = relu(<w*, x>).
One draw per (data_seed, seed), the same in any process: the teacher, the training
inputs and the test inputs come from three streams ``default_rng([data_seed, seed, k])``,
k = 0, 1, 2. Training inputs are drawn row by row, so the first n rows are the same
for every larger n (a sweep over n adds points to the same sample). The streams of a
batch of runs are drawn in one kernel call (kernels/streams.py: NumPy's Generator, bit
for bit); w* is normalised and the labels computed run by run, in NumPy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from kernels.streams import draw_sparse_teachers_and_inputs
from sweep.problems.relu_pgd.params import ReluPGDParams

MAX_ENTROPY_WORDS = 4  # data_seed and seed, each < 2**63: at most 2 uint32 words


@dataclass(frozen=True)
class Instance:
    """One draw: w* (d, float64), X (n, d) and y (n) in the run's dtype, X_test (n_test, d, float64)."""

    w_star: np.ndarray
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray


def seed_words(value: int) -> list[int]:
    """The uint32 words SeedSequence makes of a non-negative int (lowest first; [0] for 0)."""
    words = [value & 0xFFFFFFFF]
    while value >= 2**32:
        value >>= 32
        words.append(value & 0xFFFFFFFF)
    return words


def relu_labels(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """relu(X w) of one run (X: (n, d), w: (d,)) or of each run of a batch (X: (R, n, d), w: (R, d))."""
    return np.maximum((X @ w[..., None])[..., 0], 0.0)


@dataclass(frozen=True)
class Instances:
    """The draws of a batch of R runs of one shape, run r at index r: w_star (R, d), X (R,
    n, d) and y (R, n) in the runs' dtype, X_test (R, n_test, d)."""

    w_star: np.ndarray
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray

    def __getitem__(self, r: int) -> Instance:
        return Instance(self.w_star[r], self.X[r], self.y[r], self.X_test[r])


def make_instances(ps: Sequence[ReluPGDParams]) -> Instances:
    """The teacher, training set and test inputs of each run of ``ps`` (equal d, s, n,
    n_test and dtype), drawn together; each is the draw of the run alone. The teacher: an
    s-sparse unit vector of R^d, uniform support, Gaussian values; labels in float64."""
    first = ps[0]
    entropy = np.zeros((len(ps), MAX_ENTROPY_WORDS), np.uint32)
    lengths = np.empty(len(ps), np.int64)
    for r, p in enumerate(ps):
        words = seed_words(p.data_seed) + seed_words(p.seed)
        entropy[r, :len(words)] = words
        lengths[r] = len(words)
    support = np.empty((len(ps), first.s), np.int64)
    values = np.empty((len(ps), first.s))
    X = np.empty((len(ps), first.n, first.d))
    X_test = np.empty((len(ps), first.n_test, first.d))
    draw_sparse_teachers_and_inputs(entropy, lengths, support, values, X, X_test)
    w_star = np.zeros((len(ps), first.d))
    w_star[np.arange(len(ps))[:, None], support] = values
    w_star /= np.array([np.linalg.norm(row) for row in w_star])[:, None]
    y = relu_labels(X, w_star)
    return Instances(w_star, X.astype(first.dtype, copy=False), y.astype(first.dtype, copy=False), X_test)


def make_instance(p: ReluPGDParams) -> Instance:
    """The teacher, training set and test inputs of the run ``p`` (labels computed in float64)."""
    return make_instances([p])[0]
