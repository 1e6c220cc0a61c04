"""The certified potential bound (sweep/problems/separable/potential_bound.py; THEORY.md
§2.1, BOUND.md Theorem 2, §9) against the plain reference of tests/reference_potential_bound.py,
the exact infima of Lemma 5 in mpmath, Corollary 3's closed form and BOUND.md's own numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sweep.problems.separable.potential_bound import (epochs_bound_potential, epochs_bound_potential_instance,
                                                      step_increments, violating_steps_bound)
from sweep.problems.separable.theory import epoch_bound
from tests import reference_potential_bound as ref


def random_arguments(rng):
    """A configuration over BOUND.md §10's ranges (and wider in lr, R_x, s)."""
    return dict(n=int(rng.integers(2, 1000)), k=int(rng.integers(1, 65)), alpha=float(rng.uniform(0.01, 0.9)),
                v=float(rng.uniform(0.3, 2.0)), lr=float(10 ** rng.uniform(-3, 0.7)), eps=float(10 ** rng.uniform(-3, 0)),
                s=float(10 ** rng.uniform(0, 2)), R_x=float(10 ** rng.uniform(-1, 0.5)))


CASES = [random_arguments(np.random.default_rng(seed)) for seed in range(12)]


def close(ours, theirs):
    """The two minimisations over mu refine differently: equal to 1e-6 relative."""
    assert abs(ours - theirs) <= 1e-6 * theirs + 1, (ours, theirs)


@pytest.mark.parametrize("args", CASES)
def test_epochs_bounds_equal_the_reference(args):
    rng = np.random.default_rng(args["n"])
    R_0 = float(10 ** rng.uniform(-4, 0.5))
    worst, _ = ref.epochs(**args, start=ref.start_worst(args["k"], args["s"], R_0))
    close(epochs_bound_potential(**args, R_0=R_0), worst)
    G0 = R_0 * math.sqrt(2 * args["k"]) * rng.uniform(0.1, 1.0)
    F0 = math.sqrt(2 * args["k"]) * args["s"] * G0 * rng.uniform(-1, 1)   # |F0| <= ||W*|| G0
    instance, _ = ref.epochs(**args, start=ref.start_instance(args["k"], args["s"], F0, G0))
    ours_instance = epochs_bound_potential_instance(**args, F0=F0, G0=G0)
    close(ours_instance, instance)
    assert ours_instance <= epochs_bound_potential(**args, R_0=G0)  # the worst case over starts like it


@pytest.mark.parametrize("args", CASES[:6])
def test_violating_steps_bound_equals_the_reference(args):
    n, args = args["n"], {name: value for name, value in args.items() if name != "n"}
    for T in (0, n, 1000 * n):
        close(violating_steps_bound(**args, R_0=0.01, steps=T), ref.violating(**args, R_0=0.01, T=T))


@pytest.mark.parametrize("args", CASES[:8])
def test_increments_are_certified_lower_bounds_and_tight(args):
    """D_v(mu) <= delta(g, rho; mu) for every violating g and rho in {alpha, 1}, within 0.5% of
    the infimum; D_n(mu) <= delta on the non-violating g (Lemma 5; delta exact in mpmath)."""
    step = {name: args[name] for name in ("k", "alpha", "v", "lr", "eps", "R_x")}
    ge = 1 - math.exp(-args["eps"])
    for Z in (0.3, 3.0, 12.0, 300.0):
        mu = 2 * args["k"] * args["v"] * args["alpha"] / Z
        Dv, Dn = step_increments(mu, **step)
        violating = np.concatenate([ge + (0.5 - ge) * np.linspace(0, 1, 400) ** 3 if ge < 0.5 else [],
                                    1 - (1 - max(ge, 0.5)) * np.geomspace(1, 1e-12, 400)])
        lowest = min(float(ref.delta(g, rho, mu, **step)) for g in violating for rho in (args["alpha"], 1.0))
        assert Dv <= lowest
        assert Dv >= lowest - 5e-3 * abs(lowest)
        minimisers = [math.exp(-1 - (A - mu * B * ge) / mu) for A, B in ref.constants(**step)[3]]
        calm = [g for g in [*minimisers, *np.geomspace(1e-300, ge, 300)[:-1]] if 0 < g < ge]
        assert Dn <= min(float(ref.delta(g, rho, mu, **step)) for g in calm for rho in (args["alpha"], 1.0))
        if Dv > 0:
            close(Dv, ref.Dv(mu, **step))
        assert Dn == pytest.approx(ref.Dn(mu, **step), rel=1e-12)


@pytest.mark.parametrize("args", [dict(n=200, k=k, alpha=alpha, v=1.0, lr=0.05, eps=0.01, s=20.0, R_x=1.0)
                                  for k in (4, 64) for alpha in (0.1, 0.5)] + CASES[:4])
