"""Metrics of a weight matrix W: clustering (THEORY.md §3) and neural agreement (§4).

W is (2k, d): rows 0..k-1 the w-neurons, rows k..2k-1 the u-neurons (THEORY.md §1).
Every function is Numba-jitted, takes float32 or float64 arrays and accumulates in
float64; the sign patterns take the 2k n pre-activations from one float64 BLAS product
(temporaries: float64 copies of W and X, the (2k, n) product, O(k n / 64) words).
``training_metrics`` computes all of them in one call, in the order of ``METRIC_NAMES``.

Conventions:
- sign(z) is in {-1, 0, +1}; two neurons disagree on x when their signs of <w_i, x>
  differ exactly (margin gamma_N = 0), and a neuron is in PAR only if its sign equals
  the label, so <w_i, x> = 0 never counts as agreeing with a label.
- A zero-norm row has no direction: ``max_intra_angle`` skips every pair containing one.
- ``clustering_ratio`` is inf when wbar = ubar but R > 0, and NaN when wbar = ubar and
  R = 0 (all 2k rows equal: N_W = 0, there is no boundary to speak of).
- A share over an empty set of points is NaN.
"""
from __future__ import annotations

import math

import numpy as np
from kernels.jit import jit
from kernels.ordered_sums import difference_and_sum_squares, dot

METRIC_NAMES = ("cluster_ratio", "max_angle", "linear_frac_train", "linear_frac_test",
                "disagree_w", "disagree_u", "par_share_w", "par_share_u")
METRIC_UNITS = ("1", "degrees", "1", "1", "points", "points", "1", "1")
METRIC_LONG_NAMES = (
    "clustering ratio 2R / ||wbar - ubar|| (0 = perfectly clustered), THEORY.md §3",
    "largest angle between two neurons of the same type, THEORY.md §3",
    "share of training points in the linear regime |<wbar - ubar, x>| > 2R||x||, THEORY.md §3",
    "share of test points in the linear regime |<wbar - ubar, x>| > 2R||x||, THEORY.md §3",
    "largest number of training points on which two w-neurons disagree in sign, THEORY.md §4",
    "largest number of training points on which two u-neurons disagree in sign, THEORY.md §4",
    "share of w-neurons with sign<w_i, x> = y on every training point (PAR), THEORY.md §4",
    "share of u-neurons with sign<u_i, x> = -y on every training point (PAR), THEORY.md §4",
)

# ---------------------------------------------------------------- clustering (§3)


@jit
def centre_gap_and_radius(W):
    """Return (wbar - ubar, R) with R = max(max_i ||w_i - wbar||, max_i ||u_i - ubar||) (THEORY.md §3)."""
    two_k, d = W.shape
    k = two_k // 2
    wbar = np.zeros(d)
    ubar = np.zeros(d)
    for j in range(k):
        for f in range(d):
            wbar[f] += np.float64(W[j, f])
            ubar[f] += np.float64(W[k + j, f])
    wbar /= k
    ubar /= k
    radius_sq = 0.0
    for j in range(two_k):
        centre = wbar if j < k else ubar
        dist_sq = 0.0
        for f in range(d):
            delta = np.float64(W[j, f]) - centre[f]
            dist_sq += delta * delta
        radius_sq = max(radius_sq, dist_sq)
    return wbar - ubar, math.sqrt(radius_sq)


@jit
def _ratio(gap, radius):
    """2 radius / ||gap||; inf if gap = 0 < radius, NaN if both are 0."""
    gap_norm = math.sqrt(np.sum(gap * gap))
    if gap_norm > 0.0:
        return 2.0 * radius / gap_norm
    return math.inf if radius > 0.0 else math.nan


@jit
def clustering_ratio(W):
    """2R / ||wbar - ubar|| (THEORY.md §3); inf if wbar = ubar but R > 0, NaN if both are 0."""
    gap, radius = centre_gap_and_radius(W)
    return _ratio(gap, radius)


