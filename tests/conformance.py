"""One table of every SGD path and every loss and metric kernel, each with its plain-NumPy
reference and the shapes that select it (numbagg's COMPARISONS is the model).

``SGD_PATHS``: each way a run's steps can go (kernels.sgd's layouts, the lanes of
kernels.sgd_batched), with a test shape per dtype and a benchmark shape; the reference
is the step-by-step replay of tests/reference.py (THEORY.md §1-2, with the violating
steps of §2.1). ``KERNEL_COMPARISONS``:
the loss and metric kernels against NumPy written from THEORY.md §1, §3-4.
tests/test_conformance.py holds each entry against its reference and checks that every
layout is reached; benchmarks/bench_against_commit.py times the benchmark shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from kernels.metrics import METRIC_NAMES, clustering_ratio, max_intra_angle, training_metrics
from kernels.network import dataset_loss, loss_and_gradient, network_output
from kernels.sgd import LAYOUTS
from kernels.sgd_batched import LANES_SHUFFLE_POINTS, MIN_LANES
from tests import reference as ref

LANE_LAYOUTS = ("lanes narrow", "lanes wide")


@dataclass(frozen=True)
class SGDPath:
    """A path of the SGD kernels: ``layout`` (a name of kernels.sgd.LAYOUTS or of
    LANE_LAYOUTS, what ``SGDTrainer.layout`` / ``batch_trainer(...).layout`` report),
    the shapes (n, d, k, runs) that select it in the tests, per dtype, and in the
    benchmarks; ``delayed_steps`` as ``sgd_train`` takes it (None: chosen by the shape);
    ``seeded``: orders drawn in the kernel (SeededOrders) rather than passed in."""

    name: str
    layout: str
    test_shape: tuple[int, int, int, int]
    bench_shape: tuple[int, int, int, int]
    delayed_steps: int | None = 0
    seeded: bool = True


SGD_PATHS = (
    SGDPath("canonical", "canonical", (20, 3, 2, 1), (200, 10, 4, 1)),
    SGDPath("feature-major", "feature-major", (30, 8, 30, 1), (1000, 50, 50, 1)),
    SGDPath("neuron-major", "neuron-major", (30, 40, 8, 1), (1000, 96, 10, 1)),
    SGDPath("neuron-major padded", "neuron-major padded", (30, 37, 8, 1), (1000, 50, 5, 1)),
    SGDPath("delayed blocks", "delayed", (23, 20, 8, 1), (1000, 784, 50, 1), delayed_steps=5),
    SGDPath("delayed blocks by shape", "delayed", (40, 100, 50, 1), (1000, 784, 50, 1), delayed_steps=None),
    SGDPath("orders given", "neuron-major", (30, 40, 8, 1), (1000, 96, 10, 1), seeded=False),
    SGDPath("lanes narrow", "lanes narrow", (20, 2, 3, MIN_LANES["narrow"] + 3), (200, 2, 4, 64)),
    SGDPath("lanes wide", "lanes wide", (20, 3, 3, MIN_LANES["wide"] + 3), (200, 10, 4, 64)),
    SGDPath("lanes, orders given", "lanes wide", (20, 3, 3, MIN_LANES["wide"] + 3), (200, 10, 4, 64), seeded=False),
    SGDPath("lanes, many points", "lanes wide", (LANES_SHUFFLE_POINTS + 9, 3, 2, MIN_LANES["wide"]),
            (LANES_SHUFFLE_POINTS * 2, 10, 4, 64)),
)
assert {p.layout for p in SGD_PATHS} == set(LAYOUTS) | set(LANE_LAYOUTS)

SGD_SETTINGS = {"alpha": 0.2, "v": 0.8, "lr": 0.3, "eps": 0.05}
# W after the test's epochs against the float64 replay: float64 to rounding; float32 to
# its precision (a few epochs, so that rounding does not move a pre-activation across
# the kink at 0).
SGD_TOLERANCE = {np.float64: 1e-12, np.float32: 2e-5}
SGD_TEST_EPOCHS = 4
# Settings and epochs under which every path's test runs, on data with a margin
# (tests/reference.margin_data), reach E_clean, so that V, the violating steps before it,
# is compared (THEORY.md §2.1); the runs are cut into blocks at SGD_COUNT_BLOCKS.
SGD_COUNT_SETTINGS = {"alpha": 0.2, "v": 0.7, "lr": 5.0, "eps": 0.3}
SGD_COUNT_BLOCKS = (0, 4, 17, 30)


def sgd_problem(n: int, d: int, k: int, runs: int, seed: int = 0):
    """A linearly separable training set (X (n, d), y) and runs' W0s (runs, 2k, d)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    y = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    return X, y, 0.3 * rng.standard_normal((runs, 2 * k, d))


