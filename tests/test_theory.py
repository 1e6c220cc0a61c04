"""The Theorem 4.1 bound and its ingredients (sweep/problems/separable/theory.py; THEORY.md §2)."""
import math

import numpy as np
import pytest
from scipy.special import lambertw

from sweep.problems.separable.theory import (
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


# ---------------------------------------------------------------- extreme arguments (issue 16)

def mp_step_terms(p):
    """a and beta of THEORY.md §2 in mpmath (80 digits), from the same float arguments."""
    import mpmath

    a = mpmath.mpf(p["alpha"]) * p["v"] * p["lr"] * -mpmath.expm1(-mpmath.mpf(p["eps"]))
    beta = mpmath.mpf(LAMBERT_C) * p["lr"] / p["k"] + (mpmath.mpf(p["lr"]) * p["v"] * p["R_x"]) ** 2
    return a, beta


def expected_epochs(t_max):
    """floor(T) + 1, None when T is too close to an integer to decide, "overflow" past the floats."""
    import mpmath

    if t_max > mpmath.mpf(np.finfo(np.float64).max):
        return "overflow"
    low, high = mpmath.floor(t_max * (1 - mpmath.mpf(10) ** -30)), mpmath.floor(t_max * (1 + mpmath.mpf(10) ** -30))
    return int(low) + 1 if low == high else None


def log_uniform(low, high):
    from hypothesis import strategies as st

    return st.floats(min_value=low, max_value=high).map(lambda exponent: 10.0 ** exponent)


def extreme_settings():
    from hypothesis import strategies as st

    return st.fixed_dictionaries({
        "n": st.integers(1, 10 ** 9), "k": st.integers(1, 10 ** 6),
        "alpha": log_uniform(-300, -0.01), "v": log_uniform(-300, 300), "lr": log_uniform(-300, 300),
        "eps": log_uniform(-300, 3), "s": log_uniform(-300, 300), "R_x": log_uniform(-300, 300),
    })


def check_against(bound, expected):
    from sweep.problems.separable.theory import BoundOverflowError

    if expected == "overflow":
        with pytest.raises(BoundOverflowError):
            bound()
    elif expected is not None:
        assert bound() == expected


def test_epoch_bound_matches_mpmath_on_extreme_arguments():
    """Every input, however extreme, gives floor(T_max) + 1 exactly or BoundOverflowError;
    never ZeroDivisionError, OverflowError or a spurious inf (THEORY.md §2)."""
    import mpmath
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None, derandomize=True)
    @given(extreme_settings(), st.one_of(st.just(0.0), log_uniform(-300, 300)))
    def check(setting, R_0):
        with mpmath.workdps(80):
            a, beta = mp_step_terms(setting)
            s = mpmath.mpf(setting["s"])
            expected = expected_epochs(2 * s * R_0 / a + s * s * setting["n"] * beta / (a * a))
        check_against(lambda: epoch_bound(**setting, R_0=R_0), expected)

    check()


def test_instance_bound_matches_mpmath_on_extreme_arguments():
    import mpmath
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(extreme_settings(), log_uniform(-300, 300), st.floats(-1.0, 1.0))
    def check(setting, G0, cosine):
        K = math.sqrt(2 * setting["k"]) * setting["s"]
        F0 = cosine * K * G0
        if not math.isfinite(F0):
            return
        with mpmath.workdps(80):
            a, beta = mp_step_terms(setting)
            A, s, n, k = 2 * setting["k"] * a, mpmath.mpf(setting["s"]), setting["n"], setting["k"]
            Kmp = mpmath.sqrt(2 * k) * s
            if abs(F0) > Kmp * G0:
                return  # rounding put F0 just past Cauchy–Schwarz
            P = k * s * s * n * beta / a - F0
            Q = (Kmp * G0 - F0) * (Kmp * G0 + F0)
            root = (P + mpmath.sqrt(P * P + Q)) / A
            expected = expected_epochs(max(root, mpmath.mpf(0)))
        check_against(lambda: epoch_bound_instance(**setting, F0=F0, G0=G0), expected)

    check()


@pytest.mark.parametrize("arguments", [
    dict(n=10, k=1, alpha=1e-300, v=1.0, lr=1e-30, eps=0.1, s=1.0, R_x=1.0, R_0=0.0),   # a underflows in floats
    dict(n=10, k=1, alpha=0.5, v=1e200, lr=1e200, eps=0.1, s=1e-200, R_x=1e-100, R_0=1.0),  # lr v R_x > 1e154
    dict(n=10 ** 9, k=1, alpha=0.5, v=1.0, lr=1.0, eps=5e-324, s=1.0, R_x=1.0, R_0=1.0),    # subnormal eps
])
def test_the_issues_edge_cases_give_a_bound_or_overflow(arguments):
    from sweep.problems.separable.theory import BoundOverflowError

    try:
        bound = epoch_bound(**arguments)
    except BoundOverflowError:
        return
    assert isinstance(bound, int) and bound >= 1


def test_finite_bound_with_overflowing_intermediates():
    """lr v R_x = 1e250, whose square overflows floats, yet T_max = s^2 n beta / a^2 is about
    (s R_x / (alpha (1 - e^-eps)))^2 = 1e4 (the c lr / k part of beta adds 1e-250 of it)."""
    p = dict(n=1, k=1, alpha=0.5, v=1e125, lr=1e125, eps=1.0, s=31.6, R_x=1.0)
    t_max = (31.6 / (0.5 * -math.expm1(-1.0))) ** 2
    assert epoch_bound(**p, R_0=0.0) == math.floor(t_max) + 1
