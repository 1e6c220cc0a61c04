"""The PAR prediction of sweep/problems/separable/par.py (THEORY.md §4): hand-solved PAR-SVMs, the
PAR-consistency caveat, and trained networks converging to the predicted directions."""
import numpy as np
import pytest

from kernels.gd import gd_train
from kernels.metrics import par_shares
from sweep.problems.separable.margin import svm_margin
from sweep.problems.separable.par import PREDICTIONS, ParDirections, ParPrediction, par_cosines, par_prediction

SQRT_HALF = np.sqrt(0.5)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.7])
def test_symmetric_data_by_hand(alpha):
    # Points (1,0), (0,1), (2,2) with y = +1 and their mirrors -x with y = -1.
    # The constraints of the PAR-SVM are invariant under (z_w, z_u) -> (-z_u, -z_w): the
    # constraint of (x, +1), <z_w, x> - alpha <z_u, x> >= 1, becomes that of (-x, -1),
    # alpha <z_w, x> - <z_u, x> >= 1. The unique optimum is therefore a fixed point,
    # z_u = -z_w = -a, and every constraint reads (1 + alpha) <a, x> >= 1 for x in P.
    # So a = w*/(1 + alpha) with w* the plain SVM of P: min ||w|| s.t. w1 >= 1, w2 >= 1,
    # 2 w1 + 2 w2 >= 1, i.e. w* = (1, 1). Directions: w_dir = (1,1)/sqrt2 = -u_dir.
    P = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    X, y = np.vstack([P, -P]), np.repeat([1.0, -1.0], 3)
    prediction = par_prediction(X, y, alpha)
    assert prediction.par_consistent
    for name in PREDICTIONS:
        directions = getattr(prediction, name)
        np.testing.assert_allclose(directions.w_dir, [SQRT_HALF, SQRT_HALF], atol=1e-9)
        np.testing.assert_allclose(directions.u_dir, [-SQRT_HALF, -SQRT_HALF], atol=1e-9)


def test_inconsistent_case_by_hand():
    # p = (1,0) with y = +1, q = (1,1) with y = -1, alpha = 0. The transformed points are
    # (p, 0) and (0, -q): the constraints split into <z_w, p> >= 1 and <z_u, q> >= 1, so
    # z_w = p = (1,0), z_u = q/2. Then y<z_w, q> = -1 < 0: not PAR-consistent.
    # Sign-constrained: z_w = argmin s.t. <z_w,p> >= 1, <z_w,q> <= 0 -> (1,-1);
    # z_u = argmin s.t. <z_u,q> >= 1, <z_u,p> <= 0, <z_u,q> >= 0 -> (0,1).
    X, y = np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([1.0, -1.0])
    prediction = par_prediction(X, y, 0.0)
    assert not prediction.par_consistent
    np.testing.assert_allclose(prediction.unconstrained.w_dir, [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(prediction.unconstrained.u_dir, [SQRT_HALF, SQRT_HALF], atol=1e-9)
    np.testing.assert_allclose(prediction.sign_constrained.w_dir, [SQRT_HALF, -SQRT_HALF], atol=1e-9)
    np.testing.assert_allclose(prediction.sign_constrained.u_dir, [0.0, 1.0], atol=1e-9)


def test_sign_constrained_prediction_is_par_consistent_when_unconstrained_is_not():
    X, y = np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([1.0, -1.0])
    prediction = par_prediction(X, y, 0.3)
    assert not prediction.par_consistent
    assert np.any(y * (X @ prediction.unconstrained.w_dir) < 0)
    assert np.all(y * (X @ prediction.sign_constrained.w_dir) >= -1e-9)
    assert np.all(-y * (X @ prediction.sign_constrained.u_dir) >= -1e-9)


def test_par_cosines_by_hand():
    prediction = ParPrediction(
        unconstrained=ParDirections(w_dir=np.array([1.0, 0.0]), u_dir=np.array([0.0, 1.0])),
        sign_constrained=ParDirections(w_dir=np.array([0.0, 1.0]), u_dir=np.zeros(2)),
        par_consistent=False,
    )
    W = np.array([[3.0, 0.0], [1.0, 1.0], [0.0, -2.0], [0.0, 0.0]])
    cosines = par_cosines(W, prediction)
    np.testing.assert_allclose(cosines["unconstrained"], [1.0, SQRT_HALF, -1.0, np.nan])
    np.testing.assert_allclose(cosines["sign_constrained"], [0.0, SQRT_HALF, np.nan, np.nan])


def _train_small_init(X, y, alpha, k=5, seed=0):
    """Loss-normalised GD from init scale 1e-3 (THEORY.md §4): 1000 steps take ~10 ms here."""
    W0 = 1e-3 * np.random.default_rng(seed).normal(size=(2 * k, X.shape[1]))
    W, _ = gd_train(X, y, W0, alpha=alpha, lr=0.05, steps=1000, normalised=True)
    return W


def _gaussians(positive_centre, negative_centre, seed, n_per_class=50, std=0.3):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(positive_centre, std, size=(n_per_class, 2)),
                   rng.normal(negative_centre, std, size=(n_per_class, 2))])
    return X, np.repeat([1.0, -1.0], n_per_class)


