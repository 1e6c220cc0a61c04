"""The optimiser registry: how one run's weights are trained.

Each entry takes the training set, W0, the run parameters, a seed for its own
randomness, the epochs at which to hand W to ``on_snapshot(epoch, W)``, and returns a
:class:`kernels.SGDResult` (W, loss per epoch, E_clean, E_conv, epochs_run, diverged; GD has
no E_clean: -1). ``bounded`` says whether Theorem 4.1 (THEORY.md §2) applies.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from kernels import SGDResult, SGDTrainer, dataset_loss, gd_train
from sweep.problems.separable.variables import recorded_epochs

if TYPE_CHECKING:
    from sweep.problems.separable.params import SeparableParams

ORDER_BLOCK_MIN = 64           # epochs of visiting orders drawn at a time ...
ORDER_BLOCK_MAX_INTS = 1 << 22  # ... growing with the run, up to this many indices


Snapshot = Callable[[int, np.ndarray], None]


@dataclass(frozen=True)
class Optimizer:
    train: Callable[[np.ndarray, np.ndarray, np.ndarray, SeparableParams, int, np.ndarray, Snapshot], SGDResult]
    bounded: bool  # Theorem 4.1 bounds its E_clean


def train_sgd(X, y, W0, p: SeparableParams, seed: int, snapshot_at: np.ndarray, on_snapshot: Snapshot) -> SGDResult:
    """Per-sample SGD, a fresh uniformly random order each epoch (THEORY.md §1).

    Orders are drawn in blocks from ``default_rng([seed, 1])``: the run depends on the
    seed only, not on the block sizes. The loss is computed exactly at the recorded
    epochs (``schema.recorded_epochs``) and the last; elsewhere the kernel only settles
    E_conv, which is most of the time much cheaper.
    """
    n = X.shape[0]
    rng = np.random.default_rng([seed, 1])
    trainer = SGDTrainer(X, y, W0, alpha=p.alpha, lr=p.lr, eps=p.eps, v=p.v, stop_early=p.stop_early,
                         dtype=np.dtype(p.dtype).type, loss_at=recorded_epochs(p.max_epochs))
    while trainer.epochs_run < p.max_epochs and not trainer.finished:
        done = trainer.epochs_run
        block = min(max(ORDER_BLOCK_MIN, done // 4, 1), p.max_epochs - done, max(ORDER_BLOCK_MAX_INTS // n, 1))
        order = rng.permuted(np.tile(np.arange(n, dtype=np.int64), (block, 1)), axis=1)
        wanted = snapshot_at[(snapshot_at > done) & (snapshot_at <= done + block)]
        for epoch, W in zip(wanted, trainer.run_block(order, wanted)):
            on_snapshot(int(epoch), W)
    return trainer.result()


def train_gd(X, y, W0, p: SeparableParams, seed: int, snapshot_at: np.ndarray, on_snapshot: Snapshot,
             normalised: bool = False) -> SGDResult:
    """Full-batch GD, one step per epoch (the gradient-flow approximation, THEORY.md §4).

    With ``normalised`` each step is lr grad L_S / L_S (loss-normalised GD: the same path,
    re-parametrised in time, reaching the flow's limit direction far sooner, THEORY.md §4).
    E_conv is the first step after which L_S < eps. E_clean is an SGD notion: -1, so
    stop_early never applies. Deterministic: ``seed`` is unused.
    """
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
    return SGDResult(W=W, loss=loss, E_clean=-1, E_conv=int(below[0]) + 1 if below.size else -1,
                      epochs_run=done, diverged=bool(done < p.max_epochs or not np.isfinite(loss[-1])))


OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": Optimizer(train=train_sgd, bounded=True),
    "gd": Optimizer(train=train_gd, bounded=False),
    "gd_normalised": Optimizer(train=functools.partial(train_gd, normalised=True), bounded=False),
}