def test_corollary_3_closed_form(args):
    """At every admissible Z Corollary 3 is a bound no better than Theorem 2's minimum (the
    certified D_v is within 0.3% of the exact one there); where the best Z is admissible,
    the two agree to 0.5%."""
    R_0 = 1e-3
    ours = epochs_bound_potential(**args, R_0=R_0)
    _, best_Z = ref.epochs(**args, start=ref.start_worst(args["k"], args["s"], R_0))
    closed = {Z: ref.corollary_3(Z, **args, R_0=R_0) for Z in np.geomspace(0.05, 1e5, 2000)}
    admissible = {Z: value for Z, value in closed.items() if value is not None}
    for value in admissible.values():
        assert ours <= (1 + math.floor(value)) * (1 + 3e-3)
    if ref.corollary_3(best_Z, **args, R_0=R_0) is not None:
        assert ours >= (1 + math.floor(min(admissible.values()))) * (1 - 5e-3)


def test_bound_md_prop_7_table():
    """BOUND.md §6's table (k, alpha; lr 0.1, v 1, eps 0.01, its two-point data: s 1, R_x
    sqrt(2); every row of W0 (0, -B), B = z_eps / (k alpha v) + 4 lr v alpha): the new
    bounds, worst case and instance start (F0 = 0, G0 = sqrt(2k) B), as printed there."""
    ze = -math.log(math.expm1(0.01))
    for k, alpha, instance, worst in [(1, 0.05, 2992976, 5549218), (1, 0.1, 748515, 1387909),
                                      (1, 0.4, 47122, 87500), (4, 0.2, 47122, 87500), (4, 0.4, 12053, 22480)]:
        B = ze / (k * alpha) + 4 * 0.1 * alpha
        args = dict(n=2, k=k, alpha=alpha, v=1.0, lr=0.1, eps=0.01, s=1.0, R_x=math.sqrt(2))
        assert epochs_bound_potential(**args, R_0=B) == pytest.approx(worst, rel=2e-6)
        assert epochs_bound_potential_instance(**args, F0=0.0, G0=math.sqrt(2 * k) * B) == pytest.approx(
            instance, rel=2e-6)


def test_improvement_over_theorem_4_1_on_the_default_preset():
    """BOUND.md §5: old / new is 2.0e3 at k = 4 and 1.45e4 at k = 64 (n 200, eps 0.01, lr 0.05),
    independent of alpha; the new bound scales as k^-1 and lr^-1 (small init)."""
    base = dict(n=200, alpha=0.1, v=1.0, eps=0.01, s=20.0, R_x=1.0, R_0=1e-3)
    for k, factor in ((4, 2.0e3), (64, 1.45e4)):
        for alpha in (0.1, 0.5):
            args = {**base, "k": k, "alpha": alpha, "lr": 0.05}
            assert epoch_bound(**args) / epochs_bound_potential(**args) == pytest.approx(factor, rel=0.03)
    four = epochs_bound_potential(**base, k=4, lr=0.05)
    assert epochs_bound_potential(**base, k=64, lr=0.05) / four == pytest.approx(1 / 16, rel=0.05)
    assert epochs_bound_potential(**base, k=4, lr=0.005) / four == pytest.approx(10, rel=0.02)


def test_more_steps_allow_more_violations_and_epochs_follow():
    args = dict(k=4, alpha=0.1, v=1.0, lr=0.05, eps=0.01, s=20.0, R_x=1.0, R_0=1e-3)
    counts = [violating_steps_bound(**args, steps=T) for T in (0, 10**3, 10**6, 10**9)]
    assert counts == sorted(counts) and counts[0] > 0
    # Theorem 2(b) is 2(a) along (V, T) = (E, nE): E - 1 violating steps fit in n (E - 1) steps
    E = epochs_bound_potential(n=200, **args)
    assert violating_steps_bound(**args, steps=200 * (E - 1)) >= E - 1


@pytest.mark.parametrize("name, value", [("n", 0), ("k", 0), ("alpha", 1.0), ("alpha", 0.0), ("v", 0.0),
                                         ("lr", -1.0), ("eps", math.nan), ("s", 0.0), ("R_x", math.inf),
                                         ("R_0", -1.0)])
def test_bad_arguments_are_named(name, value):
    args = {**dict(n=10, k=2, alpha=0.5, v=1.0, lr=0.1, eps=0.1, s=2.0, R_x=1.0, R_0=0.1), name: value}
    with pytest.raises(ValueError, match=f"'{name}'|alpha = 0"):
        epochs_bound_potential(**args)
    with pytest.raises(ValueError, match="'steps'"):
        violating_steps_bound(k=2, alpha=0.5, v=1.0, lr=0.1, eps=0.1, s=2.0, R_x=1.0, R_0=0.1, steps=-1)
