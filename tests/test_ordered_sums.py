"""kernels.ordered_sums against an exact emulation of its documented order: term i to
partial sum i % lanes, each partial sum by correctly rounded fused multiply-adds (mpmath
at the dtype's precision), the vectors added pairwise ((v0 + v1) + (v2 + v3)), then the
register's lanes by halves. Bit for bit: the order, not a tolerance, is the contract."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
from numba import njit

from kernels.ordered_sums import (VECTORS, difference_and_sum_squares, dot, dot_float64, dot_float64_four, lanes, signed_activation_sum,
                                  update_dot_pair)

PRECISION = {np.float64: 53, np.float32: 24}


def fma(a, b, c, dtype):
    """a b + c rounded once to ``dtype`` (normal numbers: mpmath's exponent is unbounded)."""
    exact = mpmath.fadd(mpmath.fmul(mpmath.mpf(float(a)), mpmath.mpf(float(b)), exact=True),
                        mpmath.mpf(float(c)), exact=True)
    return dtype(float(mpmath.mpf(exact, prec=PRECISION[dtype], rounding="n")))


def reference_dot(a, b, total):
    """The documented order, summed in ``total``, every term widened exactly first."""
    count = lanes(np.dtype(total).itemsize)
    width = count // VECTORS
    partial = [total(0.0)] * count
    for i, (x, y) in enumerate(zip(a, b)):
        partial[i % count] = fma(total(x), total(y), partial[i % count], total)
    vectors = [partial[start:start + width] for start in range(0, count, width)]
    while len(vectors) > 1:  # pairwise: (v0 + v1) + (v2 + v3)
        vectors = [[a + b for a, b in zip(vectors[i], vectors[i + 1])] for i in range(0, len(vectors), 2)]
    v = vectors[0]
    while len(v) > 1:
        half = len(v) // 2
        v = [v[l] + v[l + half] for l in range(half)]
    return v[0]


@njit
def call_dot(a, b):
    return dot(a, b)


@njit
def call_dot_float64(a, b):
    return dot_float64(a, b)


@njit
def call_dot_float64_four(a, B):
    return dot_float64_four(a, B[0], B[1], B[2], B[3])


@njit
def call_difference_and_sum_squares(a, b):
    return difference_and_sum_squares(a, b)


@njit
def call_update_dot_pair(w0, w1, c0, c1, x, xn):
    return update_dot_pair(w0, w1, c0, c1, x, xn)


@njit
def call_signed_activation_sum(pre, alpha, k):
    return signed_activation_sum(pre, alpha, k)


LENGTHS = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 50, 63, 64, 65, 100, 127, 128, 129, 300, 784]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", LENGTHS)
def test_dot_sums_in_the_documented_order(dtype, n):
    rng = np.random.default_rng(n)
    data = rng.standard_normal(n + 3).astype(dtype)
    a, b = data[3:], rng.standard_normal(n).astype(dtype)  # a: an unaligned slice
    got = call_dot(a, b)
    assert got == reference_dot(a, b, dtype) and type(got) is float
    assert call_dot_float64(a, b) == reference_dot(a, b, np.float64)
    B = rng.standard_normal((4, n)).astype(dtype)
    assert call_dot_float64_four(a, B) == tuple(reference_dot(a, row, np.float64) for row in B)
    difference, total = (a - b).astype(dtype), (a + b).astype(dtype)
    assert call_difference_and_sum_squares(a, b) == (reference_dot(difference, difference, dtype),
                                                      reference_dot(total, total, dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", LENGTHS)
def test_update_dot_pair_updates_by_fma_then_sums_in_order(dtype, n):
    rng = np.random.default_rng(1000 + n)
    W, x, xn = rng.standard_normal((2, n)).astype(dtype), *(rng.standard_normal(n).astype(dtype) for _ in range(2))
    c = rng.standard_normal(2).astype(dtype)
    updated = np.array([[fma(c[r], xi, wi, dtype) for xi, wi in zip(x, W[r])] for r in range(2)], dtype=dtype)
    got = call_update_dot_pair(W[0], W[1], c[0], c[1], x, xn)
    np.testing.assert_array_equal(W, updated.reshape(W.shape))
    assert got == tuple(reference_dot(row, xn, dtype) for row in updated)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("two_k", [2, 4, 8, 10, 16, 18, 32, 34, 100, 128, 1000])
def test_signed_activation_sum_is_the_neuron_sum_in_order(dtype, two_k):
    """N_W(x) / v = sum_j +-sigma(pre_j) (THEORY.md §1): Leaky ReLU max(h, alpha h) in
    float64, plus for the first k neurons, minus for the others."""
    rng = np.random.default_rng(two_k)
    pre = rng.standard_normal(two_k).astype(dtype)
    k, alpha = two_k // 2, 0.3
    activations = [max(float(h), alpha * float(h)) for h in pre]
    signs = [1.0] * k + [-1.0] * k
    assert call_signed_activation_sum(pre, alpha, k) == reference_dot(signs, activations, np.float64)
    assert np.isclose(call_signed_activation_sum(pre, alpha, k), sum(s * a for s, a in zip(signs, activations)))


def test_the_order_is_not_numpys():
    """The emulation can tell orders apart: a sequential sum differs from the documented
    one on these terms (so the tests above can fail)."""
    a = np.array([1.0, 1e16, -1e16] + [1.0] * 40)
    ones = np.ones_like(a)
    sequential = 0.0
    for value in a:
        sequential += value
    assert call_dot(a, ones) == reference_dot(a, ones, np.float64) != sequential
