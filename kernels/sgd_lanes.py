"""The inner loops of many SGD runs at once, one run per SIMD lane (THEORY.md §1).

A step of a small network is a handful of flops: one run leaves most of a SIMD register
empty and waits on the latency of its chain (margin, loss slope, coefficients, update).
Here the runs are the innermost axis: W is (2k, d, L) with lane l holding one run, and
every loop runs over the lanes, so that the compiler vectorises across runs and the
runs' chains overlap. Each lane visits its own points (its own visiting order), so the
points of a step are gathered into xs (d, L) first, from X^T by a row of the epoch's
orders (n, L).

A loop over 64 lanes costs about as much to start as its work, so the loops of d <= 2
(``narrow_lanes_step``, ``_narrow_two_point_sums``) do a neuron's whole step (or
forward) in one; for larger d, fusing them so made the steps slower (benchmarks/README.md).

Every lane computes exactly what the per-run kernel computes for a network that ``trains_in_canonical_order``
(kernels.sgd): the same operations in the same order (features in order, two per pass
as in ``epoch_feature_major``; the neuron sum by ``neuron_total``'s order; the loss pass
of ``_canonical_epoch_loss``), no fused multiply-adds and no libm call inside the vectorised
loops (``exp_nonpositive``), so that a run's results do not depend on its lane, on the
number of lanes, or on which other runs share the call.

Per-lane parameters are the rows of ``params`` (PARAMS, L): ALPHA, V, LR, Z_EPS, EPS.
Every array has exactly one column per lane, and the loops run over all of them (with a
loop bound taken from an array's shape LLVM vectorises these loops; with a smaller
bound passed in, much slower: benchmarks/README.md): runs that stop leave the arrays
(kernels.sgd_batched takes the remaining lanes into narrower ones).
"""
from __future__ import annotations

import math

import numpy as np

from numba.extending import intrinsic

from kernels.exp import exp_nonpositive
from kernels.jit import jit
from kernels.network import LOSS_CHUNK
from kernels.sgd_loops import NEURON_LANES, activation, coefficient, lane_tree, margin_and_step

ALPHA, V, LR, Z_EPS, EPS = range(5)
PARAMS = 5
IGNORE, PROVE, EXACT = 0, 1, 2  # a lane's role in ``lanes_loss``


@jit
def gather_points(XT, points, xs):
    """xs[f, l] = XT[f, points[l]]: each lane's point, from X^T (d, n)."""
    for f in range(xs.shape[0]):
        row, out = XT[f], xs[f]
        for l in range(xs.shape[1]):
            out[l] = row[points[l]]


@jit
def gather_labels(y, points, y_lanes):
    """y_lanes[l] = y[points[l]]."""
    for l in range(y_lanes.shape[0]):
        y_lanes[l] = y[points[l]]


@jit(inline=True)
def _add_activations(sums, j, k, h, alpha):
    """sums[j % NEURON_LANES, l] += +-sigma(h[l]) for every lane (minus for a u-neuron)."""
    partial = sums[j % NEURON_LANES]
    if j < k:
        for l in range(h.shape[0]):
            partial[l] += activation(h[l], alpha[l])
    else:
        for l in range(h.shape[0]):
            partial[l] += -activation(h[l], alpha[l])


@jit(inline=True)
def _lane_sum(sums, l):
    """N_W(x) / v of lane l from its partial sums (kernels.sgd_loops.neuron_total's order)."""
    return lane_tree(sums[0, l], sums[1, l], sums[2, l], sums[3, l], sums[4, l], sums[5, l], sums[6, l], sums[7, l])