@jit
def _linear_regime_share(gap, radius, X):
    """Share of rows x of X with |<gap, x>| > 2 radius ||x||; NaN if X has no rows."""
    n, d = X.shape
    if n == 0:
        return math.nan
    inside = 0
    for i in range(n):
        along_gap = 0.0
        x_norm_sq = 0.0
        for f in range(d):
            x_f = np.float64(X[i, f])
            along_gap += gap[f] * x_f
            x_norm_sq += x_f * x_f
        if abs(along_gap) > 2.0 * radius * math.sqrt(x_norm_sq):
            inside += 1
    return inside / n


@jit
def linear_regime_fraction(W, X):
    """Share of rows x of X with |<wbar - ubar, x>| > 2R||x|| (THEORY.md §3, Theorem 5.1).

    There sign N_W(x) = sign <wbar - ubar, x> for every alpha in (0, 1). x = 0 is never
    inside. NaN if X has no rows.
    """
    gap, radius = centre_gap_and_radius(W)
    return _linear_regime_share(gap, radius, X)


@jit
def max_intra_angle(W):
    """Largest angle in degrees between two rows of the same type (THEORY.md §3).

    Pairs containing a zero-norm row are skipped; 0 when no type has two non-zero rows
    (e.g. k = 1). Uses angle = 2 atan2(||a - b||, ||a + b||) on unit vectors a, b, which
    stays accurate for the small angles that clustering produces. The angle grows with
    ||a - b||^2 / ||a + b||^2, so pairs are compared by that ratio (cross-multiplied, as
    ||a + b|| = 0 at 180 degrees) and atan2 is taken once. The sums of squares are
    float64, in kernels.ordered_sums' order.
    """
    two_k, d = W.shape
    k = two_k // 2
    unit = np.zeros((two_k, d))
    has_direction = np.zeros(two_k, dtype=np.bool_)
    row = np.empty(d)
    for j in range(two_k):
        for f in range(d):
            row[f] = np.float64(W[j, f])
        norm_sq = dot(row, row)
        if norm_sq > 0.0:
            has_direction[j] = True
            inverse_norm = 1.0 / math.sqrt(norm_sq)
            for f in range(d):
                unit[j, f] = row[f] * inverse_norm
    widest_diff_sq, widest_sum_sq = 0.0, 1.0
    for first in range(0, two_k, k):
        for i in range(first, first + k):
            if not has_direction[i]:
                continue
            a = unit[i]
            for j in range(i + 1, first + k):
                if not has_direction[j]:
                    continue
                b = unit[j]
                diff_sq, sum_sq = difference_and_sum_squares(a, b)
                if diff_sq * widest_sum_sq > widest_diff_sq * sum_sq:
                    widest_diff_sq, widest_sum_sq = diff_sq, sum_sq
    return math.degrees(2.0 * math.atan2(math.sqrt(widest_diff_sq), math.sqrt(widest_sum_sq)))


# ---------------------------------------------------------------- agreement (§4)
# Sign patterns are packed 64 points to a uint64 word: bit i of ``positive[j]`` is set
# when <w_j, x_i> > 0, of ``negative[j]`` when <w_j, x_i> < 0 (neither when it is 0).
# Two patterns differ at point i exactly when a positive or a negative bit differs.

_ONE = np.uint64(1)
_SIX = np.uint64(6)
_LOW_SIX_BITS = np.uint64(63)


