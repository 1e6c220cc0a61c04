"""Exact hard-margin SVMs without bias (sweep/problems/separable/margin.py; THEORY.md §1 and §4)."""
import numpy as np
import pytest

from sweep.problems.separable.margin import (
    InfeasibleError, NotSeparableError, least_distance, par_svm, par_transform, svm_margin,
)


def separable_set(seed: int, n: int, d: int):
    """Random points labelled by a random linear teacher (separable through the origin)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.1, 3.0)
    teacher = rng.standard_normal(d)
    y = np.sign(X @ teacher)
    return X, y


def assert_kkt(X, y, result):
    """Primal and dual feasibility, stationarity and complementary slackness of the SVM."""
    margins = y * (X @ result.w)
    assert margins.min() >= 1 - 1e-8
    assert np.all(result.dual >= 0)
    np.testing.assert_allclose(result.w, (result.dual * y) @ X, atol=1e-8 * max(1.0, result.s))
    np.testing.assert_allclose(result.dual * (margins - 1), 0.0, atol=1e-8 * max(1.0, result.dual.max()))
    np.testing.assert_array_equal(result.support, np.flatnonzero(result.dual > 0))
    np.testing.assert_allclose(margins[result.support], 1.0, atol=1e-8)
    assert result.gamma == pytest.approx(1 / result.s)


@pytest.mark.parametrize("seed, n, d", [(0, 5, 2), (1, 40, 2), (2, 100, 5), (3, 30, 30), (4, 300, 20), (5, 10, 100)])
def test_svm_satisfies_kkt_on_random_separable_sets(seed, n, d):
    X, y = separable_set(seed, n, d)
    assert_kkt(X, y, svm_margin(X, y))


def test_svm_is_no_longer_than_any_feasible_direction():
    """Every direction that separates the set, scaled to margin 1, is at least s long.
    The directions are the teacher and the SVM's own, tilted at random by up to ~0.3
    rad: most of them separate (random directions in R^3 almost never do)."""
    X, y = separable_set(7, 50, 3)
    result = svm_margin(X, y)
    rng = np.random.default_rng(0)
    centres = [result.w / np.linalg.norm(result.w), np.linalg.lstsq(X, y, rcond=None)[0]]
    feasible = 0
    for centre in centres:
        centre = centre / np.linalg.norm(centre)
        for tilt in rng.uniform(0.0, 0.3, (300, 1)) * rng.standard_normal((300, 3)) / np.sqrt(3):
            direction = centre + tilt
            margins = y * (X @ direction)
            if margins.min() > 0:  # scale it to be feasible
                feasible += 1
                assert np.linalg.norm(direction) / margins.min() >= result.s * (1 - 1e-9)
    assert feasible >= 100


def test_svm_hand_computed_two_points():
    result = svm_margin(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, -1.0]))
    np.testing.assert_allclose(result.w, [1.0, -1.0], atol=1e-12)
    assert result.s == pytest.approx(np.sqrt(2))
    assert result.gamma == pytest.approx(1 / np.sqrt(2))
    np.testing.assert_allclose(result.dual, [1.0, 1.0], atol=1e-12)
    np.testing.assert_array_equal(result.support, [0, 1])


def test_svm_hand_computed_inactive_point():
    # The far point (3, 0) is not a support vector; w = (1/2, 0) from the point (2, 0).
    X = np.array([[2.0, 0.0], [3.0, 1.0], [-2.0, 0.5]])
    y = np.array([1.0, 1.0, -1.0])
    result = svm_margin(X, y)
    assert_kkt(X, y, result)
    assert 1 not in result.support


@pytest.mark.parametrize("X, y", [
    (np.array([[1.0, 2.0], [-1.0, -2.0]]), np.array([1.0, 1.0])),     # x and -x with the same label
    (np.array([[1.0, 2.0], [1.0, 2.0]]), np.array([1.0, -1.0])),      # one point with both labels
    (np.array([[0.0, 0.0]]), np.array([1.0])),                        # the origin cannot be separated
    (np.array([[1.0], [2.0], [-1.0]]), np.array([1.0, -1.0, -1.0])),  # 1D, labels not by sign
])
def test_non_separable_sets_raise(X, y):
    with pytest.raises(NotSeparableError, match="not linearly separable through the origin"):
        svm_margin(X, y)


def test_random_labels_in_low_dimension_are_not_separable():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.where(rng.random(60) < 0.5, 1.0, -1.0)
    with pytest.raises(NotSeparableError):
        svm_margin(X, y)


def test_not_separable_is_a_value_error():
    assert issubclass(NotSeparableError, ValueError)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'y'"):
        svm_margin(np.eye(2), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="'X'"):
        svm_margin(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="'alpha'"):
        par_svm(np.eye(2), np.array([1.0, -1.0]), alpha=1.0, sign_constrained=False)


def test_least_distance_general_constraints():
    # min ||z|| s.t. z_1 + z_2 >= 2 and z_1 >= -5: z = (1, 1), only the first constraint active.
    solution = least_distance(np.array([[1.0, 1.0], [1.0, 0.0]]), np.array([2.0, -5.0]))
    np.testing.assert_allclose(solution.z, [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(solution.dual, [1.0, 0.0], atol=1e-12)
    # The origin is feasible when every h_i <= 0.
    np.testing.assert_allclose(least_distance(np.eye(2), np.array([-1.0, 0.0])).z, 0.0, atol=1e-12)
    with pytest.raises(InfeasibleError):
        least_distance(np.array([[1.0], [-1.0]]), np.array([1.0, 1.0]))  # z >= 1 and z <= -1


# ---------------------------------------------------------------- PAR-SVM (THEORY.md §4)

def test_par_transform_reproduces_the_network_in_par():
    """In PAR, N(x) = v <(sum w_i, sum u_i), xt> (THEORY.md §4)."""
    rng = np.random.default_rng(3)
    alpha, v = 0.2, 1.5
    X, y = separable_set(3, 20, 3)
    separator = svm_margin(X, y).w  # positive multiples classify like y, negative ones like -y
    w_rows = np.abs(rng.standard_normal((4, 1))) * separator
    u_rows = -np.abs(rng.standard_normal((4, 1))) * separator

    def leaky(z):
        return np.maximum(alpha * z, z)

    network = v * (leaky(X @ w_rows.T).sum(1) - leaky(X @ u_rows.T).sum(1))
    theta = np.concatenate([w_rows.sum(0), u_rows.sum(0)])
    np.testing.assert_allclose(network, v * par_transform(X, y, alpha) @ theta)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_par_svm_symmetric_pair_by_hand(alpha):
    # x1 = e_1 (y = +1), x2 = e_2 (y = -1): the problem splits into two 2D problems,
    # min |(z_w1, z_u1)| s.t. z_w1 - alpha z_u1 >= 1 and min |(z_w2, z_u2)| s.t. z_u2 - alpha z_w2 >= 1.
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([1.0, -1.0])
    for constrained in (False, True):
        result = par_svm(X, y, alpha, sign_constrained=constrained)
        np.testing.assert_allclose(result.z_w, np.array([1.0, -alpha]) / (1 + alpha ** 2), atol=1e-12)
        np.testing.assert_allclose(result.z_u, np.array([-alpha, 1.0]) / (1 + alpha ** 2), atol=1e-12)
        assert result.par_consistent


def test_par_svm_antipodal_points_by_hand():
    # x = +-1 in 1D: z_w = -z_u = 1 / (1 + alpha).
    alpha = 0.25
    result = par_svm(np.array([[1.0], [-1.0]]), np.array([1.0, -1.0]), alpha, sign_constrained=False)
    np.testing.assert_allclose(result.z_w, [1 / (1 + alpha)], atol=1e-12)
    np.testing.assert_allclose(result.z_u, [-1 / (1 + alpha)], atol=1e-12)
    assert result.par_consistent


def test_par_svm_relu_pair_is_only_weakly_consistent():
    # alpha = 0: z_w = e_1, z_u = e_2, so <z_w, x2> = 0 and the strict PAR condition fails.
    result = par_svm(np.eye(2), np.array([1.0, -1.0]), 0.0, sign_constrained=False)
    np.testing.assert_allclose(result.z_w, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(result.z_u, [0.0, 1.0], atol=1e-12)
    assert not result.par_consistent


def par_constraints(X, y, alpha, sign_constrained):
    """The (G, h) of the PAR-SVM, written out independently of the module."""
    rows, h = [], []
    for x, label in zip(X, y):
        xt = np.concatenate([x, -alpha * x]) if label > 0 else np.concatenate([alpha * x, -x])
        rows.append(label * xt)
        h.append(1.0)
    if sign_constrained:
        zeros = np.zeros_like(X[0])
        rows += [np.concatenate([label * x, zeros]) for x, label in zip(X, y)]
        rows += [np.concatenate([zeros, -label * x]) for x, label in zip(X, y)]
        h += [0.0] * (2 * len(y))
    return np.array(rows), np.array(h)


def test_par_svm_kkt_and_constrained_vs_free_on_random_2d_sets():
    alpha, inconsistent = 0.05, 0
    for seed in range(40):
        X, y = separable_set(seed, 12, 2)
        free = par_svm(X, y, alpha, sign_constrained=False)
        constrained = par_svm(X, y, alpha, sign_constrained=True)
        for result, flag in ((free, False), (constrained, True)):
            G, h = par_constraints(X, y, alpha, flag)
            z = np.concatenate([result.z_w, result.z_u])
            scale = max(1.0, result.s * np.abs(X).max())
            assert np.all(G @ z >= h - 1e-8 * scale)
            assert np.all(result.dual >= 0)
            np.testing.assert_allclose(z, result.dual @ G, atol=1e-8 * scale)
            np.testing.assert_allclose(result.dual * (G @ z - h), 0.0, atol=1e-8 * scale * max(1, result.dual.max()))
        assert constrained.s >= free.s * (1 - 1e-9)
        if free.par_consistent:
            np.testing.assert_allclose(constrained.z_w, free.z_w, atol=1e-7 * free.s)
            np.testing.assert_allclose(constrained.z_u, free.z_u, atol=1e-7 * free.s)
        else:
            inconsistent += 1
            assert constrained.s > free.s * (1 + 1e-9)
    assert 0 < inconsistent < 40  # THEORY.md §4: inconsistency happens, but not always


# ---------------------------------------------------------------- exact at any scale (issue 16)

def relative_error(X, y):
    """|s - s_ref| / s_ref with s_ref from the mpmath reference certified by its duality gap."""
    from tests.reference import certified_svm_margin

    lower, upper = certified_svm_margin(X, y)
    s = svm_margin(X, y).s
    return float(max(abs(s - lower), abs(s - upper)) / lower)


def pinned_set(seed: int, n: int, d: int, delta: float):
    """n random points labelled by a unit teacher w, plus d pairs p +- delta w with p on the
    teacher's hyperplane: every separator has margin <= delta, so s ~ 1/delta (R_x ~ 1-3)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    X = rng.standard_normal((n, d))
    y = np.sign(X @ w)
    P = rng.standard_normal((d, d))
    P -= np.outer(P @ w, w)
    return np.vstack([X, P + delta * w, P - delta * w]), np.concatenate([y, np.ones(d), -np.ones(d)])


