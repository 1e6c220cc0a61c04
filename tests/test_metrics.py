"""The metrics of kernels/metrics.py (THEORY.md §3-4): hand-built networks with known
answers, a plain NumPy reference, and Theorem 5.1 as a property."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.metrics import (
    METRIC_LONG_NAMES, METRIC_NAMES, METRIC_UNITS, clustering_ratio, linear_regime_fraction,
    max_disagreements, max_intra_angle, par_shares, training_metrics,
)
from kernels.network import network_output
from tests.conformance import kernel_metrics, reference_metrics


# ---------------------------------------------------------------- NumPy reference


@pytest.mark.parametrize("k, n, seed", [(1, 5, 0), (3, 64, 1), (4, 150, 2), (7, 200, 3)])
def test_kernels_agree_with_numpy_reference_on_random_networks(k, n, seed):
    rng = np.random.default_rng(seed)
    d = 3
    W = rng.normal(size=(2 * k, d))
    X, X_test = rng.normal(size=(n, d)), rng.normal(size=(n // 2 + 1, d))
    y = np.sign(X @ rng.normal(size=d))
    expected = reference_metrics(W, X, y, X_test)
    np.testing.assert_allclose(kernel_metrics(W, X, y, X_test), expected, rtol=1e-9, atol=1e-9)
    assert clustering_ratio(W) == pytest.approx(expected[0], rel=1e-12)
    assert max_intra_angle(W) == pytest.approx(expected[1], abs=1e-9)
    assert linear_regime_fraction(W, X) == expected[2]
    assert max_disagreements(W, X) == tuple(expected[4:6])
    assert par_shares(W, X, y) == tuple(expected[6:8])


@pytest.mark.parametrize("seed", range(3))
def test_sign_agreement_on_integer_networks_with_zero_preactivations(seed):
    """Small integers make <w_i, x> = 0 common: sign 0 is a sign of its own (THEORY.md §4)."""
    rng = np.random.default_rng(seed)
    k, n, d = 5, 130, 2
    W = rng.integers(-1, 2, size=(2 * k, d)).astype(float)
    W[W.any(axis=1) == 0] = 1.0  # nonzero rows, so the reference's angles are defined
    X = rng.integers(-2, 3, size=(n, d)).astype(float)
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    expected = reference_metrics(W, X, y, X)
    assert np.any(W @ X.T == 0)
    assert max_disagreements(W, X) == tuple(expected[4:6])
    assert par_shares(W, X, y) == tuple(expected[6:8])


# ---------------------------------------------------------------- hand-built networks


def test_perfectly_clustered_network():
    W = np.array([[1.0, 2.0]] * 3 + [[-1.0, 0.5]] * 3)
    X = np.random.default_rng(0).normal(size=(50, 2))
    y = np.sign(X[:, 0])
    metrics = dict(zip(METRIC_NAMES, kernel_metrics(W, X, y, X)))
    for name in ("cluster_ratio", "max_angle", "disagree_w", "disagree_u"):
        assert metrics[name] == 0.0, name
    assert metrics["linear_frac_train"] == metrics["linear_frac_test"] == 1.0


def test_clustering_ratio_by_hand_and_degenerate_centres():
    # wbar = (1, 0), ubar = (-1, 0): ||gap|| = 2; R = ||(1, 1) - (1, 0)|| = 1 -> ratio 2*1/2.
    W = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 0.0], [-1.0, 0.0]])
    assert clustering_ratio(W) == pytest.approx(1.0)
    assert clustering_ratio(np.array([[1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])) == math.inf
    assert math.isnan(clustering_ratio(np.array([[1.0, 0.0], [1.0, 0.0]])))


def test_max_intra_angle_by_hand():
    w_rows = [[1.0, 0.0], [0.0, 3.0]]                          # 90 degrees apart
    assert max_intra_angle(np.array(w_rows + [[2.0, 2.0], [1.0, 0.0]])) == pytest.approx(90.0)
    assert max_intra_angle(np.array([[1.0, 0.0], [1.0, 1.0], [5.0, 5.0], [0.0, 0.0]])) == pytest.approx(45.0)
    assert max_intra_angle(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])) == pytest.approx(180.0)
    assert max_intra_angle(np.array([[1.0, 0.0], [0.0, 1.0]])) == 0.0  # k = 1
    tiny = 1e-9  # radians: arccos(cos) would lose it entirely
    assert max_intra_angle(np.array([[1.0, 0.0], [1.0, tiny], [0.0, 1.0], [0.0, 1.0]])) == pytest.approx(
        math.degrees(tiny), rel=1e-6)


def test_float32_weights_accumulate_in_float64():
    rng = np.random.default_rng(4)
    W, X = rng.normal(size=(6, 3)), rng.normal(size=(40, 3))
    y = np.sign(X[:, 0])
    single = kernel_metrics(W.astype(np.float32), X.astype(np.float32), y, X[:0].astype(np.float32))
    double = kernel_metrics(W.astype(np.float32).astype(float), X.astype(np.float32).astype(float), y, X[:0])
    np.testing.assert_allclose(single, double, rtol=1e-12, atol=0)
    assert math.isnan(single[METRIC_NAMES.index("linear_frac_test")])  # empty test set


def test_one_flipped_neuron_gives_exact_disagreement_count():
    #        x:   (1,0) (2,1) (-1,3) (0,1)
    # (1, 0):      +     +     -      0
    # (-1, 0):     -     -     +      0     -> differs on 3 points; all u-rows agree.
    W = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])
    X = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 3.0], [0.0, 1.0]])
    assert max_disagreements(W, X) == (3, 0)
    # sign 0 vs sign +: a disagreement (gamma_N = 0, THEORY.md §4)
    assert max_disagreements(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0]]), np.array([[0.0, 1.0]])) == (1, 0)


def test_par_shares_on_constructed_network():
    X = np.array([[1.0, 0.0], [-1.0, 0.5]])
    y = np.array([1.0, -1.0])
    W = np.array([
        [1.0, 0.0],    # signs (+, -) = y           PAR
        [2.0, 1.0],    # <., x> = (2, -1.5): = y    PAR
        [0.0, 1.0],    # (0, 0.5): 0 is not +1      not PAR
        [-1.0, 0.0],   # (-, +) = -y                PAR
        [1.0, 0.0],    # (+, -) = y, not -y         not PAR
        [0.0, -1.0],   # (0, -0.5): 0 is not -1     not PAR
    ])
    w_share, u_share = par_shares(W, X, y)
    assert (w_share, u_share) == (pytest.approx(2 / 3), pytest.approx(1 / 3))


def test_metric_tables_line_up():
    assert len(METRIC_NAMES) == len(METRIC_UNITS) == len(METRIC_LONG_NAMES) == 8
    assert set(METRIC_UNITS) <= {"1", "degrees", "points"}
    assert all("THEORY.md §" in name for name in METRIC_LONG_NAMES)


# ---------------------------------------------------------------- Theorem 5.1 (THEORY.md §3)


@settings(max_examples=150, deadline=None)
@given(k=st.integers(1, 4), d=st.integers(1, 4), alpha=st.floats(0.01, 0.99),
       spread=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_theorem_5_1_sign_is_linear_inside_the_regime(k, d, alpha, spread, seed):
    """Inside |<wbar - ubar, x>| > 2R||x||, sign N_W(x) = sign <wbar - ubar, x> (alpha > 0)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, d))
    W = np.repeat(centres, k, axis=0) + spread * rng.normal(size=(2 * k, d))
    X = rng.normal(size=(30, d))
    inside = np.array([linear_regime_fraction(W, x[None, :]) == 1.0 for x in X])
    gap = W[:k].mean(axis=0) - W[k:].mean(axis=0)
    output = network_output(X, W, alpha, 1.0)
    np.testing.assert_array_equal(np.sign(output[inside]), np.sign(X[inside] @ gap))


def test_theorem_5_1_fails_for_relu():
    """THEORY.md §3: w = -1, u = -2, x = 1: R = 0, <wbar - ubar, x> = 1, yet N = 0 at alpha = 0."""
    W, X = np.array([[-1.0], [-2.0]]), np.array([[1.0]])
    assert linear_regime_fraction(W, X) == 1.0
    assert network_output(X, W, 0.0, 1.0)[0] == 0.0
    assert network_output(X, W, 0.5, 1.0)[0] == pytest.approx(0.5)  # any alpha > 0 restores it