@pytest.mark.parametrize("seed", range(3))
def test_trained_neurons_reach_par_prediction_on_symmetric_gaussians(seed):
    """THEORY.md §5 Fig. 4: 2D symmetric Gaussians, small init: every neuron in PAR, along the prediction."""
    X, y = _gaussians([2.0, 1.0], [-2.0, -1.0], seed)
    alpha = 0.2
    prediction = par_prediction(X, y, alpha)
    assert prediction.par_consistent
    W = _train_small_init(X, y, alpha, seed=seed)
    assert par_shares(W, X, y) == (1.0, 1.0)
    assert par_cosines(W, prediction)["unconstrained"].min() >= 0.99


@pytest.mark.parametrize("seed", range(3))
def test_trained_neurons_follow_par_not_plain_svm(seed):
    """Asymmetric Gaussians: the PAR directions differ from the plain SVM's, and the neurons follow PAR."""
    X, y = _gaussians([2.0, 1.0], [-0.5, -2.0], seed)
    alpha = 0.2
    prediction = par_prediction(X, y, alpha)
    svm_direction = svm_margin(X, y).w / svm_margin(X, y).s
    assert prediction.par_consistent
    assert prediction.unconstrained.w_dir @ svm_direction < 0.97
    W = _train_small_init(X, y, alpha, seed=seed)
    k = W.shape[0] // 2
    assert par_cosines(W, prediction)["unconstrained"].min() >= 0.999
    w_cosines_with_svm = W[:k] @ svm_direction / np.linalg.norm(W[:k], axis=1)
    assert w_cosines_with_svm.max() < 0.98


def test_fig4_preset_discriminates_the_par_prediction_from_every_other_candidate():
    """On the Fig. 4 preset's own data and runs (THEORY.md §4-5): the PAR-SVM prediction is
    PAR-consistent and >= 5 degrees from the plain SVM, the teacher and the class-mean
    difference (for w- and u-neurons alike); every trained neuron ends at cos >= 0.999 with
    the prediction, and its cosine with every other candidate stays below that of the
    prediction's own angle to it (+0.002), i.e. the neurons did not settle between them."""
    from pathlib import Path

    from sweep.problems.separable.datasets import make_dataset
    from sweep.problems.separable.run import train_one
    from sweep.spec import load_spec

    spec = load_spec(Path(__file__).parent.parent / "presets" / "fig4_par_prediction.yaml")
    assert spec.fixed["dataset"] == "gaussians_skewed" and spec.fixed["optimizer"] == "gd_normalised"
    for index in np.ndindex(spec.shape):
        params = spec.params_at(index)
        data = make_dataset(params)
        X, y = data.X, data.y
        prediction = par_prediction(X, y, params.alpha)
        assert prediction.par_consistent
        svm = svm_margin(X, y).w
        mean_difference = X[y > 0].mean(axis=0) - X[y < 0].mean(axis=0)
        others = [v / np.linalg.norm(v) for v in (svm, data.teacher, mean_difference)]
        for predicted, sign in ((prediction.unconstrained.w_dir, 1.0), (prediction.unconstrained.u_dir, -1.0)):
            for other in others:
                assert predicted @ (sign * other) <= np.cos(np.radians(5.0))
        W = train_one(params).values["weights"]
        k = params.width
        unit = W / np.linalg.norm(W, axis=1, keepdims=True)
        assert par_cosines(W, prediction)["unconstrained"].min() >= 0.999
        for rows, predicted, sign in ((unit[:k], prediction.unconstrained.w_dir, 1.0),
                                      (unit[k:], prediction.unconstrained.u_dir, -1.0)):
            for other in others:
                assert np.all(rows @ (sign * other) <= predicted @ (sign * other) + 0.002)
