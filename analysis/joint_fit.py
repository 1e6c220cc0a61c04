"""A joint power law in several variables: log(median) = c + sum_j b_j log(x_j), fitted by
least squares to seed medians at a set of rows (the grid points of one or more stores), with
the bootstrap interval of every exponent (THEORY.md §2, §2.1: the bounds' laws in alpha,
k, eps, eta, v, s, n and the init scale against the measured epochs).

Where :func:`analysis.stats.scaling_slopes` fits one variable at a time inside one store,
a joint fit puts several stores that each sweep one variable around a reference point
(a study) into one law, so every exponent is fitted with the others held by the model
rather than by the design.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.stats import CONFIDENCE


@dataclass(frozen=True)
class JointFit:
    """The law of ``variable``: ``exponents[j]`` is b_j of ``parameters[j]``, [lo[j], hi[j]]
    its CONFIDENCE percentile interval over the resamples; ``rows``: rows used (a positive,
    finite median); ``r2``: the share of the variance of log(median) over those rows that
    the law explains."""

    variable: str
    parameters: tuple[str, ...]
    exponents: tuple[float, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    rows: int
    r2: float


def _least_squares(log_x: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(b, R^2) of log(values) = c + log_x @ b over the rows where a value is positive and
    finite; None with fewer such rows than parameters + 2 (no residual to speak of)."""
    use = np.isfinite(values) & (values > 0)
    if use.sum() < log_x.shape[1] + 2:
        return None
    y = np.log(values[use])
    design = np.column_stack([np.ones(use.sum()), log_x[use]])
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coefficients
    spread = float(np.sum((y - y.mean()) ** 2))
    return coefficients[1:], (1.0 - float(np.sum(residual ** 2)) / spread) if spread > 0 else 1.0


def joint_power_law(variable: str, parameters: tuple[str, ...], x: np.ndarray, medians: np.ndarray,
                    resampled: np.ndarray) -> JointFit | None:
    """The joint power law of ``medians`` (rows,) in the ``parameters`` whose values at each
    row are ``x`` (rows, parameters), with the interval from ``resampled`` (rows, resamples:
    the medians of each bootstrap resample of the seeds, e.g. :func:`analysis.stats.bootstrap_medians`).

    A parameter that takes one value over the rows used is left out (its law is in c).
    Returns None where no parameter varies or too few rows count (:func:`_least_squares`).
    Raises ValueError when ``x`` has a value <= 0 or NaN (a power law has no such x)."""
    x = np.asarray(x, np.float64)
    if not np.all(np.isfinite(x) & (x > 0)):
        raise ValueError(f"joint_power_law: every value of {parameters} must be positive and finite")
    use = np.isfinite(medians) & (medians > 0)
    varies = [j for j in range(x.shape[1]) if np.unique(x[use, j]).size >= 2]
    if not varies:
        return None
    log_x = np.log(x[:, varies])
    point = _least_squares(log_x, medians)
    if point is None:
        return None
    exponents, r2 = point
    draws = [fit[0] for fit in (_least_squares(log_x, column) for column in np.asarray(resampled).T) if fit is not None]
    lo, hi = (np.nanquantile(np.array(draws), q, axis=0) if draws else np.full(len(varies), np.nan)
              for q in ((1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2))
    return JointFit(variable, tuple(parameters[j] for j in varies), tuple(map(float, exponents)),
                    tuple(map(float, lo)), tuple(map(float, hi)), int(use.sum()), r2)
