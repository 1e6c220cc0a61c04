"""The inner loops of per-sample SGD: one epoch of steps (THEORY.md §1).

A step on (x, y) needs the pre-activations <w_j, x> of all 2k neurons (forward), then
moves every row: w_j += c_j x (update), with c_j = +-eta g y v sigma'(<w_j, x>) from the
pre-step W. Row j's update depends only on row j, so the forward of the next point can
be taken row by row right after that row is updated: each step then reads and writes W
once instead of twice. Two loops do that fusion; they differ in the layout of W, chosen
so the innermost loop is the longer of d and 2k and vectorises:

- ``epoch_neuron_major``: W (2k, d), inner loop over features; the dot products are
  summed in the fixed order of kernels.ordered_sums (SIMD partial sums, fused
  multiply-adds), the update is w_j <- fma(c_j, x, w_j).
- ``epoch_feature_major``: W^T (d, 2k), inner loop over neurons, two features per pass;
  each pre-activation is summed over feature pairs in order, updates as written.

The fused loops still pass over W once per point, which bounds them once W outgrows L1
(and, at small d, their short rows). ``epoch_delayed`` delays the updates of a block of
b points instead: with W0 the weights at the block's start and c_s the coefficients of
its step s, <w_j, x_t> = <w0_j, x_t> + sum_{s<t} c_sj <x_s, x_t>. The block takes three
BLAS matrix products (X_b W0^T, X_b X_b^T, then W0 += C^T X_b; each passes over W once
for all b points) and O(b k) work per step between them. The same steps, reassociated:
only rounding changes. ``delayed_steps_for`` picks it where it is faster.

The coefficients of a step come from ``step_coefficients`` (the neuron sum by
kernels.ordered_sums.signed_activation_sum) or, for small networks (kernels.sgd.trains_in_canonical_order), from
``canonical_step_coefficients`` (the neuron sum in ``neuron_total``'s order), which the
runs-as-lanes loops (kernels.sgd_lanes) reproduce bit for bit; there the steps are
``epoch_feature_major``. Both take e^x by arithmetic (kernels.exp). No function here is
compiled with fastmath: a loop's numbers are what its code says, wherever it is compiled
and on any machine (the delayed blocks' BLAS products aside, whose kernels differ
between CPUs).

Float32 weights are updated and their pre-activations summed in float32 (2x the SIMD
width of float64); the margin, the loss slope and the loss are float64.
"""
from __future__ import annotations

from kernels.blas import BLAS_AS_WIDE_AS_NUMBA, gemm
from kernels.jit import jit
from kernels.losses import neg_loss_slope_vectorisable
from kernels.ordered_sums import dot, signed_activation_sum, update_dot_pair

# Partial sums of the neuron sum N_W(x) / v (neuron_total): its canonical order.
NEURON_LANES = 8


@jit(inline=True)
def activation(h, alpha):
    """sigma(h) = h if h > 0 else alpha h (THEORY.md §1), in float64, as max(h, alpha h)
    (equal for 0 <= alpha < 1, signed zeros included): one instruction, no branch."""
    return max(h, alpha * h)


@jit(inline=True)
def lane_tree(s0, s1, s2, s3, s4, s5, s6, s7):
    """The NEURON_LANES partial sums of a neuron sum, added in one fixed order."""
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@jit(inline=True)
def margin_and_step(total, yi, v, lr):
    """(z, eta g y v) from N_W(x) / v = ``total``: the margin z = y N_W(x) and the step
    size shared by every neuron (THEORY.md §1)."""
    z = yi * v * total
    return z, lr * neg_loss_slope_vectorisable(z) * yi * v


@jit(inline=True)
def coefficient(h, alpha, step, negative):
    """c_j = +-step sigma'(h) (minus for a u-neuron), with sigma'(h) = 1 if h > 0 else alpha."""
    c = step if h > 0.0 else alpha * step
    return -c if negative else c


@jit(inline=True)
def _signed_activation(pre, j, k, alpha):
    """+-sigma(pre_j): minus for a u-neuron (j >= k); the sign as a factor, no branch."""
    return activation(pre[j], alpha) * (-1.0 if j >= k else 1.0)