@dataclass(frozen=True)
class KernelComparison:
    """A kernel against its NumPy reference on the arguments ``make(rng)`` builds (rng: a
    numpy Generator); ``rtol``/``atol`` as numpy.testing.assert_allclose takes them."""

    name: str
    kernel: Callable
    reference: Callable
    make: Callable
    rtol: float = 1e-12
    atol: float = 0.0


def reference_metrics(W, X, y, X_test):
    """Every metric of kernels.metrics, straight from the definitions of THEORY.md §3-4,
    in METRIC_NAMES order."""
    k = W.shape[0] // 2
    types = (W[:k], W[k:])
    gap = types[0].mean(axis=0) - types[1].mean(axis=0)
    radius = max(np.linalg.norm(rows - rows.mean(axis=0), axis=1).max() for rows in types)
    angles = [0.0]
    for rows in types:
        unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        pairs = np.triu_indices(len(rows), 1)  # i < j: arccos(1) on the diagonal is inexact
        angles.extend(np.degrees(np.arccos(np.clip(unit @ unit.T, -1, 1)))[pairs])

    def linear_fraction(points):
        return np.mean(np.abs(points @ gap) > 2 * radius * np.linalg.norm(points, axis=1))

    signs = np.sign(W @ X.T)
    disagreements = [max((np.sum(a != b) for a in s for b in s), default=0) for s in (signs[:k], signs[k:])]
    par_w = np.mean(np.all(signs[:k] == y, axis=1))
    par_u = np.mean(np.all(signs[k:] == -y, axis=1))
    return np.array([2 * radius / np.linalg.norm(gap), max(angles), linear_fraction(X),
                     linear_fraction(X_test), *disagreements, par_w, par_u])


def kernel_metrics(W, X, y, X_test):
    out = np.empty(len(METRIC_NAMES))
    training_metrics(W, X, y, X_test, out)
    return out


def reference_gradient(W, X, y, alpha, v):
    """(L_S, grad L_S) of the logistic loss (THEORY.md §1), in NumPy."""
    k = W.shape[0] // 2
    z = y * ref.output(W, X, alpha, v)
    slope = -y / (1.0 + np.exp(z))  # d loss / d N_W(x)
    signs = np.r_[np.ones(k), -np.ones(k)]
    pre = X @ W.T
    grad = ((slope[:, None] * v * signs[None, :] * ref.sigma_prime(pre, alpha)).T @ X) / len(y)
    return float(np.mean(ref.loss(z))), grad


def kernel_gradient(W, X, y, alpha, v):
    grad = np.empty_like(W)
    return loss_and_gradient(W, X, y, alpha, v, grad), grad


def _network_case(rng, n=57, d=7, k=5):
    X, y, W0s = sgd_problem(n, d, k, 1, seed=int(rng.integers(1 << 30)))
    return W0s[0], X, y


def _metrics_case(rng):
    W, X, y = _network_case(rng, n=64, d=6, k=4)
    return W, X, y, rng.standard_normal((40, 6))


def _streams_case(rng, runs=6):
    """Entropy words of ``runs`` streams (a seed of one or two words, then another), a teacher's
    (d, s) and the inputs' rows: d large enough, sometimes, for choice's partial shuffle."""
    d = int(rng.choice([4, 37, 12000]))
    s = int(rng.integers(1, 5)) if d < 40 else int(rng.choice([3, 400]))
    seeds = [(int(rng.integers(2**40)) if r % 2 else int(rng.integers(100)), int(rng.integers(1000))) for r in range(runs)]
    return seeds, d, s, int(rng.integers(1, 30)), int(rng.integers(1, 9))


def kernel_streams(seeds, d, s, n, n_test):
    from kernels.streams import draw_sparse_teachers_and_inputs

    words = [[w for seed in pair for w in _uint32_words(seed)] for pair in seeds]
    entropy = np.zeros((len(seeds), max(map(len, words))), np.uint32)
    for r, row in enumerate(words):
        entropy[r, :len(row)] = row
    support, values = np.empty((len(seeds), s), np.int64), np.empty((len(seeds), s))
    X, X_test = np.empty((len(seeds), n, d)), np.empty((len(seeds), n_test, d))
    draw_sparse_teachers_and_inputs(entropy, np.array(list(map(len, words))), support, values, X, X_test)
    return np.concatenate([support.ravel(), values.ravel(), X.ravel(), X_test.ravel()])


