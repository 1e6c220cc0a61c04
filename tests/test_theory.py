"""The Theorem 4.1 bound and its ingredients (analysis/theory.py; THEORY.md §2)."""
import math

import numpy as np
import pytest
from scipy.special import lambertw

from analysis.theory import (
    LAMBERT_C, epoch_bound, epoch_bound_instance, lr_for_two_eps, progress_measures, teacher_stack,
)

HAND = dict(n=10, k=2, alpha=0.5, v=1.0, lr=0.1, eps=math.log(2), s=2.0, R_x=1.0)


def test_lambert_constant():
    assert LAMBERT_C == pytest.approx(lambertw(1 / math.e).real, rel=1e-15)
    z = np.linspace(0, 5, 200001)
    assert np.max(z / (1 + np.exp(z))) == pytest.approx(LAMBERT_C, abs=1e-9)


def test_epoch_bound_hand_computed():
    # 1 - e^{-eps} = 1/2, so a = 0.5 * 1 * 0.1 * 0.5 = 0.025 and beta = c * 0.05 + 0.01;
    # T_max = 2 * 2 * 0.1 / 0.025 + 4 * 10 * beta / 0.025^2 = 16 + 64000 * beta = 1547.09.
    beta = LAMBERT_C * 0.05 + 0.01
    assert 16 + 64000 * beta == pytest.approx(1547.0865, abs=1e-4)
    assert epoch_bound(**HAND, R_0=0.1) == 1548
    assert epoch_bound(**HAND, R_0=0.0) == 1532


def test_epoch_bound_is_a_python_int_even_when_huge():
    bound = epoch_bound(**{**HAND, "s": 1e148}, R_0=0.1)
    assert type(bound) is int
    assert bound == pytest.approx(1e296 * 10 * (LAMBERT_C * 0.05 + 0.01) / 0.025 ** 2, rel=1e-12)
    with pytest.raises(ValueError, match="float range"):
        epoch_bound(**{**HAND, "s": 1e160}, R_0=0.1)


def test_epoch_bound_trends():
    """E_bound grows as 1/alpha^2 and s^2, and shrinks with k (THEORY.md §2)."""
    base = epoch_bound(**HAND, R_0=0.0)
    assert epoch_bound(**{**HAND, "alpha": 0.25}, R_0=0.0) == pytest.approx(4 * base, rel=1e-3)
    assert epoch_bound(**{**HAND, "s": 4.0}, R_0=0.0) == pytest.approx(4 * base, rel=1e-3)
    assert epoch_bound(**{**HAND, "k": 8}, R_0=0.0) < base


@pytest.mark.parametrize("name, value", [
    ("n", 0), ("n", 2.5), ("k", 0), ("k", True), ("alpha", 1.0), ("alpha", -0.1), ("alpha", math.nan),
    ("v", 0.0), ("lr", -0.1), ("eps", math.nan), ("s", math.inf), ("R_x", 0.0), ("R_0", -1.0),
])
def test_epoch_bound_rejects_bad_arguments(name, value):
    arguments = {**HAND, "R_0": 0.1, name: value}
    with pytest.raises(ValueError, match=f"'{name}'"):
        epoch_bound(**arguments)


def test_relu_has_no_bound():
    with pytest.raises(ValueError, match="alpha = 0"):
        epoch_bound(**{**HAND, "alpha": 0.0}, R_0=0.1)
    with pytest.raises(ValueError, match="alpha = 0"):
        epoch_bound_instance(**{**HAND, "alpha": 0.0}, F0=0.0, G0=0.0)


def random_setting(rng):
    return dict(
        n=int(rng.integers(1, 500)), k=int(rng.integers(1, 64)), alpha=float(rng.uniform(0.01, 0.99)),
        v=float(10 ** rng.uniform(-1, 1)), lr=float(10 ** rng.uniform(-4, 0)), eps=float(10 ** rng.uniform(-3, 0)),
        s=float(10 ** rng.uniform(0, 3)), R_x=float(10 ** rng.uniform(-1, 1)),
    )


def test_instance_bound_with_worst_case_start_equals_the_worst_case_bound():
    rng = np.random.default_rng(0)
    for _ in range(200):
        setting = random_setting(rng)
        R_0 = float(10 ** rng.uniform(-4, 1))
        k, s = setting["k"], setting["s"]
        worst = epoch_bound(**setting, R_0=R_0)
        instance = epoch_bound_instance(**setting, F0=-2 * k * s * R_0, G0=math.sqrt(2 * k) * R_0)
        assert abs(instance - worst) <= max(1, 1e-12 * worst)


