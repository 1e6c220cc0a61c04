"""The N training samples of a run, streamed in chunks regenerated from the seeds
(THEORY.md §6.3: "accumulate moments in chunks").

Sample i of half h (h = 1: S1, the first N // 2; h = 2: S2, the rest) is row i % CHUNK_ROWS
of chunk i // CHUNK_ROWS, drawn as ``stream(TRAINING, data_seed, seed, h, chunk)
.standard_normal((rows, d))``. A chunk's rows are a prefix of the same chunk at a larger
N, so the sample sets of a sweep over N are nested. Nothing holds more than two chunks
(plus, for SGD, one chunk's worth of carried-over rows), whatever N is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from kernels.biased_relu import network_output
from sweep.problems.biased_relu.teacher import TEST, TRAINING, Network, stream

CHUNK_ROWS = 65_536  # samples drawn at once (10 MB of float64 inputs at d = 20)
HALVES = (1, 2)


@dataclass(frozen=True)
class SampleStream:
    """The training samples (x, y = teacher(x)) of a run, chunk by chunk."""

    teacher: Network
    N: int
    data_seed: int
    seed: int

    @property
    def d(self) -> int:
        return self.teacher.W.shape[1]

    def half_size(self, half: int) -> int:
        """Samples in S1 (half 1: N // 2) or S2 (half 2: the rest)."""
        return self.N // 2 if half == 1 else self.N - self.N // 2

    def chunks(self, half: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(X (rows, d), y (rows,)) float64 chunks of one half, in order."""
        size = self.half_size(half)
        for index, start in enumerate(range(0, size, CHUNK_ROWS)):
            rows = min(CHUNK_ROWS, size - start)
            X = stream(TRAINING, self.data_seed, self.seed, half, index).standard_normal((rows, self.d))
            y = np.empty(rows)
            network_output(X, self.teacher.W, self.teacher.b, self.teacher.a, y)
            yield X, y

    def all_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every chunk of S1, then of S2: the N samples once."""
        for half in HALVES:
            yield from self.chunks(half)

    def batches(self, batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Endless (X, y) blocks of whole batches: the N samples in order, cycled. A batch
        may run across chunks and across the end of the N samples; every block holds a
        multiple of ``batch`` rows."""
        X_left, y_left = np.empty((0, self.d)), np.empty(0)
        while True:
            for X, y in self.all_chunks():
                X, y = np.concatenate([X_left, X]), np.concatenate([y_left, y])
                whole = X.shape[0] // batch * batch
                X_left, y_left = X[whole:], y[whole:]
                if whole:
                    yield X[:whole], y[:whole]


def fresh_inputs(data_seed: int, seed: int, n_test: int, d: int) -> np.ndarray:
    """The fresh inputs (n_test, d) of test_rel_l2, drawn from ``stream(TEST, data_seed, seed)``."""
    return stream(TEST, data_seed, seed).standard_normal((n_test, d))
