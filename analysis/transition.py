"""Where a share of successes crosses a level: a logistic in log x fitted to binomial counts,
with profile-likelihood intervals (for any problem with a phase transition, e.g. THEORY.md
§6.1's success against n).

The model: a run at x succeeds with probability expit((log x - log x50) / scale). Fitted by
maximum likelihood on the counts (successes of trials at each x); the x at which the
fitted share is q (x50, x95) has the CONFIDENCE profile-likelihood interval: the values v
of log x_q with 2 (max log L - max over scale of log L(v, scale)) <= chi2_1 quantile.
For a fixed log x_q = v the log-likelihood is concave in the slope b = 1/scale
(z = b (log x - v) + logit(q)), so the profile is one bounded scalar maximisation
(SciPy's ``minimize_scalar``), its maximum over v a grid search refined by another, and the
interval ends roots of the profile (``brentq``), searched within the data's log x range
padded by PAD on each side. The slope is capped at MAX_SLOPE: counts that are perfectly
separated (every x below a gap fails, every x above succeeds) have no finite maximum, and
the cap turns the interval into about the gap and the estimate into about its middle.
An interval end beyond the padded range is open (returned as 0 or inf): the counts do not
bound it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import log_expit, logit
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import chi2

from analysis.stats import CONFIDENCE

PAD = math.log(2.0)   # interval ends are searched this far beyond the data's log x on each side
MAX_SLOPE = 1e3       # the largest slope d logit(share) / d log x (a scale of 1e-3 in log x)
START_POINTS = 101    # grid over log x_q on which the profile's maximum is first located


@dataclass(frozen=True)
class Crossing:
    """The x at which the fitted share is ``share``, with its profile-likelihood interval
    [lo, hi] (0 or inf where the counts do not bound it)."""

    share: float
    x: float
    lo: float
    hi: float

    @property
    def bounded(self) -> bool:
        return bool(0 < self.lo and np.isfinite(self.hi))


@dataclass(frozen=True)
class Transition:
    """A logistic transition in log x: ``crossings`` per share (e.g. 0.5, 0.95), the fitted
    ``scale`` in log x (about 1 / MAX_SLOPE when ``separated``), and the ``trials`` it rests on."""

    crossings: dict[float, Crossing]
    scale: float
    separated: bool
    trials: int

    def __getitem__(self, share: float) -> Crossing:
        return self.crossings[share]


def _profile(u: np.ndarray, k: np.ndarray, m: np.ndarray, share: float):
    """log x_q -> max over the slope b in [0, MAX_SLOPE] of log L, and the maximising b."""
    offset = logit(share)

    def negative(b: float, v: float) -> float:
        z = b * (u - v) + offset
        return -float(np.sum(k * log_expit(z) + (m - k) * log_expit(-z)))

    def profile(v: float) -> tuple[float, float]:
        result = minimize_scalar(negative, bounds=(0.0, MAX_SLOPE), args=(v,), method="bounded",
                                 options={"xatol": 1e-6})
        return -float(result.fun), float(result.x)

    return profile


def _interval_end(profile, v_hat: float, edge: float, level: float) -> float:
    """The v between v_hat and ``edge`` where the profile falls to ``level`` (NaN when it stays
    above it up to the edge: the interval is open there)."""
    def above(v: float) -> float:
        return profile(v)[0] - level

    return math.nan if above(edge) > 0 else brentq(above, *sorted((v_hat, edge)), xtol=1e-7)


def logistic_transition(x, successes, trials, shares=(0.5, 0.95), confidence: float = CONFIDENCE) -> Transition | None:
    """The logistic in log x fitted to ``successes`` of ``trials`` at each x > 0 (module
    docstring), and the crossing of each of ``shares``. None when fewer than two x have
    trials, or when no trial or every trial succeeds (the transition lies outside the data)."""
    x, k, m = (np.asarray(values, np.float64) for values in (x, successes, trials))
    use = (x > 0) & (m > 0)
    x, k, m = x[use], k[use], m[use]
    if np.unique(x).size < 2 or k.sum() == 0 or k.sum() == m.sum():
        return None
    u = np.log(x)
    low, high = u.min() - PAD, u.max() + PAD
    limit = chi2.ppf(confidence, 1) / 2
    crossings, slope = {}, math.nan
    for share in shares:
        profile = _profile(u, k, m, share)
        grid = np.linspace(low, high, START_POINTS)
        start = int(np.argmax([profile(v)[0] for v in grid]))
        bracket = (grid[max(start - 1, 0)], grid[min(start + 1, START_POINTS - 1)])
        v_hat = float(minimize_scalar(lambda v: -profile(v)[0], bounds=bracket, method="bounded",
                                      options={"xatol": 1e-7}).x)
        best, slope = profile(v_hat)
        lo, hi = (_interval_end(profile, v_hat, edge, best - limit) for edge in (low, high))
        crossings[share] = Crossing(share, math.exp(v_hat), 0.0 if math.isnan(lo) else math.exp(lo),
                                    math.inf if math.isnan(hi) else math.exp(hi))
    separated = bool(x[k < m].max() < x[k > 0].min())  # every x with a failure below every x with a success
    return Transition(crossings, 1.0 / slope if slope > 0 else math.inf, separated, int(m.sum()))