@jit(inline=True)
def neuron_total(pre, alpha):
    """N_W(x) / v = sum_j +-sigma(pre_j) (minus for the u-neurons j >= k) in the canonical
    order: term j goes to partial sum j % NEURON_LANES, in order of j, and the partial
    sums are added by ``lane_tree``. The partial sums are registers, so the chain of
    dependent adds is 2k / NEURON_LANES + 3 long.
    """
    two_k = pre.shape[0]
    k = two_k // 2
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    full = two_k - two_k % NEURON_LANES
    for j in range(0, full, NEURON_LANES):
        s0 += _signed_activation(pre, j, k, alpha)
        s1 += _signed_activation(pre, j + 1, k, alpha)
        s2 += _signed_activation(pre, j + 2, k, alpha)
        s3 += _signed_activation(pre, j + 3, k, alpha)
        s4 += _signed_activation(pre, j + 4, k, alpha)
        s5 += _signed_activation(pre, j + 5, k, alpha)
        s6 += _signed_activation(pre, j + 6, k, alpha)
        s7 += _signed_activation(pre, j + 7, k, alpha)
    rest = two_k - full  # even: 2k is
    if rest > 0:
        s0 += _signed_activation(pre, full, k, alpha)
        s1 += _signed_activation(pre, full + 1, k, alpha)
    if rest > 2:
        s2 += _signed_activation(pre, full + 2, k, alpha)
        s3 += _signed_activation(pre, full + 3, k, alpha)
    if rest > 4:
        s4 += _signed_activation(pre, full + 4, k, alpha)
        s5 += _signed_activation(pre, full + 5, k, alpha)
    return lane_tree(s0, s1, s2, s3, s4, s5, s6, s7)


@jit
def canonical_step_coefficients(pre, yi, alpha, v, lr, coef):
    """From the pre-activations of one point, write c_j into coef; return the margin z.

    z = y N_W(x); c_j = eta g y v sigma'(pre_j), negated for the u-rows (THEORY.md §1).
    N_W(x) / v by ``neuron_total``'s order, every other sum and product as written, and no
    libm call (``margin_and_step``): the runs-as-lanes loops (kernels.sgd_lanes) compute
    the same numbers.
    """
    k = pre.shape[0] // 2
    z, step = margin_and_step(neuron_total(pre, alpha), yi, v, lr)
    for j in range(pre.shape[0]):
        coef[j] = coefficient(pre[j], alpha, step, j >= k)
    return z


@jit
def step_coefficients(pre, yi, alpha, v, lr, coef):
    """``canonical_step_coefficients`` with N_W(x) / v summed in kernels.ordered_sums'
    order (``signed_activation_sum``): vectorised for any 2k, the order of the per-run
    layouts."""
    two_k = pre.shape[0]
    k = two_k // 2
    z, step = margin_and_step(signed_activation_sum(pre, alpha, k), yi, v, lr)
    for j in range(two_k):
        coef[j] = coefficient(pre[j], alpha, step, j >= k)
    return z


@jit
def _forward_rows(W, x, pre):
    """pre_j = <w_j, x> (kernels.ordered_sums.dot), in W's dtype."""
    for j in range(W.shape[0]):
        pre[j] = dot(W[j], x)


@jit
def epoch_neuron_major(X, y, W, perm, alpha, v, lr, z_eps, pre, coef):
    """One epoch over the points in ``perm`` with W (2k, d) in place; returns the number of
    violating steps, those whose point had margin <= z_eps (loss >= eps) when sampled
    (THEORY.md §2, §2.1; 0: a clean epoch). pre, coef: (2k,) work arrays of W's dtype.

    Each row is updated, w_j <- fma(c_j, x, w_j), and its pre-activation on the next point
    summed in the same pass (kernels.ordered_sums.update_dot).
    """
    n = perm.shape[0]
    violating = 0
    _forward_rows(W, X[perm[0]], pre)
    for t in range(n):
        i = perm[t]
        z = step_coefficients(pre, y[i], alpha, v, lr, coef)
        violating += z <= z_eps
        # After the last step the next forward is wasted work; the next epoch redoes it.
        x, x_next = X[i], X[perm[min(t + 1, n - 1)]]
        for j in range(0, W.shape[0], 2):  # 2k is even
            pre[j], pre[j + 1] = update_dot_pair(W[j], W[j + 1], coef[j], coef[j + 1], x, x_next)
    return violating


