"""The projections of kernels/projections.py against plain-NumPy references and, for the
l1 ball, against its optimality (KKT) conditions (THEORY.md §6.1)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.projections import L0, L1, NONE, PROJECTIONS, hard_threshold, l1_ball, project, projection_code


def hard_threshold_reference(z: np.ndarray, s: int) -> np.ndarray:
    """Keep the s largest |z_j|, ties to the lower index (lexsort: |z| descending, then index)."""
    keep = np.lexsort((np.arange(z.size), -np.abs(z)))[:max(s, 0)]
    out = np.zeros_like(z)
    out[keep] = z[keep]
    return out


def l1_ball_reference(z: np.ndarray, radius: float) -> np.ndarray:
    """Soft thresholding at the tau with sum max(|z| - tau, 0) = radius, found by bisection
    (not by sorting, unlike the kernel); z itself inside the ball."""
    magnitude = np.abs(z.astype(np.float64))
    if magnitude.sum() <= radius:
        return z.copy()
    low, high = 0.0, magnitude.max()
    for _ in range(200):
        tau = 0.5 * (low + high)
        if np.maximum(magnitude - tau, 0.0).sum() > radius:
            low = tau
        else:
            high = tau
    return (np.sign(z) * np.maximum(magnitude - 0.5 * (low + high), 0.0)).astype(z.dtype)


def random_vectors(rng, count=40):
    """Gaussian vectors, some with heavy ties (small integers), of assorted sizes."""
    for index in range(count):
        d = int(rng.integers(1, 300))
        if index % 3 == 0:
            yield rng.integers(-3, 4, size=d).astype(np.float64)
        else:
            yield rng.standard_normal(d) * rng.uniform(0.1, 10.0)


def test_hard_threshold_matches_the_reference_ties_included():
    rng = np.random.default_rng(0)
    for z in random_vectors(rng):
        for s in {0, 1, z.size // 3, z.size - 1, z.size, z.size + 2}:
            got = z.copy()
            hard_threshold(got, s)
            np.testing.assert_array_equal(got, hard_threshold_reference(z, s))


def test_hard_threshold_breaks_ties_towards_the_lower_index():
    z = np.array([0.5, -2.0, 1.0, 2.0, -1.0, 1.0, 0.0])
    hard_threshold(z, 3)
    np.testing.assert_array_equal(z, [0.0, -2.0, 1.0, 2.0, 0.0, 0.0, 0.0])  # |-1| at 4 and 1 at 5 lose to 1 at 2


def test_hard_threshold_float32():
    rng = np.random.default_rng(1)
    z = rng.standard_normal(101).astype(np.float32)
    got = z.copy()
    hard_threshold(got, 7)
    np.testing.assert_array_equal(got, hard_threshold_reference(z, 7))
    assert got.dtype == np.float32


def test_l1_ball_matches_the_bisection_reference():
    rng = np.random.default_rng(2)
    for z in random_vectors(rng):
        norm = np.abs(z).sum()
        for radius in (0.01 * norm + 1e-3, 0.5 * norm, 0.999 * norm, norm, 2.0 * norm + 1.0):
            got = z.copy()
            l1_ball(got, radius)
            np.testing.assert_allclose(got, l1_ball_reference(z, radius), rtol=0, atol=1e-12 * max(norm, 1.0))


def test_l1_ball_leaves_a_point_inside_unchanged_and_radius_zero_gives_zero():
    z = np.array([0.3, -0.2, 0.0, 0.1])
    inside = z.copy()
    l1_ball(inside, 0.6)
    np.testing.assert_array_equal(inside, z)
    zero = z.copy()
    l1_ball(zero, 0.0)
    np.testing.assert_array_equal(zero, 0.0)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_l1_ball_satisfies_the_kkt_conditions(dtype, tol):
    """p = P(z) onto {||w||_1 <= r}, ||z||_1 > r, iff ||p||_1 = r and for some tau >= 0:
    z_j - p_j = tau sign(p_j) where p_j != 0, and |z_j| <= tau where p_j = 0."""
    rng = np.random.default_rng(3)
    for z in random_vectors(rng):
        z = z.astype(dtype)
        norm = float(np.abs(z).sum())
        if norm == 0.0:
            continue
        radius = float(rng.uniform(0.05, 0.95)) * norm
        p = z.copy()
        l1_ball(p, radius)
        scale = max(norm, 1.0)
        assert abs(np.abs(p.astype(np.float64)).sum() - radius) <= tol * scale
        active = p != 0
        assert active.any()
        assert np.all(np.sign(p[active]) == np.sign(z[active]))
        shift = (z[active] - p[active]).astype(np.float64) * np.sign(z[active])
        tau = shift.mean()
        assert tau >= -tol * scale
        np.testing.assert_allclose(shift, tau, rtol=0, atol=tol * scale)
        assert np.all(np.abs(z[~active]) <= tau + tol * scale)


def test_project_dispatches_by_code_and_none_is_the_identity():
    rng = np.random.default_rng(4)
    z = rng.standard_normal(50)
    for name, code in PROJECTIONS.items():
        got = z.copy()
        project(got, code, 5.0)
        expected = {NONE: z, L0: hard_threshold_reference(z, 5), L1: l1_ball_reference(z, 5.0)}[code]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=name)


def test_projection_code_names_the_known_ones():
    assert projection_code("l1") == L1
    with pytest.raises(ValueError, match=r"projection must be one of \['l0', 'l1', 'none'\], got 'l2'"):
        projection_code("l2")
