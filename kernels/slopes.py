"""Sums of a pooled within-group least-squares slope, many fits at once.

A scaling exponent of a store (THEORY.md §5, `analysis.stats.scaling_slopes`) is the
slope of log(seed median) against log(parameter), pooled over groups (the lines along
the parameter, the other dims fixed), each group centred on its own means, for the
point estimate and for each of N_BOOTSTRAP resamples: at 10^6 runs, 10^8 terms per
parameter. Here one pass per group, with no temporary arrays.
"""
from __future__ import annotations

import math

from kernels.jit import jit


@jit
def pooled_slope_sums(log_y, log_x, weights, out):
    """Add, for each fit r, the numerator and denominator of the pooled slope to ``out[r]``.

    log_y (fits, groups, length) float64, not finite where a value does not count (its x
    is skipped too); log_x (length,) float64; weights (fits, groups) float64 (the weight of
    each group's terms in each fit); out (fits, 2) float64, added to: ``out[r, 0] +=
    sum_g w[r, g] * sum_t (x_t - mean_g x)(y_gt - mean_g y)``, ``out[r, 1] += sum_g
    w[r, g] * sum_t (x_t - mean_g x)^2``, the means over the valid entries of group g.
    """
    fits, groups, length = log_y.shape
    for r in range(fits):
        numerator = 0.0
        denominator = 0.0
        for g in range(groups):
            count = 0
            sum_x = 0.0
            sum_y = 0.0
            for t in range(length):
                y = log_y[r, g, t]
                if math.isfinite(y):
                    count += 1
                    sum_x += log_x[t]
                    sum_y += y
            if count == 0:
                continue
            mean_x = sum_x / count
            mean_y = sum_y / count
            cross = 0.0
            square = 0.0
            for t in range(length):
                y = log_y[r, g, t]
                if math.isfinite(y):
                    dx = log_x[t] - mean_x
                    cross += dx * (y - mean_y)
                    square += dx * dx
            numerator += weights[r, g] * cross
            denominator += weights[r, g] * square
        out[r, 0] += numerator
        out[r, 1] += denominator
