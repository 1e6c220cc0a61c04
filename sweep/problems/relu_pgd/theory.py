"""What THEORY.md §6.1 predicts for one run, and the per-run measures held against it.

Soltanolkotabi (2017): from w_0 = 0, PGD on Gaussian inputs with ReLU labels satisfies
||w_t - w*|| <= 2^-t ||w*|| for every t once n > c n0, n0 the squared Gaussian width of
the descent cone of the constraint at w* (c not given). The axis is :func:`n0_hat`.
Plain NumPy on a run's curve rel_err_t (t = 0 .. T); no kernels.
"""
from __future__ import annotations

import math

import numpy as np

SUCCESS_TOLERANCE = 1e-6            # success: rel_err_T below this; t_success: first t below it
# rel_err_t strictly inside: the points of the contraction fit, from 10% error down to success. One
# window for every dtype, above float32's floor (float32 iterates stall at rel_err ~ 2-3e-8; THEORY.md
# §6.1's 1e-12 lies below it, where a float32 fit of the flat tail gave 0.70-0.89 against float64's
# 0.16-0.45 on the same data), so a run's factor is the same measure in float32 and float64.
CONTRACTION_WINDOW = (SUCCESS_TOLERANCE, 1e-1)
ENVELOPE_RATE = 0.5                 # the envelope rel_err_t <= ENVELOPE_RATE^t of the theorem
# The contraction factor per step against n / n0: ~ (n / n0)^CONTRACTION_EXPONENT [derived: the
# proof's factor is a constant times the deviation of the empirical Hessian from I on the descent
# cone, ~ sqrt(n0 / n)]; the constant is not given, so figures fit it.
CONTRACTION_EXPONENT = -0.5
DIVERGENCE_FACTOR = 1e3             # diverged: ||w_t|| > DIVERGENCE_FACTOR ||w*||


def n0_hat(d: int, s: int, constraint: str) -> float:
    """The sample-size scale n0_hat: 2 s ln(d/s) for an s-sparse teacher (the leading term
    of the descent cone's squared width, THEORY.md §6.1); d for a dense teacher (s = d) and
    for K = R^d (``none``), whose descent cone is all of R^d."""
    if s >= d or constraint == "none":
        return float(d)
    return 2.0 * s * math.log(d / s)


def envelope(t: np.ndarray) -> np.ndarray:
    """The theorem's bound on rel_err_t: 2^-t."""
    return ENVELOPE_RATE ** np.asarray(t, dtype=np.float64)


def first_success(rel_err: np.ndarray) -> int | np.ndarray:
    """The first t with rel_err_t < SUCCESS_TOLERANCE, -1 if none; of each curve along the
    last axis for a batch of curves (NaN is never below)."""
    below = np.asarray(rel_err) < SUCCESS_TOLERANCE
    first = np.where(below.any(axis=-1), below.argmax(axis=-1), -1)
    return int(first) if first.ndim == 0 else first


def inside_envelope(rel_err: np.ndarray) -> bool | np.ndarray:
    """rel_err_t <= 2^-t for every t >= 1 of the curve (t = 0 .. T, no NaN); of each curve
    along the last axis for a batch of curves."""
    rel_err = np.asarray(rel_err)
    inside = np.all(rel_err[..., 1:] <= envelope(np.arange(1, rel_err.shape[-1])), axis=-1)
    return bool(inside) if inside.ndim == 0 else inside


def in_contraction_window(rel_err: np.ndarray) -> np.ndarray:
    """Where rel_err_t lies strictly inside CONTRACTION_WINDOW (the points of the fit)."""
    return (rel_err > CONTRACTION_WINDOW[0]) & (rel_err < CONTRACTION_WINDOW[1])


def contraction_factor(rel_err: np.ndarray) -> float:
    """exp of the least-squares slope of log rel_err_t over t, on the t where rel_err_t is
    inside CONTRACTION_WINDOW: the fitted factor per step (1/2 on the envelope). NaN with
    fewer than two such t."""
    t = np.flatnonzero(in_contraction_window(rel_err))
    if t.size < 2:
        return math.nan
    slope = np.polyfit(t.astype(np.float64), np.log(rel_err[t]), 1)[0]
    return float(np.exp(slope))


def contraction_factors(rel_err: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """:func:`contraction_factor` of each curve, row r of ``rel_err`` up to t = steps[r]
    (NaN after it)."""
    fitted = in_contraction_window(rel_err).sum(axis=1) >= 2
    return np.array([contraction_factor(curve[:last + 1]) if fit else math.nan
                     for curve, last, fit in zip(rel_err, steps, fitted)])
