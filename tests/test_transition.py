"""The logistic transition in log x (analysis/transition.py) on counts whose transition is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from analysis.transition import logistic_transition

X = np.geomspace(100, 4000, 17)  # the relu_pgd_phase preset's n, 1.25x apart
X50, SCALE = 500.0, 0.3


def truth(share: float) -> float:
    """The x at which expit((log x - log X50) / SCALE) = share."""
    return X50 * math.exp(SCALE * math.log(share / (1 - share)))


def test_expected_counts_give_the_planted_transition_back():
    trials = np.full(X.size, 20)
    fit = logistic_transition(X, trials * expit((np.log(X) - math.log(X50)) / SCALE), trials)
    assert fit.scale == pytest.approx(SCALE, rel=1e-4) and not fit.separated
    for share in (0.5, 0.95):
        crossing = fit[share]
        assert crossing.x == pytest.approx(truth(share), rel=1e-4)
        assert crossing.lo < crossing.x < crossing.hi and crossing.bounded
    assert truth(0.95) == pytest.approx(1209.47, rel=1e-5)


def test_the_profile_interval_covers_the_planted_transition_at_about_its_level():
    """40 draws of 20 binomial trials per x: the 95% intervals of x50 and x95 cover the truth
    on 36-40 of them (a binomial(40, 0.95) count falls below 35 with probability < 2%)."""
    rng = np.random.default_rng(3)
    trials = np.full(X.size, 20)
    covered = {0.5: 0, 0.95: 0}
    for _ in range(40):
        fit = logistic_transition(X, rng.binomial(trials, expit((np.log(X) - math.log(X50)) / SCALE)), trials)
        for share in covered:
            covered[share] += fit[share].lo <= truth(share) <= fit[share].hi
    assert all(count >= 35 for count in covered.values()), covered


def test_separated_counts_place_the_transition_in_their_gap():
    """Every x below 700 fails, every x above succeeds: the crossing lies between the two
    grid points around 700, the interval about that step of the grid."""
    trials = np.full(X.size, 20)
    fit = logistic_transition(X, np.where(X > 700, 20, 0), trials)
    below, above = X[X < 700].max(), X[X > 700].min()
    assert fit.separated
    for share in (0.5, 0.95):
        crossing = fit[share]
        assert below < crossing.x < above
        assert below / 1.05 < crossing.lo < crossing.x < crossing.hi < above * 1.05


def test_a_transition_beyond_the_data_is_open_and_none_without_one():
    trials = np.full(X.size, 10)
    fit = logistic_transition(X, np.where(X > 3000, 5, 0), trials)  # half succeed at the largest x only
    assert fit[0.5].bounded and math.isinf(fit[0.95].hi) and not fit[0.95].bounded
    assert logistic_transition(X, np.zeros(X.size), trials) is None
    assert logistic_transition(X, trials, trials) is None
    assert logistic_transition(X[:1], [3], [10]) is None