@jit
def first_forward(W, xs, pre, sums, alpha):
    """pre[j, l] = <w_j, x> of each lane's first point, summed over the features in order,
    and the partial sums of N_W(x) / v into sums (NEURON_LANES, L)."""
    two_k, d, lanes = W.shape
    if d <= 2:
        _narrow_first_forward(W, xs, pre, sums, alpha)
        return
    sums[:, :] = 0.0
    for j in range(two_k):
        acc = pre[j]
        acc[:] = 0.0
        for f in range(d):
            w = W[j, f]
            x = xs[f]
            for l in range(lanes):
                acc[l] += w[l] * x[l]
        _add_activations(sums, j, two_k // 2, acc, alpha)


@jit
def _narrow_first_forward(W, xs, pre, sums, alpha):
    """``first_forward`` for d = 1 or 2, one loop over the lanes per neuron (as
    ``narrow_lanes_step``)."""
    two_k, d, lanes = W.shape
    k = two_k // 2
    zero = W.dtype.type(0)
    sums[two_k:] = 0.0  # (the others start with their first neuron's term)
    x0, x1 = xs[0], xs[d - 1]
    for j in range(two_k):
        acc, partial = pre[j], sums[j % NEURON_LANES]
        sign = -1.0 if j >= k else 1.0
        first = j < NEURON_LANES
        w0, w1 = W[j, 0], W[j, d - 1]
        if d == 2:
            for l in range(lanes):
                h = (zero + w0[l] * x0[l]) + w1[l] * x1[l]
                acc[l] = h
                partial[l] = (0.0 if first else partial[l]) + activation(h, alpha[l]) * sign
        else:
            for l in range(lanes):
                h = zero + w0[l] * x0[l]
                acc[l] = h
                partial[l] = (0.0 if first else partial[l]) + activation(h, alpha[l]) * sign


@intrinsic
def _as_type_of(typingctx, value, like):
    """``value`` converted to the type of ``like`` (a float32 coefficient as the per-run
    kernel stores it in its float32 coef array)."""
    def codegen(context, builder, signature, args):
        return context.cast(builder, args[0], signature.args[0], signature.args[1])

    return like(value, like), codegen


@jit(inline=True)
def _step_sizes(sums, y_lanes, params, steps, violating):
    """Each lane's step size eta g y v into steps, from its N_W / v partial sums and label;
    violating[l] counts the step when its margin z <= z_eps (THEORY.md §2.1)."""
    v, lr, z_eps = params[V], params[LR], params[Z_EPS]
    for l in range(steps.shape[0]):
        z, step = margin_and_step(_lane_sum(sums, l), y_lanes[l], v[l], lr[l])
        steps[l] = step
        violating[l] += z <= z_eps[l]


@jit
def lanes_step(W, pre, sums, xs, xn, y_lanes, params, steps, coef, violating):
    """One SGD step of every lane, on its point xs[:, l] (label y_lanes[l]) whose
    pre-activations are pre (2k, L) and N_W / v partial sums ``sums``; leaves in pre and
    sums those of its next point xn (kernels.sgd_loops: ``canonical_step_coefficients``, then the
    fused update and forward of ``epoch_feature_major``, features two per pass).
    violating[l] (int64) counts the step when the margin z <= z_eps. Work arrays: steps
    float64 (L,), coef (L,) of W's dtype.
    """
    two_k, d, lanes = W.shape
    k = two_k // 2
    d2 = d - d % 2
    alpha = params[ALPHA]
    _step_sizes(sums, y_lanes, params, steps, violating)
    sums[:, :] = 0.0
    for j in range(two_k):
        acc = pre[j]
        for l in range(lanes):
            coef[l] = coefficient(acc[l], alpha[l], steps[l], j >= k)
        acc[:] = 0.0
        for f in range(0, d2, 2):
            w0, w1 = W[j, f], W[j, f + 1]
            x0, x1 = xs[f], xs[f + 1]
            n0, n1 = xn[f], xn[f + 1]
            for l in range(lanes):
                a = w0[l] + coef[l] * x0[l]
                b = w1[l] + coef[l] * x1[l]
                w0[l] = a
                w1[l] = b
                acc[l] += a * n0[l] + b * n1[l]
        for f in range(d2, d):
            w = W[j, f]
            x = xs[f]
            xnext = xn[f]
            for l in range(lanes):
                a = w[l] + coef[l] * x[l]
                w[l] = a
                acc[l] += a * xnext[l]
        _add_activations(sums, j, k, acc, alpha)


@jit
def narrow_lanes_step(W, pre, sums, xs, xn, y_lanes, params, steps, violating):
    """``lanes_step`` for d = 1 or 2 (the same numbers): coefficient, update, forward and
    activation of a neuron in one loop over the lanes, and each of the NEURON_LANES
    partial sums started by its first neuron's term rather than zeroed: faster than
    ``lanes_step`` at d = 2. Its own function: compiled in one with the loops of d >= 3,
    LLVM made these as slow as before (benchmarks/README.md)."""
    two_k, d, lanes = W.shape
    k = two_k // 2
    alpha = params[ALPHA]
    _step_sizes(sums, y_lanes, params, steps, violating)
    sums[two_k:] = 0.0  # (the others start with their first neuron's term)
    zero = W.dtype.type(0)
    for j in range(two_k):
        acc, partial = pre[j], sums[j % NEURON_LANES]
        negative = j >= k
        sign = -1.0 if negative else 1.0
        first = j < NEURON_LANES
        if d == 1:
            _whole_neuron_one(W[j, 0], xs[0], xn[0], acc, partial, alpha, steps, negative, sign, first, zero)
            continue
        w0, w1, x0, x1, n0, n1 = W[j, 0], W[j, 1], xs[0], xs[1], xn[0], xn[1]
        for l in range(lanes):
            c = _as_type_of(coefficient(acc[l], alpha[l], steps[l], negative), zero)
            a = w0[l] + c * x0[l]
            b = w1[l] + c * x1[l]
            w0[l] = a
            w1[l] = b
            h = zero + (a * n0[l] + b * n1[l])
            acc[l] = h
            partial[l] = (0.0 if first else partial[l]) + activation(h, alpha[l]) * sign


@jit(inline=True)
def _whole_neuron_one(w, x, xnext, acc, partial, alpha, steps, negative, sign, first, zero):
    """``narrow_lanes_step``'s loop for a neuron when d = 1."""
    for l in range(acc.shape[0]):
        c = _as_type_of(coefficient(acc[l], alpha[l], steps[l], negative), zero)
        a = w[l] + c * x[l]
        w[l] = a
        h = zero + a * xnext[l]
        acc[l] = h
        partial[l] = (0.0 if first else partial[l]) + activation(h, alpha[l]) * sign


@jit(inline=True)
def _add_losses(yi, v, sums, series, totals):
    """Each lane's loss on one point (label yi, N_W / v partial sums ``sums``) into its
    running sums, as ``kernels.network.summed_loss`` (exp by ``exp_nonpositive``)."""
    for l in range(series.shape[0]):
        z = yi * v[l] * _lane_sum(sums, l)
        e = exp_nonpositive(-abs(z))
        series[l] += e + series[l] * e
        totals[l] += max(-z, 0.0)


@jit
def lanes_loss(X, y, W, params, role, stop_sums, H, sums, series, totals, proofs, loss, exact):
    """``kernels.sgd._small_epoch_loss`` for every lane: loss[l], exact[l].

    role[l]: EXACT (need 0 or 2: the whole pass), PROVE (need 1: as that function, the
    summed losses at the end of the first chunk, not the last, by which they reach
    stop_sums[l], as a lower bound, exact False) or IGNORE (a lane whose result is not
    used). The pass stops early once no lane is EXACT and every PROVE lane has its bound.
    Work arrays: H (L,) of W's dtype; float64 sums (NEURON_LANES, L), series, totals,
    proofs (L,).
    """
    n, d = X.shape
    lanes = W.shape[2]
    alpha, v = params[ALPHA], params[V]
    H_b, sums_b = np.empty_like(H), np.empty_like(sums)  # the second point of a pass
    waiting = 0  # PROVE lanes without their bound, or any EXACT lane (then the pass runs to the end)
    for l in range(lanes):
        totals[l] = 0.0
        series[l] = 0.0
        proofs[l] = np.nan
        waiting += 1 if role[l] == PROVE else (n if role[l] == EXACT else 0)
    for start in range(0, n, LOSS_CHUNK):
        stop = min(start + LOSS_CHUNK, n)
        for i in range(start, stop, 2):  # two points per pass over W
            pair = i + 1 < stop
            a, b = X[i], X[i + 1] if pair else X[i]
            if d <= 2:
                _narrow_two_point_sums(W, a, b, alpha, sums, sums_b)
            else:
                _two_point_sums(W, a, b, alpha, H, H_b, sums, sums_b)
            _add_losses(y[i], v, sums, series, totals)
            if pair:
                _add_losses(y[i + 1], v, sums_b, series, totals)
        for l in range(lanes):
            totals[l] += math.log1p(series[l])
            series[l] = 0.0
        if stop < n:
            for l in range(lanes):
                if role[l] == PROVE and proofs[l] != proofs[l] and totals[l] >= stop_sums[l]:
                    proofs[l] = totals[l]
                    waiting -= 1
            if waiting == 0:
                break
    for l in range(lanes):
        proven = proofs[l] == proofs[l]
        loss[l] = (proofs[l] if proven else totals[l]) / n
        exact[l] = not proven


@jit
def _two_point_sums(W, a, b, alpha, H, H_b, sums, sums_b):
    """The N_W / v partial sums of points a and b for every lane (``lanes_loss``, two
    points per pass over W), into sums and sums_b; work arrays H, H_b (L,) of W's dtype."""
    two_k, d, lanes = W.shape
    k = two_k // 2
    d2 = d - d % 2
    sums[:, :] = 0.0
    sums_b[:, :] = 0.0
    for j in range(two_k):
        H[:] = 0.0
        H_b[:] = 0.0
        for f in range(0, d2, 2):
            w0, w1 = W[j, f], W[j, f + 1]
            a0, a1, b0, b1 = a[f], a[f + 1], b[f], b[f + 1]
            for l in range(lanes):
                H[l] += w0[l] * a0 + w1[l] * a1
                H_b[l] += w0[l] * b0 + w1[l] * b1
        for f in range(d2, d):
            w = W[j, f]
            af, bf = a[f], b[f]
            for l in range(lanes):
                H[l] += w[l] * af
                H_b[l] += w[l] * bf
        _add_activations(sums, j, k, H, alpha)
        _add_activations(sums_b, j, k, H_b, alpha)


@jit
def _narrow_two_point_sums(W, a, b, alpha, sums, sums_b):
    """``_two_point_sums`` for d = 1 or 2: one loop over the lanes per neuron (as
    ``narrow_lanes_step``)."""
    two_k, d, lanes = W.shape
    k = two_k // 2
    zero = W.dtype.type(0)
    sums[two_k:] = 0.0  # (the others start with their first neuron's term)
    sums_b[two_k:] = 0.0
    a0, b0, a1, b1 = a[0], b[0], a[d - 1], b[d - 1]
    for j in range(two_k):
        partial, partial_b = sums[j % NEURON_LANES], sums_b[j % NEURON_LANES]
        sign = -1.0 if j >= k else 1.0
        first = j < NEURON_LANES
        w0, w1 = W[j, 0], W[j, d - 1]
        if d == 2:
            for l in range(lanes):
                h = zero + (w0[l] * a0 + w1[l] * a1)
                h_b = zero + (w0[l] * b0 + w1[l] * b1)
                partial[l] = (0.0 if first else partial[l]) + activation(h, alpha[l]) * sign
                partial_b[l] = (0.0 if first else partial_b[l]) + activation(h_b, alpha[l]) * sign
        else:
            for l in range(lanes):
                h = zero + w0[l] * a0
                h_b = zero + w0[l] * b0
                partial[l] = (0.0 if first else partial[l]) + activation(h, alpha[l]) * sign
                partial_b[l] = (0.0 if first else partial_b[l]) + activation(h_b, alpha[l]) * sign
