"""One run of the ``separable`` problem, end to end: data, margin, init, training, bound, metrics.

``train_one(params)`` is one run; ``train_many(params_list)`` trains many, those on one
data set together (what a sweep task calls, through ``Problem.run_many``). Both are
deterministic: the same parameters give bit-identical results in any process, alone or
with any other runs.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import xarray as xr
from scipy.special import gammaln

from kernels.metrics import training_metrics
from kernels.network import dataset_loss, network_output
from kernels.sgd import TrainingResult
from sweep.problems.replay import Replay
from sweep.problems.results import RunResult
from sweep.problems.separable.datasets import DataSet, make_dataset
from sweep.problems.separable.margin import NotSeparableError, svm_margin
from sweep.problems.separable.optimizers import OPTIMIZERS
from sweep.problems.separable.params import BOUNDED_OPTIMIZERS, SeparableParams
from sweep.problems.separable.potential_bound import (epochs_bound_potential, epochs_bound_potential_instance,
                                                      violating_steps_bound)
from sweep.problems.separable.theory import (BoundOverflowError, epoch_bound, epoch_bound_instance, progress_measures,
                                             teacher_stack)
from sweep.problems.separable.variables import (CURVES, EPOCH, FEATURE, METRICS, NEURON, WEIGHT_HISTORY, WEIGHTS,
                                                recorded_epochs)
from sweep.problems.separable.worst_case import dead_row_depth, dead_row_weights


def init_weights(width: int, d: int, init_scale: float, seed: int, dtype=np.float64) -> np.ndarray:
    """W0 (2*width, d): Gaussian rows scaled so that E||row|| = init_scale (THEORY.md §1).

    For rows ~ N(0, sigma^2 I_d), E||row|| = sigma sqrt(2) Gamma((d+1)/2) / Gamma(d/2).
    Drawn from ``default_rng([seed, 0])``.
    """
    mean_norm_per_sigma = np.sqrt(2.0) * np.exp(gammaln((d + 1) / 2.0) - gammaln(d / 2.0))
    rng = np.random.default_rng([seed, 0])
    return (rng.standard_normal((2 * width, d)) * (init_scale / mean_norm_per_sigma)).astype(dtype)


def _dead_rows(p: SeparableParams, d: int, dtype) -> np.ndarray:
    depth = dead_row_depth(k=p.width, alpha=p.alpha, v=p.v, lr=p.lr, eps=p.eps)
    return dead_row_weights(p.width, d, depth, dtype)


# W0 of a run by its ``init`` (the names of params.INITS): f(params, d, dtype) -> (2k, d).
INITS = {
    "gaussian": lambda p, d, dtype: init_weights(p.width, d, p.init_scale, p.seed, dtype),
    "dead_rows": _dead_rows,  # BOUND.md Prop. 7 (worst_case.py)
}


def initial_weights(p: SeparableParams, d: int, dtype=np.float64) -> np.ndarray:
    """W0 of the run ``p`` on d features: ``INITS[p.init]`` (THEORY.md §1, BOUND.md Prop. 7)."""
    return INITS[p.init](p, d, dtype)


def accuracy(W: np.ndarray, X: np.ndarray, y: np.ndarray, alpha: float, v: float) -> float:
    """Share of points with sign N_W(x) = y (N_W(x) = 0 counts as wrong)."""
    return float(np.mean(np.sign(network_output(X.astype(W.dtype), W, alpha, v)) == y))


def _bound_or_inf(bound, **arguments) -> float:
    """The bound in epochs as a float; inf when it exceeds the float range."""
    try:
        return float(bound(**arguments))
    except BoundOverflowError:
        return np.inf


def train_one(params: SeparableParams | Mapping[str, Any]) -> RunResult:
    """Build the data and the init from ``params``, train, and measure (THEORY.md §1-2).

    Returns the value of every variable of ``variables.SCALARS`` and ``CURVES`` (curves
    over ``recorded_epochs(max_epochs)``, fill where not reached) and, with
    ``save_weights``, the final W (2k, d), with ``save_weight_history`` W at every
    recorded epoch (epochs, 2k, d; NaN where not reached). The bounds: Theorem 4.1's
    (THEORY.md §2) and the certified potential bounds (§2.1), on E_clean and, at the steps
    run, on the violating steps. Raises ParamError for bad parameters. A
    non-separable data set trains as usual but has margin_s and every bound NaN. A
    diverged run (non-finite loss) gets status 'diverged'. The same as
    ``train_many([params])[0]``.
    """
    return train_many([params])[0]


def train_many(params_list: Sequence[SeparableParams | Mapping[str, Any]]) -> list[RunResult]:
    """``train_one`` of each params, in order: runs with equal ``batch_key`` share their
    data set, its SVM margin and batched kernel calls. Every result is bit-identical to
    the run's own ``train_one`` (the kernels' contract), whatever the other runs.
    Raises ParamError for bad parameters (then nothing is trained)."""
    ps = [p if isinstance(p, SeparableParams) else SeparableParams.from_mapping(p) for p in params_list]
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(ps):
        groups.setdefault(p.batch_key(), []).append(i)
    results: list[RunResult | None] = [None] * len(ps)
    for indices in groups.values():
        for i, result in zip(indices, _train_group([ps[i] for i in indices])):
            results[i] = result
    return results


def replay(params: SeparableParams | Mapping[str, Any]) -> Replay:
    """``train_one(params)`` (the same RunResult) with the run's trajectory: W (``neuron`` x
    ``feature``), the training loss L_S(W) (computed from W) and every metric of
    ``variables.METRICS`` at every epoch from 0 (W0) to the last one trained (THEORY.md
    §1-4). Holds W at every epoch: epochs_run x 2k x d numbers."""
    p = params if isinstance(params, SeparableParams) else SeparableParams.from_mapping(params)
    snapshots: dict[int, np.ndarray] = {}
    result = _train_group([p], follow=lambda run, epoch, W: snapshots.setdefault(epoch, np.array(W)))[0]
    data = make_dataset(p)
    W0 = initial_weights(p, data.X.shape[1], np.dtype(p.dtype).type)
    epochs = np.array([0, *sorted(snapshots)], dtype=np.int64)
    Ws = np.stack([W0, *(snapshots[epoch] for epoch in epochs[1:])])
    metrics = np.full((len(METRICS), epochs.size), np.nan)
    for column, W in enumerate(Ws):
        training_metrics(W, data.X, data.y, data.X_test, metrics[:, column])
    loss = np.array([dataset_loss(W, data.X.astype(W.dtype), data.y, p.alpha, p.v) for W in Ws])
    curve = {"dims": (EPOCH,), "coords": {EPOCH: epochs}}
    trajectory = xr.Dataset(
        {"W": xr.DataArray(Ws.astype(np.float64), dims=(EPOCH, NEURON, FEATURE), coords={EPOCH: epochs},
                           attrs={"long_name": "first-layer weights W (2k, d); rows 0..k-1 positive neurons"}),
         "loss": xr.DataArray(loss, **curve, attrs={"units": "nats", "long_name": "training loss L_S(W)"}),
         **{v.name: xr.DataArray(row, **curve, attrs=v.all_attrs()) for v, row in zip(METRICS, metrics)}})
    trajectory[EPOCH].attrs = {"units": "epochs", "long_name": "epochs trained (0 = W0)"}
    return Replay(result, trajectory)


Follow = Callable[[int, int, np.ndarray], None]


def _train_group(ps: list[SeparableParams], follow: Follow | None = None) -> list[RunResult]:
    """Runs with one ``batch_key``: one data set, one margin, one optimiser call.
    ``follow(run, epoch, W)``, if given, sees W after every epoch (the results do not change)."""
    first = ps[0]
    data: DataSet = make_dataset(first)
    X, y = data.X, data.y
    n, d = X.shape
    R_x = float(np.max(np.linalg.norm(X, axis=1)))
    dtype = np.dtype(first.dtype).type
    W0s = np.stack([initial_weights(p, d, dtype) for p in ps])

    epochs = recorded_epochs(first.max_epochs)
    metrics = np.full((len(ps), len(METRICS), epochs.size), np.nan)
    history = np.full((len(ps), epochs.size, *W0s.shape[1:]), np.nan) if first.save_weight_history else None
    column = {int(e): i for i, e in enumerate(epochs)}

    def measure(run: int, epoch: int, W: np.ndarray) -> None:
        if epoch in column and first.record_metrics:
            training_metrics(W, X, y, data.X_test, metrics[run, :, column[epoch]])
        if epoch in column and history is not None:
            history[run, column[epoch]] = W
        if follow is not None:
            follow(run, epoch, W)

    snapshot_at = epochs if first.record_metrics or first.save_weight_history else epochs[:0]
    if follow is not None:
        snapshot_at = np.arange(1, first.max_epochs + 1)
    trajectories = OPTIMIZERS[first.optimizer](X, y, W0s, ps, snapshot_at, measure)

    try:
        svm = svm_margin(X, y)
    except NotSeparableError:
        svm = None
    return [_result(p, traj, W0, metrics[run], None if history is None else history[run], epochs, data, svm,
                    first.optimizer in BOUNDED_OPTIMIZERS, R_x)
            for run, (p, traj, W0) in enumerate(zip(ps, trajectories, W0s))]


def _result(p: SeparableParams, traj: TrainingResult, W0: np.ndarray, metrics: np.ndarray, history: np.ndarray | None,
            epochs: np.ndarray, data: DataSet, svm, bounded: bool, R_x: float) -> RunResult:
    """One run's RunResult: its counts, curves, bounds and final measures."""
    X, y = data.X, data.y
    n = X.shape[0]
    R_0 = float(np.max(np.linalg.norm(W0.astype(np.float64), axis=1)))
    curves = {v.name: np.full(epochs.size, v.fill, dtype=v.dtype) for v in CURVES}
    reached = epochs[epochs <= traj.loss.size]
    curves["loss"][: reached.size] = traj.loss[reached - 1]
    curves.update(zip((v.name for v in METRICS), metrics))

    bounds = dict.fromkeys(("epochs_bound", "epochs_bound_instance", "epochs_bound_potential",
                            "epochs_bound_potential_instance", "violating_steps_bound"), np.nan)
    if svm is not None and bounded and p.alpha > 0:
        step = dict(k=p.width, alpha=p.alpha, v=p.v, lr=p.lr, eps=p.eps, s=svm.s, R_x=R_x)
        F0, G0 = progress_measures(W0.astype(np.float64), teacher_stack(svm.w, p.width))
        bounds = {
            "epochs_bound": _bound_or_inf(epoch_bound, n=n, **step, R_0=R_0),
            "epochs_bound_instance": _bound_or_inf(epoch_bound_instance, n=n, **step, F0=F0, G0=G0),
            "epochs_bound_potential": _bound_or_inf(epochs_bound_potential, n=n, **step, R_0=R_0),
            "epochs_bound_potential_instance": _bound_or_inf(epochs_bound_potential_instance, n=n, **step, F0=F0,
                                                             G0=G0),
            "violating_steps_bound": _bound_or_inf(violating_steps_bound, **step, R_0=R_0, steps=n * traj.epochs_run),
        }

    if traj.diverged:
        status = "diverged"
    elif (traj.E_clean > 0 or not bounded) and traj.E_conv > 0:
        status = "done"
    else:
        status = "max_epochs"
    W = traj.W
    values = {
        "epochs_clean": traj.E_clean,
        "epochs_conv": traj.E_conv,
        **bounds,
        "violating_steps": traj.violating_steps,
        "violating_steps_run": traj.violating_steps_run,
        "epochs_run": traj.epochs_run,
        "final_loss": float(traj.loss[-1]) if traj.loss.size else np.nan,
        "train_acc": accuracy(W, X, y, p.alpha, p.v),
        "test_acc": accuracy(W, data.X_test, data.y_test, p.alpha, p.v),
        "margin_s": svm.s if svm is not None else np.nan,
        "R_x": R_x,
        "R_0": R_0,
        **curves,
    }
    if p.save_weights:
        values[WEIGHTS.name] = W
    if history is not None:
        values[WEIGHT_HISTORY.name] = history
    return RunResult(status=status, values=values)
