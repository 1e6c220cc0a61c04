"""Many SGD runs on one training set in one call (THEORY.md §1-2).

``sgd_train_many`` is the public entry point; ``batch_trainer`` gives the same cut into
blocks of epochs (snapshots of every run's W between blocks), as ``SGDTrainer`` is for
one run: a LanesTrainer or a RunByRunTrainer. Runs share X and y and the network's shape; each has its own W0, visiting
orders, alpha, lr, eps and v, and its own E_clean, E_conv, divergence and early stop.
Every run's W, losses and counts are those of its own ``sgd_train`` call, bit for bit.

Small networks (``kernels.sgd.trains_in_canonical_order``) train as lanes when there are
enough runs (``trains_as_lanes``): one run per SIMD lane (kernels.sgd_lanes), in the canonical order the
per-run kernel also uses for them. A run that finishes (stop_early, or diverged) leaves
the lanes: the others are taken into narrower arrays, so it costs no more time.
Other networks, and fewer runs, train one run after the other with the per-run kernel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kernels.jit import jit
from kernels.orders import STREAM_WORDS, shuffle_epoch, shuffle_epoch_lanes
from kernels.sgd import (DIVERGED, E_CLEAN, E_CONV, EPOCHS_DONE, LOSS_BELOW_EPS, LOSS_EXACT, LOSS_FINITE,
                         LOSS_STOP_MARGIN, TAME_OUTPUT, VIOLATING_RUN, SGDTrainer, _max_abs, _max_row_l1, count_epoch,
                         initial_state, orders_argument, trains_in_canonical_order, violating_before_clean)
from kernels.sgd_lanes import (ALPHA, EPS, EXACT, IGNORE, LR, PARAMS, PROVE, V, Z_EPS, first_forward, gather_labels,
                               gather_points, lanes_loss, lanes_step, narrow_lanes_step)
from kernels.sgd_loops import NEURON_LANES
from kernels.validation import check_alpha, check_finite_positive, check_loss_at, check_training_inputs

# Runs from which a small network trains as lanes rather than run after run, for d <= 2
# (narrow_lanes_step) and d > 2 (measured: benchmarks/bench_batched.py --thresholds,
# benchmarks/README.md).
MIN_LANES = {"narrow": 16, "wide": 24}
# LLVM runs a loop over the lanes in SIMD only for its multiples of 32 (4 registers of 8
# doubles per iteration), the rest one lane at a time: the lanes are padded to such a
# multiple (benchmarks/README.md).
LANE_BLOCK = 32
# Points up to which the runs' visiting orders are drawn across lanes (shuffle_epoch_lanes):
# above, its words and orders, 16 n bytes per lane, outgrow the caches and run by run is
# faster (measured: benchmarks/bench_batched.py --orders, benchmarks/README.md).
LANES_SHUFFLE_POINTS = 512


def trains_as_lanes(runs: int, two_k: int, d: int, itemsize: int) -> bool:
    """Whether ``runs`` runs of a network (2k, d) with weights of ``itemsize`` bytes train
    as lanes (else one after the other with the per-run kernel)."""
    return trains_in_canonical_order(two_k, d, itemsize) and runs >= MIN_LANES[lane_layout(d)]


def lane_layout(d: int) -> str:
    """The lanes' step kernel for d features: "narrow" (d <= 2, ``narrow_lanes_step``) or
    "wide" (``lanes_step``)."""
    return "narrow" if d <= 2 else "wide"


@jit
def lanes_epochs(X, y, W, lane_run, params, W_out, seeds, orders, epochs, stop_early, state, loss_out,
                 loss_every_epoch, loss_at, snap_at, snaps):
    """Run up to ``epochs`` epochs of the runs in the lanes of W (2k, d, L).

    Lane l holds run lane_run[l], or, where lane_run[l] < 0, a copy of lane 0 that pads
    the lanes to a multiple of LANE_BLOCK (its results are not used); params (PARAMS, L)
    the lanes' parameters (kernels.sgd_lanes). Visiting orders: orders[run, e] if orders
    (R, epochs, n) has epochs, else drawn from seeds[run] (uint64, kernels.orders).
    state (R, 6) int64, loss_out (R, epochs) and snaps (R, len(snap_at), 2k, d) by run, as
    ``kernels.sgd.sgd_epochs`` has them for one run; every running run has run the same
    epochs. A run that finishes leaves the lanes, its W written to W_out[run] (R, 2k, d).
    Returns (W, lane_run, params) of the runs still running.
    """
    n, d = X.shape
    two_k = W.shape[0]
    real = np.flatnonzero(lane_run >= 0)
    if real.shape[0] == 0:
        return W, lane_run, params
    row_l1 = _max_row_l1(X)
    XT = np.ascontiguousarray(X.T)  # (d, n): a step gathers its points' features along rows
    stream = np.empty(STREAM_WORDS, dtype=np.uint64)
    row = np.empty(n, dtype=np.int64)
    done = state[lane_run[real[0]], EPOCHS_DONE]
    next_snap = 0
    while next_snap < snap_at.shape[0] and snap_at[next_snap] <= done:
        next_snap += 1
    next_loss = 0
    while next_loss < loss_at.shape[0] and loss_at[next_loss] <= done:
        next_loss += 1
    width = -1
    for e in range(epochs):
        lanes = W.shape[2]
        if lanes == 0:
            break
        if lanes != width:  # work arrays, one column per lane
            width = lanes
            permT = np.empty((n, lanes), dtype=np.int64)  # permT[t, l]: lane l's point at step t
            lane_seeds = np.zeros(lanes, dtype=np.uint64)
            words = np.empty((4 * ((n + 2) // 4) if n <= LANES_SHUFFLE_POINTS else 0, lanes), dtype=np.uint64)
            pre = np.empty((two_k, lanes), dtype=W.dtype)
            coef = np.empty(lanes, dtype=W.dtype)
            xs = np.empty((d, lanes), dtype=W.dtype)
            xn = np.empty((d, lanes), dtype=W.dtype)
            H = np.empty(lanes, dtype=W.dtype)
            y_lanes, steps, loss = np.empty(lanes), np.empty(lanes), np.empty(lanes)
            series, totals, proofs, stop_sums = np.empty(lanes), np.empty(lanes), np.empty(lanes), np.empty(lanes)
            sums = np.empty((NEURON_LANES, lanes))
            violating, exact = np.empty(lanes, dtype=np.int64), np.empty(lanes, dtype=np.bool_)
            role = np.empty(lanes, dtype=np.int8)
            running = np.empty(lanes, dtype=np.bool_)
            for l in range(lanes):
                stop_sums[l] = n * params[EPS, l] * (1.0 + LOSS_STOP_MARGIN)
        epoch = done + e + 1
        _epoch_orders(orders, e, seeds, epoch, lane_run, lane_seeds, words, row, permT, stream)
        violating[:] = 0
        gather_points(XT, permT[0], xs)
        first_forward(W, xs, pre, sums, params[ALPHA])
        for t in range(n):
            gather_labels(y, permT[t], y_lanes)
            gather_points(XT, permT[min(t + 1, n - 1)], xn)
            if d <= 2:
                narrow_lanes_step(W, pre, sums, xs, xn, y_lanes, params, steps, violating)
            else:
                lanes_step(W, pre, sums, xs, xn, y_lanes, params, steps, coef, violating)
            xs, xn = xn, xs
        wanted = next_loss < loss_at.shape[0] and loss_at[next_loss] == epoch
        if wanted:
            next_loss += 1
        computed = 0
        for l in range(lanes):
            run = lane_run[l]
            role[l] = IGNORE
            if run < 0:
                continue
            state[run, EPOCHS_DONE] = epoch
            count_epoch(state[run], epoch, violating[l])
            last = e == epochs - 1 or (stop_early and state[run, E_CLEAN] > 0 and state[run, E_CONV] > 0)
            need = LOSS_EXACT if loss_every_epoch or wanted or last else (
                LOSS_BELOW_EPS if state[run, E_CONV] < 0 else LOSS_FINITE)
            if need == LOSS_BELOW_EPS:
                role[l] = PROVE
            elif need == LOSS_EXACT or not _max_abs(W[:, :, l]) * (two_k * params[V, l] * row_l1) < TAME_OUTPUT:
                role[l] = EXACT
            computed += role[l] != IGNORE
        if padded_width(computed) == lanes:  # as many lanes as all of them: compute them all
            lanes_loss(X, y, W, params, role, stop_sums, H, sums, series, totals, proofs, loss, exact)
        elif computed > 0:
            _loss_of_some(X, y, W, params, role, stop_sums, loss, exact)
        snapshot = next_snap < snap_at.shape[0] and snap_at[next_snap] == epoch
        for l in range(lanes):
            run = lane_run[l]
            running[l] = False
            if run < 0:
                continue
            computed_here = role[l] != IGNORE  # else LOSS_FINITE and W tame: L_S is finite (sgd_epochs)
            value = loss[l] if computed_here else 0.0
            loss_out[run, e] = value if (computed_here and exact[l]) or not math.isfinite(value) else np.nan
            if value < params[EPS, l] and state[run, E_CONV] < 0:
                state[run, E_CONV] = epoch
            if snapshot:
                for j in range(two_k):
                    for f in range(d):
                        snaps[run, next_snap, j, f] = W[j, f, l]
            if not math.isfinite(value):
                state[run, DIVERGED] = 1
            running[l] = math.isfinite(value) and not (stop_early and state[run, E_CLEAN] > 0
                                                        and state[run, E_CONV] > 0)
            if not running[l]:
                for j in range(two_k):
                    for f in range(d):
                        W_out[run, j, f] = W[j, f, l]
        if snapshot:
            next_snap += 1
        remaining = 0
        for l in range(lanes):
            remaining += running[l]
        if padded_width(remaining) < lanes:  # narrower arrays
            keep = padded_lanes(np.flatnonzero(running))
            lane_run = np.where(np.arange(keep.shape[0]) < remaining, lane_run[keep], -1)
            W, params = _take_lanes(W, keep), _take_columns(params, keep)
        else:  # finished runs stay as padding
            for l in range(lanes):
                if not running[l]:
                    lane_run[l] = -1
    return W, lane_run, params


@jit
def _epoch_orders(orders, e, seeds, epoch, lane_run, lane_seeds, words, row, permT, stream):
    """permT[t, l]: the point lane l visits at step t of epoch ``epoch`` (1-based; e: its
    index in orders (R, epochs, n), when given, else each run's order drawn from its seed,
    kernels.orders.shuffle_epoch_lanes up to LANES_SHUFFLE_POINTS points, else run by run;
    work arrays lane_seeds (L,), words, row (n,)). A
    padding lane (lane_run < 0) visits the points in some order (its results are not used)."""
    n, lanes = permT.shape
    if orders.shape[1] == 0:
        for l in range(lanes):
            if lane_run[l] >= 0:
                lane_seeds[l] = seeds[lane_run[l]]
        if n <= LANES_SHUFFLE_POINTS:
            shuffle_epoch_lanes(lane_seeds, np.uint64(epoch), permT, words, stream)
            return
        for l in range(lanes):  # run by run, each order written into its column
            shuffle_epoch(lane_seeds[l], np.uint64(epoch), row, stream)
            for t in range(n):
                permT[t, l] = row[t]
        return
    for t in range(n):
        for l in range(lanes):
            run = lane_run[l]
            permT[t, l] = orders[run, e, t] if run >= 0 else t


@jit
def padded_width(count):
    """The lanes that ``count`` runs take: a multiple of LANE_BLOCK (0 for none)."""
    return -(-count // LANE_BLOCK) * LANE_BLOCK


@jit
def padded_lanes(which):
    """The lane indices ``which``, then which[0] repeated up to ``padded_width``."""
    out = np.full(padded_width(which.shape[0]), which[0] if which.shape[0] else 0, dtype=np.int64)
    out[:which.shape[0]] = which
    return out


@jit
def _loss_of_some(X, y, W, params, role, stop_sums, loss, exact):
    """``lanes_loss`` for the lanes whose role is not IGNORE, taken (and padded) into
    narrower arrays; the loss and exact of the others are left as they are."""
    which = np.flatnonzero(role != IGNORE)
    lanes = padded_lanes(which)
    count = lanes.shape[0]
    value, known = np.empty(count), np.empty(count, dtype=np.bool_)
    roles = role[lanes]
    roles[which.shape[0]:] = IGNORE
    lanes_loss(X, y, _take_lanes(W, lanes), _take_columns(params, lanes), roles, stop_sums[lanes],
               np.empty(count, dtype=W.dtype), np.empty((NEURON_LANES, count)), np.empty(count), np.empty(count),
               np.empty(count), value, known)
    for i in range(which.shape[0]):
        loss[which[i]], exact[which[i]] = value[i], known[i]


@jit
def _take_lanes(W, which):
    """W[:, :, which] as a new C-contiguous array."""
    out = np.empty((W.shape[0], W.shape[1], which.shape[0]), dtype=W.dtype)
    for j in range(W.shape[0]):
        for f in range(W.shape[1]):
            for i in range(which.shape[0]):
                out[j, f, i] = W[j, f, which[i]]
    return out


@jit
def _take_columns(A, which):
    """A[:, which] as a new C-contiguous array."""
    out = np.empty((A.shape[0], which.shape[0]), dtype=A.dtype)
    for p in range(A.shape[0]):
        for i in range(which.shape[0]):
            out[p, i] = A[p, which[i]]
    return out


@dataclass
class SGDBatchResult:
    """The outcome of R SGD runs, stacked: W (R, 2k, d); loss (R, epochs) with L_S after
    each epoch a run ran and NaN after its last (and, with ``loss_at``, where skipped);
    E_clean, E_conv, epochs_run (R,) int64, 1-based or -1; diverged (R,) bool;
    violating_steps, violating_steps_run (R,) int64 as ``kernels.sgd.TrainingResult``."""

    W: np.ndarray
    loss: np.ndarray
    E_clean: np.ndarray
    E_conv: np.ndarray
    epochs_run: np.ndarray
    diverged: np.ndarray
    violating_steps: np.ndarray
    violating_steps_run: np.ndarray


def _per_run(name: str, value, runs: int) -> np.ndarray:
    """A number or one per run, as a float64 (runs,) array, each value checked (alpha in
    [0, 1), the others finite and > 0); ValueError naming the first bad one."""
    values = np.asarray(value, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(runs, values)
    if values.shape != (runs,):
        raise ValueError(f"{name} must be a number or an array of one per run ({runs}), got shape {values.shape}")
    good = (values >= 0.0) & (values < 1.0) if name == "alpha" else np.isfinite(values) & (values > 0.0)
    if not good.all():
        bad = values[np.argmin(good)]
        check_alpha(bad) if name == "alpha" else check_finite_positive(name, bad)
    return values


def _reached(snap_at, before, after):
    """(R, len(snap_at)) bool: snapshot epoch reached in this block, per run."""
    return (snap_at[None, :] > before[:, None]) & (snap_at[None, :] <= after[:, None])


@dataclass
class BatchTrainer:
    """R SGD runs on one training set, advanced block by block of epochs (THEORY.md §1):
    what LanesTrainer and RunByRunTrainer share (``batch_trainer`` picks one).

    X (n, d), y (n,); W0s (R, 2k, d); alpha, lr, eps, v: numbers, or arrays of one per
    run. ``loss_at`` as for ``SGDTrainer`` (the same for every run). Each ``run_block``
    continues every unfinished run from where it stopped; a run's results are those of
    its own ``SGDTrainer`` fed the same blocks. Raises ValueError naming a bad argument.
    """

    X: np.ndarray
    y: np.ndarray
    W0s: np.ndarray
    alpha: object
    lr: object
    eps: object
    v: object = 1.0
    stop_early: bool = False
    dtype: type = np.float64
    loss_at: np.ndarray | None = None

    def __post_init__(self):
        W0s = np.asarray(self.W0s)
        if W0s.ndim != 3 or W0s.shape[0] < 1:
            raise ValueError(f"W0s must be an array (runs, 2k, d) with at least one run, got shape {W0s.shape}")
        self.runs = W0s.shape[0]
        alpha, lr, eps, v = (_per_run(name, getattr(self, name), self.runs) for name in ("alpha", "lr", "eps", "v"))
        self.X, self.y, _ = check_training_inputs(self.X, self.y, W0s[0], alpha[0], self.dtype)
        if not np.all(np.isfinite(W0s)):
            raise ValueError("W0s must be finite")
        self._loss_at = np.empty(0, dtype=np.int64) if self.loss_at is None else check_loss_at(self.loss_at)
        self._start(W0s, alpha, lr, eps, v)

    def run_block(self, orders, snapshot_at=()):
        """Run the epochs of ``orders`` for every unfinished run; return snapshots of W.

        ``orders``: visiting orders (R, m, n), or ``SeededOrders(seeds, m)`` with one seed
        per run. ``snapshot_at``: ascending global 1-based epochs. Returns (snaps, reached):
        snaps (R, len(snapshot_at), 2k, d) holds W after each of those epochs that the run
        reached in this block, where reached (R, len(snapshot_at)) is True.
        """
        order, seeds, epochs = orders_argument(orders, self.runs, self.X.shape[0])
        snap_at = np.asarray(snapshot_at, dtype=np.int64)
        before = self.epochs_run
        snaps = self._run_block(orders, order, seeds, epochs, snap_at, before)
        return snaps, _reached(snap_at, before, self.epochs_run)


class LanesTrainer(BatchTrainer):
    """The runs of a small network, one per SIMD lane (kernels.sgd_lanes), in the
    canonical order; a run that finishes leaves the lanes (``lanes_epochs``)."""

    def _start(self, W0s, alpha, lr, eps, v):
        lanes = padded_lanes(np.arange(self.runs))  # (lanes_epochs)
        self._W = np.ascontiguousarray(np.moveaxis(W0s.astype(self.X.dtype)[lanes], 0, -1))  # (2k, d, lanes)
        self._W_out = np.empty(W0s.shape, dtype=self.X.dtype)  # W of the runs that left the lanes
        self._lane_run = np.where(np.arange(lanes.size) < self.runs, lanes, -1)
        self._params = np.empty((PARAMS, lanes.size))
        self._params[ALPHA], self._params[V], self._params[LR], self._params[EPS] = (
            alpha[lanes], v[lanes], lr[lanes], eps[lanes])
        self._params[Z_EPS] = [-math.log(math.expm1(e)) for e in eps[lanes]]  # as SGDTrainer
        self._state = np.tile(initial_state(), (self.runs, 1))
        self._loss_blocks = []  # (R, epochs) per block, NaN after a run's end

    @property
    def layout(self) -> str:
        """"lanes narrow" or "lanes wide" (``lane_layout``)."""
        return f"lanes {lane_layout(self.X.shape[1])}"

    @property
    def finished(self) -> np.ndarray:
        """(R,) bool: the run diverged or, with stop_early, reached both counts."""
        s = self._state
        return (s[:, DIVERGED] > 0) | (self.stop_early & (s[:, E_CLEAN] > 0) & (s[:, E_CONV] > 0))

    @property
    def epochs_run(self) -> np.ndarray:
        """(R,) int64: epochs each run has run."""
        return self._state[:, EPOCHS_DONE].copy()

    def _run_block(self, orders, order, seeds, epochs, snap_at, before):
        two_k, d, _ = self._W.shape
        snaps = np.full((self.runs, snap_at.shape[0], two_k, d), np.nan, dtype=self._W.dtype)
        loss = np.full((self.runs, epochs), np.nan)
        self._W, self._lane_run, self._params = lanes_epochs(
            self.X, self.y, self._W, self._lane_run, self._params, self._W_out, seeds, order, epochs, self.stop_early,
            self._state, loss, self.loss_at is None, self._loss_at, snap_at, snaps)
        self._loss_blocks.append(loss)  # the block's epochs are the same for every run that ran in it
        return snaps

    def result(self) -> SGDBatchResult:
        W = self._W_out.copy()
        running = self._lane_run >= 0
        W[self._lane_run[running]] = np.moveaxis(self._W, -1, 0)[running]
        s = self._state
        width = int(s[:, EPOCHS_DONE].max())
        loss = np.concatenate(self._loss_blocks, axis=1)[:, :width] if self._loss_blocks else np.empty((self.runs, 0))
        return SGDBatchResult(W=W, loss=loss, E_clean=s[:, E_CLEAN].copy(), E_conv=s[:, E_CONV].copy(),
                              epochs_run=s[:, EPOCHS_DONE].copy(), diverged=s[:, DIVERGED] > 0,
                              violating_steps=violating_before_clean(s), violating_steps_run=s[:, VIOLATING_RUN].copy())


class RunByRunTrainer(BatchTrainer):
    """The runs one after the other, each with its own ``SGDTrainer`` (one copy of X^T
    shared by their loss passes)."""

    def _start(self, W0s, alpha, lr, eps, v):
        XT = np.ascontiguousarray(self.X.T)
        self._trainers = [SGDTrainer(self.X, self.y, W0s[r], alpha=alpha[r], lr=lr[r], eps=eps[r], v=v[r],
                                     stop_early=self.stop_early, dtype=self.dtype, loss_at=self.loss_at,
                                     shared_XT=XT)
                          for r in range(self.runs)]

    @property
    def layout(self) -> str:
        """"run by run" (each run in its ``SGDTrainer.layout``)."""
        return "run by run"

    @property
    def finished(self) -> np.ndarray:
        return np.array([t.finished for t in self._trainers])

    @property
    def epochs_run(self) -> np.ndarray:
        return np.array([t.epochs_run for t in self._trainers], dtype=np.int64)

    def _run_block(self, orders, order, seeds, epochs, snap_at, before):
        from kernels.orders import SeededOrders

        snaps = None
        for r, trainer in enumerate(self._trainers):
            block = SeededOrders(int(seeds[r]), epochs) if isinstance(orders, SeededOrders) else order[r]
            taken = trainer.run_block(block, snap_at)
            if snaps is None:
                snaps = np.full((self.runs, snap_at.shape[0]) + trainer.W.shape, np.nan, dtype=trainer.W.dtype)
            first = np.count_nonzero(snap_at <= before[r])
            snaps[r, first:first + taken.shape[0]] = taken
        return snaps

    def result(self) -> SGDBatchResult:
        results = [t.result() for t in self._trainers]
        width = max((len(r.loss) for r in results), default=0)
        loss = np.full((self.runs, width), np.nan)
        for r, result in enumerate(results):
            loss[r, :len(result.loss)] = result.loss
        counts = {name: np.array([getattr(r, name) for r in results], dtype=np.int64)
                  for name in ("E_clean", "E_conv", "epochs_run", "violating_steps", "violating_steps_run")}
        return SGDBatchResult(W=np.stack([r.W for r in results]), loss=loss, **counts,
                              diverged=np.array([r.diverged for r in results]))


def batch_trainer(X, y, W0s, *, alpha, lr, eps, v=1.0, stop_early=False, dtype=np.float64,
                  loss_at=None) -> BatchTrainer:
    """The trainer of R runs (``BatchTrainer``'s arguments): LanesTrainer when they
    ``trains_as_lanes``, else RunByRunTrainer."""
    W0s = np.asarray(W0s)
    lanes = W0s.ndim == 3 and trains_as_lanes(W0s.shape[0], W0s.shape[1], W0s.shape[2], np.dtype(dtype).itemsize)
    kind = LanesTrainer if lanes else RunByRunTrainer
    return kind(X, y, W0s, alpha=alpha, lr=lr, eps=eps, v=v, stop_early=stop_early, dtype=dtype, loss_at=loss_at)


def sgd_train_many(X, y, W0s, orders, *, alpha, lr, eps, v=1.0, stop_early=False, dtype=np.float64,
                   loss_at=None) -> SGDBatchResult:
    """Train R runs of per-sample SGD on one training set (THEORY.md §1-2).

    X (n, d), y (n,) in {+1, -1}; W0s (R, 2k, d); ``orders``: visiting orders (R, epochs,
    n), or ``SeededOrders(seeds, epochs)`` (kernels.orders) with one seed per run to draw
    them in the kernel. alpha, lr, eps, v: numbers, or arrays with one value per run.
    Each run is exactly ``sgd_train(X, y, W0s[r], orders[r], ...)`` with its own values,
    bit for bit (``dtype`` float64 or float32), stopping on its own. Raises ValueError
    naming a bad argument.
    """
    trainer = batch_trainer(X, y, W0s, alpha=alpha, lr=lr, eps=eps, v=v, stop_early=stop_early, dtype=dtype,
                            loss_at=loss_at)
    trainer.run_block(orders)
    return trainer.result()
