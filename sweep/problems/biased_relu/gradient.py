"""The gradient learners of THEORY.md §6.3: SGD on a student with biases from a random
init (``sgd``), and the refinement of a moment estimate (``hybrid``, step 6: least
squares for a given (W, b), then SGD).

Both take their batches from the run's N samples in order, cycled
(:meth:`SampleStream.batches`): a budget of steps * batch <= N is one pass of fresh
Gaussian batches, a larger one revisits the same N samples. The steps run in the
Numba kernel :func:`kernels.biased_relu.sgd_steps`, in the run's dtype.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.biased_relu import accumulate_least_squares, network_output, sgd_steps
from sweep.problems.biased_relu.samples import SampleStream
from sweep.problems.biased_relu.teacher import Network

DIVERGED_LOSS = 1e12  # a batch loss above this (or not finite) stops a run as diverged


def random_student(width: int, d: int, rng: np.random.Generator) -> Network:
    """The sgd init (THEORY.md §6.3): w ~ N(0, I/d), b = 0, a ~ N(0, 1/width)."""
    return Network(rng.standard_normal((width, d)) / np.sqrt(d), np.zeros(width),
                   rng.standard_normal(width) / np.sqrt(width))


def least_squares_output_layer(network: Network, samples: SampleStream) -> Network:
    """Step 6's least squares: the a minimising sum (y - sum_k a_k relu(<w_k, x> + b_k))^2
    for the given (W, b), over the first chunk of S2 (the half the directions were not
    estimated on; up to CHUNK_ROWS samples: the labels are noiseless, so the error of a
    comes from that of (W, b), not from the sample count). Normal equations in float64,
    solved by lstsq so that a dead neuron leaves a rank-deficient system solvable."""
    m = network.width
    total, compensation = np.zeros((m, m + 1)), np.zeros((m, m + 1))
    X, y = next(samples.chunks(2))
    accumulate_least_squares(X, y, network.W, network.b, total, compensation)
    system = total + compensation
    a = np.linalg.lstsq(system[:, :m], system[:, m], rcond=None)[0]
    return Network(network.W, network.b, a)


def relative_l2(student: Network, X_test: np.ndarray, f_test: np.ndarray) -> float:
    """E[(g - f)^2] / E[f^2] over the test inputs, in float64."""
    g = np.empty(X_test.shape[0])
    network_output(X_test, student.W, student.b, student.a, g)
    return float(np.sum((g - f_test) ** 2) / np.sum(f_test ** 2))


@dataclass(frozen=True)
class Training:
    """The trained network (float64), test_rel_l2 at the recorded steps (NaN after a
    divergence), the steps taken and whether the loss blew up."""

    network: Network
    curve: np.ndarray
    steps_taken: int
    diverged: bool


def train(start: Network, samples: SampleStream, steps: int, lr: float, batch: int, dtype: str,
          record_at: np.ndarray, X_test: np.ndarray, f_test: np.ndarray) -> Training:
    """``steps`` SGD steps from ``start`` on the run's samples; test_rel_l2 after each
    step count in ``record_at`` (ascending, 0 = the start) that is <= steps."""
    kind = np.dtype(dtype).type
    W, b, a = (np.array(v, dtype=kind, order="C") for v in (start.W, start.b, start.a))  # rows for the kernel
    curve = np.full(record_at.size, np.nan)

    def current() -> Network:
        return Network(W.astype(np.float64), b.astype(np.float64), a.astype(np.float64))

    column = {int(s): i for i, s in enumerate(record_at) if s <= steps}
    done, diverged = 0, False
    if 0 in column:
        curve[column[0]] = relative_l2(current(), X_test, f_test)
    batches = samples.batches(batch)
    while done < steps and not diverged:
        X, y = next(batches)
        X, y = np.asarray(X, dtype=kind), np.asarray(y, dtype=kind)
        offset, available = 0, X.shape[0] // batch
        while available and done < steps and not diverged:
            target = min((s for s in column if s > done), default=steps)
            count = min(target - done, available)
            losses = np.empty(count)
            taken = sgd_steps(X[offset * batch:], y[offset * batch:], W, b, a, lr, batch, count, losses)
            diverged = taken < count or not np.all(losses[:taken] < DIVERGED_LOSS)
            done, offset, available = done + taken, offset + taken, available - taken
            if done in column and not diverged:
                curve[column[done]] = relative_l2(current(), X_test, f_test)
    return Training(current(), curve, done, diverged)