@jit
def epoch_feature_major(X, y, WT, perm, alpha, v, lr, z_eps, pre, coef, canonical):
    """As ``epoch_neuron_major`` with the weights stored transposed, WT (d, 2k).

    The feature loop is unrolled by 2 and jammed into the neuron loop, so each pass over
    the neurons updates 2 rows of WT and loads and stores pre_j once for 2 features.
    """
    n = perm.shape[0]
    d, two_k = WT.shape
    d2 = d - d % 2
    violating = 0
    x = X[perm[0]]
    pre[:] = 0.0
    for f in range(d):
        for j in range(two_k):
            pre[j] += WT[f, j] * x[f]
    for t in range(n):
        i = perm[t]
        if canonical:  # two calls rather than one helper choosing: faster
            z = canonical_step_coefficients(pre, y[i], alpha, v, lr, coef)
        else:
            z = step_coefficients(pre, y[i], alpha, v, lr, coef)
        violating += z <= z_eps
        x = X[i]
        x_next = X[perm[min(t + 1, n - 1)]]
        pre[:] = 0.0
        for f in range(0, d2, 2):
            x0, x1 = x[f], x[f + 1]
            n0, n1 = x_next[f], x_next[f + 1]
            r0, r1 = WT[f], WT[f + 1]
            for j in range(two_k):
                c = coef[j]
                w0 = r0[j] + c * x0
                w1 = r1[j] + c * x1
                r0[j] = w0
                r1[j] = w1
                pre[j] += w0 * n0 + w1 * n1
        for f in range(d2, d):
            xf = x[f]
            xn = x_next[f]
            for j in range(two_k):
                w = WT[f, j] + coef[j] * xf
                WT[f, j] = w
                pre[j] += w * xn
    return violating


def delayed_steps_for(two_k, d):
    """How many points ``epoch_delayed`` takes per block for W (2k, d); 0: use the fused loops.

    The thresholds are where benchmarks/tune_delayed_steps.py measured the delayed blocks
    faster than the fused loops, with BLAS as wide as Numba's code or narrower
    (``BLAS_AS_WIDE_AS_NUMBA``); the measurements are in benchmarks/README.md.
    """
    if two_k < 32 or d < 50:
        return 0
    if not BLAS_AS_WIDE_AS_NUMBA:
        return 24 if two_k >= 100 and d >= 100 else 0
    if two_k <= 128:
        return 12
    return 16 if d < 100 else 24


@jit
def _block_preactivations(P, G, C, t, pre):
    """pre_j = P[t, j] + sum_{s<t} G[s, t] C[s, j]: <w_j, x_t> after the block's first t steps."""
    for j in range(pre.shape[0]):
        pre[j] = P[t, j]
    for s in range(t):
        g = G[s, t]
        for j in range(pre.shape[0]):
            pre[j] += g * C[s, j]


@jit
def epoch_delayed(X, y, W, perm, alpha, v, lr, z_eps, Xb, P, G, C, pre, dims):
    """As ``epoch_neuron_major`` on W (2k, d), with the updates of each block of b points
    delayed and applied as one matrix product (see the module docstring).

    Work arrays of W's dtype: Xb (b, d), P (b, 2k), G (b, b), C (b, 2k), pre (2k,);
    dims: int32 (6,), for ``kernels.blas.gemm``.
    """
    n = perm.shape[0]
    block = Xb.shape[0]
    violating = 0
    for start in range(0, n, block):
        size = min(block, n - start)
        for s in range(size):
            Xb[s] = X[perm[start + s]]
        points = Xb[:size]
        gemm(points, W, P[:size], False, True, False, dims)              # P = X_b W0^T
        gemm(points, points, G[:size, :size], False, True, False, dims)  # G = X_b X_b^T
        for t in range(size):
            _block_preactivations(P, G, C, t, pre)
            z = step_coefficients(pre, y[perm[start + t]], alpha, v, lr, C[t])
            violating += z <= z_eps
        gemm(C[:size], points, W, True, False, True, dims)               # W += C^T X_b
    return violating