@jit(inline=True)
def _popcount(word):
    """Number of set bits of a uint64 (the classic SWAR bit count)."""
    word = word - ((word >> np.uint64(1)) & np.uint64(0x5555555555555555))
    word = (word & np.uint64(0x3333333333333333)) + ((word >> np.uint64(2)) & np.uint64(0x3333333333333333))
    word = (word + (word >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((word * np.uint64(0x0101010101010101)) >> np.uint64(56))


@jit
def _set_bit(words, row, i):
    """Set bit i of the packed row ``words[row]`` (word i // 64, bit i % 64)."""
    index = np.uint64(i)
    words[row, index >> _SIX] |= _ONE << (index & _LOW_SIX_BITS)


@jit
def _packed_neuron_signs(W, X):
    """Sign patterns of <w_j, x_i> for every row j of W: (positive, negative), each (2k, words).

    The pre-activations are one float64 matrix product W X^T (BLAS).
    """
    n = X.shape[0]
    two_k = W.shape[0]
    words = (n + 63) // 64
    pre = np.dot(W.astype(np.float64), X.astype(np.float64).T)
    positive = np.empty((two_k, words), dtype=np.uint64)
    negative = np.empty((two_k, words), dtype=np.uint64)
    for j in range(two_k):
        for word in range(words):
            start = 64 * word
            above, below = np.uint64(0), np.uint64(0)
            for bit in range(min(64, n - start)):  # without branches: the signs are random
                h = pre[j, start + bit]
                above |= np.uint64(h > 0.0) << np.uint64(bit)
                below |= np.uint64(h < 0.0) << np.uint64(bit)
            positive[j, word] = above
            negative[j, word] = below
    return positive, negative


@jit
def _packed_label_signs(y):
    """Sign pattern of the labels: (positive, negative), each (1, words)."""
    n = y.shape[0]
    positive = np.zeros((1, (n + 63) // 64), dtype=np.uint64)
    negative = np.zeros_like(positive)
    for i in range(n):
        if y[i] > 0:
            _set_bit(positive, 0, i)
        elif y[i] < 0:
            _set_bit(negative, 0, i)
    return positive, negative


@jit
def _max_pair_disagreement(positive, negative, first, stop):
    """Largest number of points on which the sign patterns of two rows in [first, stop) differ."""
    largest = 0
    for i in range(first, stop):
        for j in range(i + 1, stop):
            count = 0
            for w in range(positive.shape[1]):
                count += _popcount((positive[i, w] ^ positive[j, w]) | (negative[i, w] ^ negative[j, w]))
            largest = max(largest, count)
    return largest


@jit
def _share_matching(positive, negative, first, stop, target_positive, target_negative):
    """Share of rows in [first, stop) whose sign pattern equals the target pattern exactly."""
    matching = 0
    for j in range(first, stop):
        same = True
        for w in range(positive.shape[1]):
            if positive[j, w] != target_positive[0, w] or negative[j, w] != target_negative[0, w]:
                same = False
                break
        if same:
            matching += 1
    return matching / (stop - first)


@jit
def max_disagreements(W, X):
    """(dw, du): per neuron type, the largest number of rows x of X on which two neurons
    of that type have different sign(<w_i, x>) in {-1, 0, +1} (THEORY.md §4, NAR with
    gamma_N = 0; paper Fig. 9c). 0 means agreement; 0 for k = 1. O(k n d + k^2 n / 64).
    """
    k = W.shape[0] // 2
    positive, negative = _packed_neuron_signs(W, X)
    return (_max_pair_disagreement(positive, negative, 0, k),
            _max_pair_disagreement(positive, negative, k, 2 * k))


@jit
def par_shares(W, X, y):
    """(share of w-neurons with sign<w_i, x> = y, share of u-neurons with sign<u_i, x> = -y),
    each on every row x of X (THEORY.md §4, PAR; paper Figs. 8 and 9d).
    """
    k = W.shape[0] // 2
    positive, negative = _packed_neuron_signs(W, X)
    label_positive, label_negative = _packed_label_signs(y)
    return (_share_matching(positive, negative, 0, k, label_positive, label_negative),
            _share_matching(positive, negative, k, 2 * k, label_negative, label_positive))


# ---------------------------------------------------------------- all at once


@jit
def training_metrics(W, X, y, X_test, out):
    """Write every metric of W into ``out`` (float64, len(METRIC_NAMES)), in that order.

    X, y: the training set (agreement and PAR are measured on it); X_test may have no
    rows (then linear_frac_test is NaN). One call, each pre-activation computed once.
    """
    k = W.shape[0] // 2
    gap, radius = centre_gap_and_radius(W)
    positive, negative = _packed_neuron_signs(W, X)
    label_positive, label_negative = _packed_label_signs(y)
    out[0] = _ratio(gap, radius)
    out[1] = max_intra_angle(W)
    out[2] = _linear_regime_share(gap, radius, X)
    out[3] = _linear_regime_share(gap, radius, X_test)
    out[4] = _max_pair_disagreement(positive, negative, 0, k)
    out[5] = _max_pair_disagreement(positive, negative, k, 2 * k)
    out[6] = _share_matching(positive, negative, 0, k, label_positive, label_negative)
    out[7] = _share_matching(positive, negative, k, 2 * k, label_negative, label_positive)