def reference_streams(seeds, d, s, n, n_test):
    """NumPy's Generators: from default_rng([a, b, 0]) choice then standard_normal, then from
    [a, b, 1] and [a, b, 2] the inputs."""
    parts = []
    for a, b in seeds:
        teacher = np.random.default_rng([a, b, 0])
        parts.append((teacher.choice(d, size=s, replace=False), teacher.standard_normal(s),
                      np.random.default_rng([a, b, 1]).standard_normal((n, d)),
                      np.random.default_rng([a, b, 2]).standard_normal((n_test, d))))
    return np.concatenate([np.ravel([part[i] for part in parts]) for i in range(4)])


def _uint32_words(value):
    words = [value & 0xFFFFFFFF]
    while value >= 2**32:
        value >>= 32
        words.append(value & 0xFFFFFFFF)
    return words


def _pgd_case(rng, runs=5):
    """A batch of relu_pgd runs on one (n, d, s): each run its own data, constraint and steps
    (mu0 = 9 can blow up: a run that stops early)."""
    from tests.test_relu_pgd_kernels import instance, level_of

    n, d = int(rng.integers(5, 60)), int(rng.integers(3, 40))
    s = int(rng.integers(1, d + 1))
    data = [instance(n, d, s, seed=int(rng.integers(1 << 30))) for _ in range(runs)]
    constraints = [str(rng.choice(["l0", "l1", "none"])) for _ in range(runs)]
    X, y, w_star = (np.stack([part[i] for part in data]) for i in range(3))
    levels = np.array([level_of(c, w) for c, w in zip(constraints, w_star)])
    return X, y, w_star, constraints, levels, rng.choice([0.0, 0.5, 1.0], runs), rng.choice([1.0, 2.0, 9.0], runs)


def kernel_pgd_many(X, y, w_star, constraints, levels, slopes, mu0s, iterations=12):
    from kernels.pgd import pgd_relu_many
    from kernels.projections import PROJECTIONS

    runs = X.shape[0]
    w, curves = np.zeros((runs, X.shape[2])), np.full((runs, 3, iterations + 1), np.nan)
    steps, diverged = np.empty(runs, np.int64), np.empty(runs, np.bool_)
    pgd_relu_many(X, y, w_star, np.array([PROJECTIONS[c] for c in constraints]), levels, slopes, mu0s,
                  np.ones(runs), iterations, 1e3, w, curves, steps, diverged)
    return np.concatenate([curves[r, :, :steps[r] + 1].ravel() for r in range(runs)])


def reference_pgd_many(X, y, w_star, constraints, levels, slopes, mu0s, iterations=12):
    """tests/test_relu_pgd_kernels.py's NumPy PGD on each run, up to its first step with
    ||w_t|| > 1e3 ||w*||."""
    from tests.test_relu_pgd_kernels import pgd_reference

    with np.errstate(over="ignore", invalid="ignore"):
        return np.concatenate([np.concatenate(pgd_reference(X[r], y[r], w_star[r], constraints[r], levels[r], slopes[r],
                                                            mu0s[r], 1.0, iterations, 1e3)[1:])
                               for r in range(X.shape[0])])


KERNEL_COMPARISONS = (
    KernelComparison("draw_sparse_teachers_and_inputs", kernel_streams, reference_streams, _streams_case,
                     rtol=0.0),
    KernelComparison("pgd_relu_many", kernel_pgd_many, reference_pgd_many, _pgd_case, rtol=1e-9, atol=1e-12),
    KernelComparison("network_output", lambda W, X, y: network_output(X, W, 0.2, 1.3),
                     lambda W, X, y: ref.output(W, X, 0.2, 1.3), _network_case, atol=1e-13),
    KernelComparison("dataset_loss", lambda W, X, y: dataset_loss(W, X, y, 0.2, 1.3),
                     lambda W, X, y: ref.dataset_loss(W, X, y, 0.2, 1.3), _network_case),
    KernelComparison("loss_and_gradient", lambda W, X, y: np.r_[kernel_gradient(W, X, y, 0.2, 1.3)[0],
                                                                kernel_gradient(W, X, y, 0.2, 1.3)[1].ravel()],
                     lambda W, X, y: np.r_[reference_gradient(W, X, y, 0.2, 1.3)[0],
                                           reference_gradient(W, X, y, 0.2, 1.3)[1].ravel()],
                     _network_case, atol=1e-14),
    KernelComparison("clustering_ratio", lambda W, X, y: clustering_ratio(W),
                     lambda W, X, y: reference_metrics(W, X, y, X)[0], _network_case),
    KernelComparison("max_intra_angle", lambda W, X, y: max_intra_angle(W),
                     lambda W, X, y: reference_metrics(W, X, y, X)[1], _network_case, rtol=1e-9),
    KernelComparison("training_metrics", kernel_metrics, reference_metrics, _metrics_case, rtol=1e-9),
)
