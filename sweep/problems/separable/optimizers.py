"""The optimiser registry: how the weights of runs on one training set are trained.

Each entry takes the training set, the runs' W0s (R, 2k, d) and parameters (equal but for
``params.RUN_FIELDS``), the epochs at which to hand W to ``on_snapshot(run, epoch, W)``,
and returns one :class:`kernels.sgd.TrainingResult` per run (W, loss per epoch, E_clean, E_conv,
epochs_run, diverged; GD has no E_clean: -1). A run's trajectory depends on its own
parameters only, not on the other runs. Which of them Theorem 4.1 (THEORY.md §2) bounds:
``params.BOUNDED_OPTIMIZERS``.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

import numpy as np

from kernels.gd import gd_train
from kernels.network import dataset_loss
from kernels.orders import SeededOrders
from kernels.sgd import TrainingResult
from kernels.sgd_batched import batch_trainer
from sweep.problems.separable.variables import recorded_epochs

if TYPE_CHECKING:
    from sweep.problems.separable.params import SeparableParams

SNAPSHOTS_PER_BLOCK = 16  # snapshot epochs per kernel call, which holds W at each for every run


Snapshot = Callable[[int, int, np.ndarray], None]
Train = Callable[[np.ndarray, np.ndarray, np.ndarray, "list[SeparableParams]", np.ndarray, Snapshot],
                 "list[TrainingResult]"]


def train_sgd(X, y, W0s, ps: list[SeparableParams], snapshot_at: np.ndarray, on_snapshot: Snapshot) -> list[TrainingResult]:
    """Per-sample SGD, a fresh uniformly random order each epoch (THEORY.md §1), for all
    runs in batched kernel calls (kernels.sgd_batched.batch_trainer).

    Epoch e of a run visits the points in the order ``kernels.orders.seeded_orders(seed, ...)``
    draws for its ``seed`` (drawn in the kernel): the run depends on its own parameters
    only, not on the block sizes nor on the other runs. The loss is computed exactly at
    the recorded epochs (``variables.recorded_epochs``) and the last; elsewhere the kernel
    only settles E_conv, which is most of the time much cheaper.
    """
    first = ps[0]  # max_epochs, stop_early and dtype are the same for every run (batch_key)
    trainer = batch_trainer(X, y, W0s, alpha=[p.alpha for p in ps], lr=[p.lr for p in ps],
                              eps=[p.eps for p in ps], v=[p.v for p in ps], stop_early=first.stop_early,
                              dtype=np.dtype(first.dtype).type, loss_at=recorded_epochs(first.max_epochs))
    seeds = [p.seed for p in ps]
    done = 0
    while done < first.max_epochs and not trainer.finished.all():
        later = snapshot_at[snapshot_at > done]
        stop = first.max_epochs if later.size <= SNAPSHOTS_PER_BLOCK else int(later[SNAPSHOTS_PER_BLOCK - 1])
        wanted = later[later <= stop]
        snaps, reached = trainer.run_block(SeededOrders(seeds, stop - done), wanted)
        for run, column in zip(*np.nonzero(reached)):
            on_snapshot(int(run), int(wanted[column]), snaps[run, column])
        done = stop
    result = trainer.result()
    return [TrainingResult(W=result.W[r], loss=result.loss[r, :result.epochs_run[r]], E_clean=int(result.E_clean[r]),
                           E_conv=int(result.E_conv[r]), epochs_run=int(result.epochs_run[r]),
                           diverged=bool(result.diverged[r]), violating_steps=int(result.violating_steps[r]),
                           violating_steps_run=int(result.violating_steps_run[r])) for r in range(len(ps))]


def train_gd(X, y, W0s, ps: list[SeparableParams], snapshot_at: np.ndarray, on_snapshot: Snapshot,
             normalised: bool = False) -> list[TrainingResult]:
    """Full-batch GD, one step per epoch (the gradient-flow approximation, THEORY.md §4),
    run after run.

    With ``normalised`` each step is lr grad L_S / L_S (loss-normalised GD: the same path,
    re-parametrised in time, reaching the flow's limit direction far sooner, THEORY.md §4).
    E_conv is the first step after which L_S < eps. E_clean is an SGD notion: -1, so
    stop_early never applies. Deterministic: ``seed`` is unused.
    """
    return [_train_gd_one(X, y, W0, p, snapshot_at, lambda epoch, W, run=run: on_snapshot(run, epoch, W),
                          normalised) for run, (W0, p) in enumerate(zip(W0s, ps))]


def _train_gd_one(X, y, W0, p: SeparableParams, snapshot_at: np.ndarray, on_snapshot, normalised: bool) -> TrainingResult:
    """One run of ``train_gd``; on_snapshot(epoch, W)."""
    W, log_before, done = W0, [], 0
    for stop in np.union1d(snapshot_at, [p.max_epochs]):
        W, log_loss = gd_train(X, y, W, alpha=p.alpha, lr=p.lr, steps=int(stop) - done, v=p.v,
                               normalised=normalised, dtype=np.dtype(p.dtype).type)
        log_before.append(log_loss)
        done += log_loss.size
        if done < stop:
            break  # the loss became non-finite
        if stop in snapshot_at:
            on_snapshot(int(stop), W)
    # gd_train reports the loss before each step; the loss after step t is the one before t + 1
    loss_before = np.exp(np.concatenate(log_before))
    loss = np.append(loss_before[1:], dataset_loss(W, X.astype(W.dtype), y, p.alpha, p.v))
    below = np.flatnonzero(loss < p.eps)
    return TrainingResult(W=W, loss=loss, E_clean=-1, E_conv=int(below[0]) + 1 if below.size else -1,
                     epochs_run=done, diverged=bool(done < p.max_epochs or not np.isfinite(loss[-1])))


OPTIMIZERS: dict[str, Train] = {
    "sgd": train_sgd,
    "gd": train_gd,
    "gd_normalised": functools.partial(train_gd, normalised=True),
}