@pytest.mark.parametrize("exponent", range(-8, 9))
def test_svm_margin_is_exact_at_every_scale(exponent):
    """The issue's example: the same data scaled by 10^-8 .. 10^8 (s from 1.3e-7 to 1.3e9)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 5))
    y = np.sign(X @ rng.standard_normal(5))
    assert relative_error(10.0 ** exponent * X, y) <= 1e-12


@pytest.mark.parametrize("case", ["duplicates", "collinear", "collinear_through_origin", "d_above_n",
                                  "margin_1e-6_seed_0", "margin_1e-6_seed_1", "margin_1e-6_seed_2",
                                  "margin_1e-6_d_above_n", "margin_1e-6_scaled_1e-8", "margin_1e-6_scaled_1e8"])
def test_svm_margin_on_nearly_degenerate_sets(case):
    """Relative error <= 1e-9 against the certified reference on ill-posed sets (s R_x up to 1e6)."""
    if case == "duplicates":
        X, y = pinned_set(5, 20, 3, 1e-3)
        X, y = np.vstack([X, X[:8], X[:3]]), np.concatenate([y, y[:8], y[:3]])
    elif case == "collinear":  # every point on the line x_1 = 1
        t = np.linspace(-1, 1, 21)[np.linspace(-1, 1, 21) != 0]
        X, y = np.column_stack([np.ones_like(t), t]), np.sign(t)
    elif case == "collinear_through_origin":
        t = np.linspace(-1, 1, 20)
        X, y = np.column_stack([t, 2 * t]), np.sign(t)
    elif case == "d_above_n":
        X, y = separable_set(6, 5, 20)
    elif case.startswith("margin_1e-6_seed"):
        X, y = pinned_set(int(case[-1]), 30, 3, 1e-6)
    elif case == "margin_1e-6_d_above_n":
        X, y = pinned_set(1, 3, 20, 1e-6)
    else:
        X, y = pinned_set(1, 30, 3, 1e-6)
        X = float(case.rsplit("_", 1)[1]) * X
    assert relative_error(X, y) <= 1e-9


@pytest.mark.parametrize("seed, tolerance", [(0, 1e-9), (1, 1e-9), (2, 2e-8)])
def test_svm_margin_at_s_1e8_on_degenerate_sets(seed, tolerance):
    """s ~ 1e8 with R_x ~ 1 and 2d constraints nearly active at once in d = 3. The polish
    settles on seeds 0 and 1 (error ~1e-12); on seed 2 it cycles between active sets,
    the rescaled NNLS answer stands and is off by 9e-9: the documented limit, about
    1e-16 s R_x, of a float64 solver on such sets (sweep/problems/separable/margin.py)."""
    assert relative_error(*pinned_set(seed, 30, 3, 1e-8)) <= tolerance


def test_one_dimensional_set_with_a_tiny_margin():
    """The issue's reachable case: linear_teacher, n = 200000, d = 1, margin 0, data_seed 2
    (s R_x = 1.7e7): in 1D, s = 1 / min |x| exactly."""
    from sweep.problems.separable.datasets import linear_teacher

    data = linear_teacher(n=200000, n_test=1, d=1, margin=0.0, spread=1.0, data_seed=2)
    assert svm_margin(data.X, data.y).s == pytest.approx(1 / np.abs(data.X).min(), rel=1e-14)