def test_instance_bound_never_exceeds_the_worst_case_bound():
    rng = np.random.default_rng(1)
    for _ in range(200):
        setting = random_setting(rng)
        k, s, d = setting["k"], setting["s"], int(rng.integers(1, 10))
        w_star = rng.standard_normal(d)
        w_star *= s / np.linalg.norm(w_star)
        W0 = rng.standard_normal((2 * k, d)) * 10 ** rng.uniform(-4, 1)
        R_0 = float(np.linalg.norm(W0, axis=1).max())
        F0, G0 = progress_measures(W0, teacher_stack(w_star, k))
        assert epoch_bound_instance(**setting, F0=F0, G0=G0) <= epoch_bound(**setting, R_0=R_0)


def test_instance_bound_is_the_largest_root_of_the_proof_inequality():
    """T = bound - 1 satisfies F0 + A T <= sqrt(2k) s sqrt(G0^2 + 2k n beta T); slightly beyond the root it fails."""
    rng = np.random.default_rng(2)
    for _ in range(100):
        p = random_setting(rng)
        k, s = p["k"], p["s"]
        G0 = float(10 ** rng.uniform(-4, 1))
        F0 = float(rng.uniform(-1, 1)) * math.sqrt(2 * k) * s * G0
        A = 2 * k * p["alpha"] * p["v"] * p["lr"] * -math.expm1(-p["eps"])
        beta = LAMBERT_C * p["lr"] / k + (p["lr"] * p["v"] * p["R_x"]) ** 2

        def gap(T):
            return math.sqrt(2 * k) * s * math.sqrt(G0 ** 2 + 2 * k * p["n"] * beta * T) - (F0 + A * T)

        T = epoch_bound_instance(**p, F0=F0, G0=G0) - 1
        assert gap(T) >= -1e-9 * (abs(F0) + A * T)
        assert gap((T + 1) * (1 + 1e-9)) < 0


def test_instance_bound_with_aligned_start_is_smaller():
    k, s, G0 = HAND["k"], HAND["s"], 0.1
    aligned = epoch_bound_instance(**HAND, F0=math.sqrt(2 * k) * s * G0, G0=G0)
    opposed = epoch_bound_instance(**HAND, F0=-math.sqrt(2 * k) * s * G0, G0=G0)
    assert aligned < epoch_bound_instance(**HAND, F0=0.0, G0=0.0) < opposed


def test_instance_bound_rejects_inconsistent_start():
    with pytest.raises(ValueError, match="'F0'"):
        epoch_bound_instance(**HAND, F0=10.0, G0=0.1)
    with pytest.raises(ValueError, match="'G0'"):
        epoch_bound_instance(**HAND, F0=0.0, G0=-1.0)
    with pytest.raises(ValueError, match="'F0'"):
        epoch_bound_instance(**HAND, F0=math.nan, G0=1.0)


def test_teacher_stack_and_progress_measures():
    w_star = np.array([3.0, 4.0])
    W_star = teacher_stack(w_star, 3)
    assert W_star.shape == (6, 2)
    np.testing.assert_array_equal(W_star[:3], np.tile(w_star, (3, 1)))
    np.testing.assert_array_equal(W_star[3:], np.tile(-w_star, (3, 1)))
    assert np.linalg.norm(W_star) == pytest.approx(math.sqrt(6) * 5)
    F, G = progress_measures(W_star, W_star)
    assert F == pytest.approx(6 * 25) and G == pytest.approx(math.sqrt(6) * 5)
    W = np.random.default_rng(0).standard_normal((6, 2))
    F, G = progress_measures(W, W_star)
    assert abs(F) <= np.linalg.norm(W_star) * G  # Cauchy-Schwarz
    with pytest.raises(ValueError, match="'W'"):
        progress_measures(W[:4], W_star)
    with pytest.raises(ValueError, match="'k'"):
        teacher_stack(w_star, 0)


def test_lr_for_two_eps():
    assert lr_for_two_eps(n=100, k=4, v=0.5, eps=0.01, R_x=2.0) == pytest.approx(0.01 / (2 * 4 * 100 * 0.25 * 4))
    with pytest.raises(ValueError, match="'eps'"):
        lr_for_two_eps(n=100, k=4, v=0.5, eps=0.0, R_x=2.0)
