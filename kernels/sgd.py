"""Per-sample SGD on the cross-entropy loss, epoch by epoch (THEORY.md §1-2).

``sgd_train`` is the public entry point. ``SGDTrainer`` is the same run cut into
blocks of epochs, so that a caller can supply visiting orders block by block (or have
them drawn in the kernel from a seed, kernels.orders) and take snapshots of W between
blocks; ``sgd_train`` is one block. Many runs per call: kernels.sgd_batched.

Every path a run can take, and when it is chosen (``step_layout``; one run of each, in
both dtypes, is held against the plain-NumPy replay in tests/conformance.py):

=====================  =============================================  ==========================  ======================
layout                 chosen when                                    steps (kernels.sgd_loops)   end-of-epoch loss
=====================  =============================================  ==========================  ======================
canonical              ``trains_in_canonical_order`` (small W), no     ``epoch_feature_major``,    ``_canonical_epoch_loss``
                       delayed steps                                  canonical coefficients
feature-major          2k > d                                         ``epoch_feature_major``     ``_epoch_loss`` (BLAS)
neuron-major           2k <= d, d a multiple of one SIMD vector       ``epoch_neuron_major``      ``_epoch_loss`` (BLAS)
neuron-major padded    2k <= d otherwise (rows padded with zeros)     ``epoch_neuron_major``      ``_epoch_loss`` (BLAS)
delayed                ``delayed_steps`` > 0 (``delayed_steps_for``)  ``epoch_delayed`` (BLAS)    ``_epoch_loss`` (BLAS)
=====================  =============================================  ==========================  ======================

Runs as SIMD lanes (kernels.sgd_batched, kernels.sgd_lanes) compute exactly what the
canonical layout computes. What the loss pass must deliver at an epoch is one of
LOSS_EXACT, LOSS_BELOW_EPS, LOSS_FINITE (``sgd_epochs``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from kernels.jit import jit

from kernels.exp import exp_nonpositive
from kernels.network import LOSS_CHUNK, loss_from_preactivations
from kernels.ordered_sums import REGISTER_BYTES
from kernels.orders import STREAM_WORDS, SeededOrders, check_points, check_seeds, shuffle_epoch
from kernels.sgd_loops import (NEURON_LANES, activation, delayed_steps_for, epoch_delayed, epoch_feature_major,
                               epoch_neuron_major, lane_tree)
from kernels.validation import (check_delayed_steps, check_finite_positive, check_loss_at, check_order,
                                check_training_inputs)

# Slots of the int64 state array that carries a run from one block to the next
# (``initial_state``): epochs done, E_clean, E_conv, the diverged flag, the violating
# steps before E_clean and those of the whole run (THEORY.md §2.1).
EPOCHS_DONE, E_CLEAN, E_CONV, DIVERGED, VIOLATING_CLEAN, VIOLATING_RUN = range(6)
# The layouts of a run's steps (the module docstring's table), by code.
CANONICAL, FEATURE_MAJOR, NEURON_MAJOR, NEURON_MAJOR_PADDED, DELAYED = range(5)
LAYOUTS = ("canonical", "feature-major", "neuron-major", "neuron-major padded", "delayed")
# What the end-of-epoch loss pass must deliver: L_S exactly; only whether L_S < eps
# (before E_conv: the pass may stop once L_S >= eps is certain); only whether L_S is
# finite (after E_conv: skipped while W is tame).
LOSS_EXACT, LOSS_BELOW_EPS, LOSS_FINITE = 0, 1, 2


# The end-of-epoch loss when only "is L_S < eps?" is asked: points are taken in blocks
# of FIRST_LOSS_BLOCK, then twice as many each time, and the pass stops once their summed
# loss passes n eps (1 + margin), which proves L_S >= eps; the margin keeps rounding from
# deciding the answer.
FIRST_LOSS_BLOCK = 16
LOSS_STOP_MARGIN = 1e-9
# The loss is finite when every |z| stays below this, which |W| |x|_1 2k v bounds.
TAME_OUTPUT = 1e300
# The neuron-major steps run on rows padded with zero features to a multiple of one SIMD
# vector of kernels.ordered_sums (4 float64, 8 float32): a zero feature adds exact zeros,
# so the numbers are those of the unpadded rows, and the masked last vector, the slowest
# part of a short row, is gone (benchmarks/README.md, "Rows padded").
ROW_BYTES = REGISTER_BYTES
# A network with at most CANONICAL_LIMIT[bytes per weight] = (weights d * 2k, neurons 2k)
# trains in the canonical order (feature-major steps, the loss pass of
# ``_canonical_epoch_loss``), the order kernels.sgd_lanes computes many runs in at once,
# one run per SIMD lane. Up to there runs as lanes beat the per-run layouts; beyond, the
# per-run layouts fill the SIMD registers themselves and mostly win; and one run alone
# in the canonical order is slower than in the per-run layouts (benchmarks/README.md,
# "Many runs per kernel call"; benchmarks/bench_batched.py --thresholds).
CANONICAL_LIMIT = {8: (128, 32), 4: (400, 64)}


def initial_state() -> np.ndarray:
    """The state of a run before its first epoch: nothing done, no count reached."""
    return np.array([0, -1, -1, 0, 0, 0], dtype=np.int64)


def trains_in_canonical_order(two_k: int, d: int, itemsize: int = 8) -> bool:
    """Whether W (2k, d) with ``itemsize``-byte weights trains in the canonical order
    that runs-as-lanes shares (a small network)."""
    weights, neurons = CANONICAL_LIMIT[itemsize]
    return two_k * d <= weights and two_k <= neurons


def step_layout(two_k: int, d: int, itemsize: int, delayed_steps: int) -> int:
    """The layout code (LAYOUTS) that a run of W (2k, d) with ``itemsize``-byte weights and
    ``delayed_steps`` (0: fused steps) trains in."""
    if delayed_steps > 0:
        return DELAYED
    if trains_in_canonical_order(two_k, d, itemsize):
        return CANONICAL
    if two_k > d:
        return FEATURE_MAJOR
    return NEURON_MAJOR if d % (ROW_BYTES // itemsize) == 0 else NEURON_MAJOR_PADDED


@jit
def sgd_epochs(X, XT, y, W, order, seed, epochs, alpha, v, lr, z_eps, eps, stop_early, state, loss_out,
               loss_every_epoch, loss_at, snap_at, snaps, layout, delayed):
    """Run ``epochs`` SGD epochs, updating W in place (THEORY.md §1-2).

    X (n, d) and its transpose XT (d, n), both C-contiguous; y (n,) in {+1, -1}; W (2k, d).
    Visiting orders: the rows of ``order`` (epochs, n) if it has any, else drawn from
    ``seed`` (kernels.orders.shuffle_epoch, by global epoch).
    state int64[6] (``initial_state``): epochs done before this call, E_clean, E_conv
    (1-based, -1 if not reached), diverged flag, violating steps before E_clean and in the
    whole run; updated in place. A step is violating, and its epoch not clean, when the
    sampled point's margin z <= z_eps, i.e. its loss l(z) >= eps at the moment it is
    sampled (THEORY.md §2, §2.1).
    Snapshots of W after the global (1-based) epochs listed in ascending ``snap_at`` go to
    ``snaps``. Stops after an epoch whose loss is not finite (diverged), or, with
    stop_early, once E_clean and E_conv are both reached. Returns the epochs run.

    loss_out[e] receives L_S after epoch e of this block: at every epoch if
    ``loss_every_epoch``, else at the global epochs in ascending ``loss_at``, at the
    block's last epoch and at the run's last; elsewhere NaN. Without every epoch's loss
    the end-of-epoch pass is skipped (after E_conv, while W is finite and tame) or cut
    short (before E_conv, once L_S >= eps is certain): E_clean, E_conv, the divergence
    epoch and W are the same either way.

    ``layout``: a code of LAYOUTS (``step_layout``); ``delayed``: the points per delayed
    block (DELAYED). Feature-major layouts train a copy W^T (d, 2k), written back to W
    before returning; the padded neuron-major one trains rows padded with zero features
    to a multiple of ROW_BYTES, copied back to W after every epoch, so that the loss pass
    and the snapshots see the unpadded X and W. Outside the canonical layout the full
    loss is one matrix product W XT (BLAS; XT a copy rather than the view X.T, which
    OpenBLAS's AVX-512 small-matrix kernels run faster: benchmarks/README.md) and a
    vectorised pass over its rows.
    """
    n, d = X.shape
    two_k = W.shape[0]
    canonical = layout == CANONICAL
    feature_major = canonical or layout == FEATURE_MAJOR
    WT = np.ascontiguousarray(W.T) if feature_major else np.empty((0, 0), dtype=W.dtype)
    padded = layout == NEURON_MAJOR_PADDED
    Xs, Ws = (_zero_padded(X), _zero_padded(W)) if padded else (X, W)  # what the neuron-major steps use
    Xb = np.empty((delayed, d), dtype=W.dtype)
    P = np.empty((delayed, two_k), dtype=W.dtype)
    G = np.empty((delayed, delayed), dtype=W.dtype)
    C = np.empty((delayed, two_k), dtype=W.dtype)
    dims = np.empty(6, dtype=np.int32)
    pre = np.empty(two_k, dtype=W.dtype)
    coef = np.empty(two_k, dtype=W.dtype)
    HT = np.empty((two_k, LOSS_CHUNK if canonical else n), dtype=W.dtype)
    sums = np.empty((NEURON_LANES, LOSS_CHUNK))
    net = np.empty(n)
    exps = np.empty(LOSS_CHUNK)
    perm = np.empty(n, dtype=np.int64)
    stream = np.empty(STREAM_WORDS, dtype=np.uint64)
    output_bound = two_k * v * _max_row_l1(X)
    stop_sum = n * eps * (1.0 + LOSS_STOP_MARGIN)
    next_snap = 0
    while next_snap < snap_at.shape[0] and snap_at[next_snap] <= state[EPOCHS_DONE]:
        next_snap += 1
    next_loss = 0
    while next_loss < loss_at.shape[0] and loss_at[next_loss] <= state[EPOCHS_DONE]:
        next_loss += 1
    ran = epochs
    for e in range(epochs):
        epoch = state[EPOCHS_DONE] + 1
        if order.shape[0] > 0:
            perm[:] = order[e]
        else:
            shuffle_epoch(seed, np.uint64(epoch), perm, stream)
        if layout == DELAYED:
            violating = epoch_delayed(X, y, W, perm, alpha, v, lr, z_eps, Xb, P, G, C, pre, dims)
        elif feature_major:
            violating = epoch_feature_major(X, y, WT, perm, alpha, v, lr, z_eps, pre, coef, canonical)
        else:
            violating = epoch_neuron_major(Xs, y, Ws, perm, alpha, v, lr, z_eps, pre, coef)
            if padded:
                W[:, :] = Ws[:, :d]
        state[EPOCHS_DONE] = epoch
        count_epoch(state, epoch, violating)
        wanted = next_loss < loss_at.shape[0] and loss_at[next_loss] == epoch
        if wanted:
            next_loss += 1
        last = e == epochs - 1 or (stop_early and state[E_CLEAN] > 0 and state[E_CONV] > 0)
        need = LOSS_EXACT if loss_every_epoch or wanted or last else (
            LOSS_BELOW_EPS if state[E_CONV] < 0 else LOSS_FINITE)
        if canonical:
            loss, exact = _canonical_epoch_loss(X, XT, y, WT, alpha, v, HT, sums, net, exps, need, stop_sum,
                                            output_bound)
        elif feature_major:  # two calls, so that each compiles for its layout of W
            loss, exact = _epoch_loss(X, XT, y, WT.T, alpha, v, HT, net, need, stop_sum, output_bound)
        else:
            loss, exact = _epoch_loss(X, XT, y, W, alpha, v, HT, net, need, stop_sum, output_bound)
        loss_out[e] = loss if exact or not math.isfinite(loss) else np.nan
        if loss < eps and state[E_CONV] < 0:
            state[E_CONV] = epoch
        if next_snap < snap_at.shape[0] and snap_at[next_snap] == epoch:
            snaps[next_snap] = WT.T if feature_major else W
            next_snap += 1
        if not math.isfinite(loss):
            state[DIVERGED] = 1
            ran = e + 1
            break
        if stop_early and state[E_CLEAN] > 0 and state[E_CONV] > 0:
            ran = e + 1
            break
    if feature_major:
        W[:, :] = WT.T
    return ran


@jit
def count_epoch(state, epoch, violating):
    """Record in a run's ``state`` that ``epoch`` had ``violating`` violating steps: they
    count before E_clean until the first epoch with none, which is E_clean."""
    state[VIOLATING_RUN] += violating
    if state[E_CLEAN] < 0:
        state[VIOLATING_CLEAN] += violating
        if violating == 0:
            state[E_CLEAN] = epoch


def violating_before_clean(state: np.ndarray) -> np.ndarray:
    """V, the violating steps before E_clean, from a state (..., 6); -1 where E_clean is not reached."""
    return np.where(state[..., E_CLEAN] > 0, state[..., VIOLATING_CLEAN], -1)


@jit
def _zero_padded(A):
    """A copy of A (m, d) with zero columns appended up to a multiple of a SIMD vector."""
    m, d = A.shape
    out = np.zeros((m, d + (-d) % (ROW_BYTES // A.itemsize)), dtype=A.dtype)
    out[:, :d] = A
    return out


@jit
def _epoch_loss(X, XT, y, W, alpha, v, HT, net, need, stop_sum, output_bound):
    """(loss, exact) at the end of an epoch, as much as ``need`` asks (see sgd_epochs).

    LOSS_EXACT: (L_S, True). LOSS_BELOW_EPS: (L_S, True), or (a lower bound >= stop_sum /
    n, False) once the first blocks of points prove L_S >= eps. LOSS_FINITE: (0.0, False)
    when W is tame enough for L_S to be finite, else (L_S, True).
    """
    if need == LOSS_BELOW_EPS:
        return _loss_or_proof_above(X, y, W, alpha, v, HT, net, stop_sum)
    if need == LOSS_FINITE and _max_abs(W) * output_bound < TAME_OUTPUT:
        return 0.0, False
    np.dot(W, XT, HT)
    return loss_from_preactivations(HT, y, alpha, v, net), True


@jit
def _loss_or_proof_above(X, y, W, alpha, v, HT, net, stop_sum):
    """(L_S(W), True), or (a lower bound >= stop_sum / n, False) once the losses of the
    first blocks of points already sum to stop_sum. Each block of points (FIRST_LOSS_BLOCK,
    then doubling) takes one BLAS product into the front of HT's buffer."""
    n = X.shape[0]
    two_k = W.shape[0]
    buffer = HT.reshape(-1)
    total = 0.0
    start, size = 0, FIRST_LOSS_BLOCK
    while start < n:
        stop = min(start + size, n)
        block = buffer[:two_k * (stop - start)].reshape((two_k, stop - start))
        np.dot(W, X[start:stop].T, block)
        total += (stop - start) * loss_from_preactivations(block, y[start:stop], alpha, v, net[:stop - start])
        if total >= stop_sum and stop < n:
            return total / n, False
        start, size = stop, 2 * size
    return total / n, True


@jit
def _canonical_epoch_loss(X, XT, y, WT, alpha, v, HT, sums, net, exps, need, stop_sum, output_bound):
    """(loss, exact) as ``_epoch_loss``, in the canonical order (WT (d, 2k) = W^T).

    Points are taken in chunks of LOSS_CHUNK; for each, <w_j, x_i> is summed over the
    features in order, two per pass (as the steps' forward), N_W(x_i) / v by
    ``neuron_total``'s order, and the losses as in
    ``kernels.network.summed_loss`` with ``exp_nonpositive`` (one log1p per chunk).
    LOSS_BELOW_EPS stops at the end of the first chunk (not the last) by which the summed losses reach
    stop_sum. kernels.sgd_lanes.lanes_loss computes the same numbers for many runs.
    Work arrays: HT (2k, LOSS_CHUNK) of W's dtype; float64 sums (NEURON_LANES, LOSS_CHUNK),
    net (>= LOSS_CHUNK,), exps (LOSS_CHUNK,).
    """
    if need == LOSS_FINITE and _max_abs(WT) * output_bound < TAME_OUTPUT:
        return 0.0, False
    n, d = X.shape
    two_k = WT.shape[1]
    k = two_k // 2
    total = 0.0
    for start in range(0, n, LOSS_CHUNK):
        size = min(LOSS_CHUNK, n - start)
        HT[:, :size] = 0.0
        for j in range(two_k):
            row = HT[j]
            for f in range(0, d - d % 2, 2):
                w0, w1 = WT[f, j], WT[f + 1, j]
                x0, x1 = XT[f, start:start + size], XT[f + 1, start:start + size]
                for i in range(size):
                    row[i] += w0 * x0[i] + w1 * x1[i]
            for f in range(d - d % 2, d):
                w = WT[f, j]
                points = XT[f, start:start + size]
                for i in range(size):
                    row[i] += w * points[i]
        sums[:, :size] = 0.0
        for j in range(two_k):
            partial = sums[j % NEURON_LANES]
            row = HT[j]
            if j < k:
                for i in range(size):
                    partial[i] += activation(row[i], alpha)
            else:
                for i in range(size):
                    partial[i] += -activation(row[i], alpha)
        for i in range(size):
            total_i = lane_tree(sums[0, i], sums[1, i], sums[2, i], sums[3, i], sums[4, i], sums[5, i], sums[6, i],
                                sums[7, i])
            z = y[start + i] * v * total_i
            net[i] = z
            exps[i] = exp_nonpositive(-abs(z))
        s = 0.0
        for i in range(size):
            e = exps[i]
            s += e + s * e
            total += max(-net[i], 0.0)
        total += math.log1p(s)
        if need == LOSS_BELOW_EPS and start + size < n and total >= stop_sum:
            return total / n, False
    return total / n, True


@jit
def _max_row_l1(X):
    """max_i sum_f |x_if|, in float64."""
    largest = 0.0
    for i in range(X.shape[0]):
        total = 0.0
        for f in range(X.shape[1]):
            total += abs(X[i, f])
        largest = max(largest, total)
    return largest


@jit
def _max_abs(W):
    """max |w| over W; NaN if W has a NaN."""
    largest = 0.0
    for j in range(W.shape[0]):
        for f in range(W.shape[1]):
            a = abs(W[j, f])
            if a != a:
                return np.nan
            largest = max(largest, a)
    return largest


@dataclass
class TrainingResult:
    """The outcome of a training run (SGD here; full-batch GD fills it too, with E_clean
    -1: it samples no points).

    W: final weights (2k, d). loss: L_S at the end of each epoch run, shape (epochs_run,);
    with ``loss_at``, NaN at the epochs it skipped.
    E_clean, E_conv: THEORY.md §2 epoch counts, 1-based, -1 when not reached.
    diverged: the loss became NaN or inf (the run stopped there).
    violating_steps: V, the steps whose sampled point had loss >= eps, before E_clean
    (-1 when E_clean is not reached); violating_steps_run: those of every step run
    (THEORY.md §2.1; -1 for GD, which samples no points).
    """

    W: np.ndarray
    loss: np.ndarray
    E_clean: int
    E_conv: int
    epochs_run: int
    diverged: bool
    violating_steps: int = -1
    violating_steps_run: int = -1


@dataclass
class SGDTrainer:
    """One SGD run, advanced block by block of epochs (THEORY.md §1).

    Validates its inputs once; each ``run_block`` call continues from where the last
    one stopped, so a run cut into blocks equals the same run in one block.
    ``loss_at``: None to have L_S after every epoch, or the ascending 1-based epochs at
    which it is wanted (see ``sgd_epochs``; the results are otherwise the same, faster).
    ``delayed_steps``: points whose updates are delayed and applied as one matrix product
    (kernels.sgd_loops.epoch_delayed), 0 for the fused steps, None to choose by W's shape
    and the BLAS (``delayed_steps_for``, never in the canonical order); W differs between
    them only by rounding. ``shared_XT``: X^T as a C-contiguous (d, n) array of the
    training dtype, which the trainers of one training set share (kernels.sgd_batched;
    it must equal X.T); None to make it here. ``layout``: the name of the layout the run
    trains in (LAYOUTS).
    """

    X: np.ndarray
    y: np.ndarray
    W0: np.ndarray
    alpha: float
    lr: float
    eps: float
    v: float = 1.0
    stop_early: bool = False
    dtype: type = np.float64
    loss_at: np.ndarray | None = None
    delayed_steps: int | None = None
    shared_XT: np.ndarray | None = None
    W: np.ndarray = field(init=False)
    _XT: np.ndarray = field(init=False)
    _state: np.ndarray = field(init=False)
    _losses: list = field(init=False, default_factory=list)

    def __post_init__(self):
        self.X, self.y, self.W = check_training_inputs(self.X, self.y, self.W0, self.alpha, self.dtype)
        self._XT = self.shared_XT if self.shared_XT is not None else np.ascontiguousarray(self.X.T)  # the loss pass
        if self._XT.shape != self.X.shape[::-1] or self._XT.dtype != self.X.dtype or not self._XT.flags.c_contiguous:
            raise ValueError(f"shared_XT must be X.T as a C-contiguous {self.X.dtype} array of shape "
                             f"{self.X.shape[::-1]}, got {self._XT.dtype} {self._XT.shape}")
        check_finite_positive("lr", self.lr)
        check_finite_positive("eps", self.eps)
        check_finite_positive("v", self.v)
        self._z_eps = -math.log(math.expm1(self.eps))
        self._state = initial_state()
        self._loss_at = np.empty(0, dtype=np.int64) if self.loss_at is None else check_loss_at(self.loss_at)
        if self.delayed_steps is None:
            canonical = trains_in_canonical_order(*self.W.shape, self.W.itemsize)
            self._delayed_steps = 0 if canonical else delayed_steps_for(*self.W.shape)
        else:
            self._delayed_steps = check_delayed_steps(self.delayed_steps)
        self._layout = step_layout(*self.W.shape, self.W.itemsize, self._delayed_steps)

    @property
    def layout(self) -> str:
        return LAYOUTS[self._layout]

    @property
    def finished(self) -> bool:
        """True once the run diverged or, with stop_early, reached both counts."""
        s = self._state
        return bool(s[DIVERGED]) or (self.stop_early and s[E_CLEAN] > 0 and s[E_CONV] > 0)

    @property
    def epochs_run(self) -> int:
        return int(self._state[EPOCHS_DONE])

    def run_block(self, order, snapshot_at=()) -> np.ndarray:
        """Run the epochs of ``order`` unless finished; return snapshots of W.

        ``order``: visiting orders (m, n), or ``SeededOrders(seed, m)`` to draw m epochs'
        orders in the kernel (kernels.orders; the run continues its stream).
        ``snapshot_at``: ascending global 1-based epochs; the result holds W after each
        of them that this block reached, shape (count, 2k, d).
        """
        order, seed, epochs = orders_argument(order, 1, self.X.shape[0])
        snap_at = np.asarray(snapshot_at, dtype=np.int64)
        snaps = np.empty((snap_at.shape[0],) + self.W.shape, dtype=self.W.dtype)
        if self.finished:
            return snaps[:0]
        before = self.epochs_run
        loss = np.empty(epochs)
        ran = sgd_epochs(self.X, self._XT, self.y, self.W, order[0], seed[0], epochs, self.alpha, self.v, self.lr,
                         self._z_eps, self.eps, self.stop_early, self._state, loss, self.loss_at is None,
                         self._loss_at, snap_at, snaps, self._layout, self._delayed_steps)
        self._losses.append(loss[:ran])
        taken = np.count_nonzero((snap_at > before) & (snap_at <= self.epochs_run))
        first = np.count_nonzero(snap_at <= before)
        return snaps[first:first + taken]

    def result(self) -> TrainingResult:
        s = self._state
        loss = np.concatenate(self._losses) if self._losses else np.empty(0)
        return TrainingResult(W=self.W.copy(), loss=loss, E_clean=int(s[E_CLEAN]), E_conv=int(s[E_CONV]),
                              epochs_run=int(s[EPOCHS_DONE]), diverged=bool(s[DIVERGED]),
                              violating_steps=int(violating_before_clean(s)),
                              violating_steps_run=int(s[VIOLATING_RUN]))


def orders_argument(orders, runs: int, n: int):
    """(order (runs, m, n) int64, seeds (runs,) uint64, m) from explicit visiting orders
    (m, n) for one run or (runs, m, n), or ``SeededOrders`` (then order is (runs, 0, n));
    ValueError naming what is wrong."""
    if isinstance(orders, SeededOrders):
        check_points(n)
        seeds = check_seeds(orders.seeds, runs)
        return np.empty((runs, 0, n), dtype=np.int64), seeds, int(orders.epochs)
    orders = np.asarray(orders)
    if runs == 1 and orders.ndim == 2:
        orders = orders[None]
    if orders.ndim != 3 or orders.shape[0] != runs:
        raise ValueError(f"order must be an integer array of shape ({runs}, epochs, {n}), got {orders.dtype} "
                         f"{orders.shape}" if runs > 1 else
                         f"order must be an integer array of shape (epochs, {n}), got {orders.dtype} {orders.shape}")
    try:
        checked = check_order(orders.reshape(-1, orders.shape[-1]), n).reshape(orders.shape)
    except ValueError as error:  # name the run and epoch rather than the flattened row
        if runs == 1 or "row" not in str(error):
            raise
        row = int(str(error).split("row ")[1].split()[0])
        raise ValueError(f"order[{row // orders.shape[1]}] row {row % orders.shape[1]} is not a permutation of "
                         f"0..{n - 1}") from None
    return checked, np.zeros(runs, dtype=np.uint64), orders.shape[1]


def sgd_train(X, y, W0, order, *, alpha, lr, eps, v=1.0, stop_early=False, dtype=np.float64,
              loss_at=None, delayed_steps=None) -> TrainingResult:
    """Train with per-sample SGD over the visiting orders ``order`` (epochs, n), or
    ``SeededOrders(seed, epochs)`` to draw them in the kernel (kernels.orders).

    X (n, d), y (n,) in {+1, -1}, W0 (2k, d): rows 0..k-1 positive neurons, k..2k-1
    negative (THEORY.md §1). Runs every epoch of ``order`` unless ``stop_early``, which
    stops once E_clean and E_conv (THEORY.md §2) are both reached, or the loss becomes
    non-finite (``diverged``). ``dtype`` float64 (default) or float32 for X and W.
    ``loss_at``, ``delayed_steps``: see ``SGDTrainer``. Fully determined by its arguments. Raises
    ValueError naming a bad argument.
    """
    trainer = SGDTrainer(X, y, W0, alpha=alpha, lr=lr, eps=eps, v=v, stop_early=stop_early, dtype=dtype,
                         loss_at=loss_at, delayed_steps=delayed_steps)
    trainer.run_block(order)
    return trainer.result()
