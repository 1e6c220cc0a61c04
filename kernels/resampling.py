"""Order statistics of many short rows: bootstrap medians and quantiles, NaN skipped.

The analysis of a store takes, at every grid point, the median over the seeds of
N_BOOTSTRAP resamples of those seeds, then the percentile interval of those medians
(THEORY.md §5's statistics, `analysis.stats`). At 10^6 runs that is 10^9 picks: here each
row is sorted once and every resample's median is read off the counts of its picks in
sorted order, without building the resample. The numbers are NumPy's: ``np.nanmedian``
of each resample, ``np.nanquantile`` (method "linear") of each row.
"""
from __future__ import annotations

import math

import numpy as np

from kernels.jit import jit


@jit
def resampled_medians(values, picks, out):
    """``out[i, b] = nanmedian(values[i, picks[b]])``: NaN where every picked value is NaN.

    values (rows, n) float64; picks (resamples, n) int64 indices into a row, each in
    [0, n); out (rows, resamples) float64.
    """
    rows, n = values.shape
    resamples = picks.shape[0]
    counts = np.zeros((resamples, n), np.int64)
    for b in range(resamples):
        for j in range(picks.shape[1]):
            counts[b, picks[b, j]] += 1
    finite = np.empty(n, np.int64)
    for i in range(rows):
        m = 0
        for j in range(n):
            if not math.isnan(values[i, j]):
                finite[m] = j
                m += 1
        order = finite[:m][np.argsort(values[i, finite[:m]], kind="mergesort")]
        for b in range(resamples):
            drawn = 0
            for t in range(m):
                drawn += counts[b, order[t]]
            if drawn == 0:
                out[i, b] = np.nan
                continue
            low = _kth(values[i], order, counts[b], (drawn - 1) // 2)
            if drawn % 2 == 1:
                out[i, b] = low
            else:
                out[i, b] = (low + _kth(values[i], order, counts[b], drawn // 2)) / 2


@jit(inline=True)
def _kth(row, order, counts, k):
    """The k-th smallest (from 0) of the values row[order[t]], each taken counts[order[t]] times."""
    seen = 0
    for t in range(order.shape[0]):
        seen += counts[order[t]]
        if seen > k:
            return row[order[t]]
    return np.nan


@jit
def nanquantiles(values, q, out):
    """``out[i, j] = np.nanquantile(values[i], q[j])`` (method "linear"): NaN for a row of
    NaN only. values (rows, n) float64; q (quantiles,) float64 in [0, 1]; out (rows, quantiles)."""
    rows, n = values.shape
    kept = np.empty(n)
    for i in range(rows):
        m = 0
        for j in range(n):
            if not math.isnan(values[i, j]):
                kept[m] = values[i, j]
                m += 1
        if m == 0:
            out[i, :] = np.nan
            continue
        ordered = np.sort(kept[:m])
        for j in range(q.shape[0]):
            position = (m - 1) * q[j]
            below = min(max(math.floor(position), 0), m - 1)
            above = min(below + 1, m - 1)
            gamma = position - below
            a, b = ordered[below], ordered[above]
            difference = b - a
            out[i, j] = b - difference * (1 - gamma) if gamma >= 0.5 else a + difference * gamma
