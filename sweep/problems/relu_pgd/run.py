"""One run of the ``relu_pgd`` problem, end to end: teacher and data, PGD, measures (THEORY.md §6.1).

``run(params)`` is one run; ``run_many(params)`` runs of one ``batch_key`` together (what
a sweep task calls, through ``Problem.run_many``), each result ``run``'s. It is deterministic:
the same parameters give bit-identical results in any process.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from kernels.pgd import pgd_relu_many
from kernels.projections import projection_code
from sweep.problems.replay import Replay, recorded_along
from sweep.problems.results import RunResult
from sweep.problems.relu_pgd.data import Instances, make_instances, relu_labels
from sweep.problems.relu_pgd.params import ReluPGDParams
from sweep.problems.relu_pgd.variables import CURVES, ITERATION
from sweep.problems.relu_pgd.theory import (DIVERGENCE_FACTOR, SUCCESS_TOLERANCE, contraction_factors, first_success,
                                            inside_envelope, n0_hat)

BATCH_BYTES = 16 * 2**20  # the inputs (X and X_test, float64) of the runs drawn and trained in one kernel call


def projection_levels(constraints: Sequence[str], w_star: np.ndarray) -> np.ndarray:
    """The level of K = {w : R(w) <= R(w*)} of each run of a batch (w_star: (R, d)): s =
    ||w*||_0 for l0, ||w*||_1 for l1, unused (0) for none."""
    constraints = np.asarray(constraints)
    return np.where(constraints == "l0", np.count_nonzero(w_star, axis=-1),
                    np.where(constraints == "l1", np.abs(w_star).sum(axis=-1), 0.0))


def projection_level(constraint: str, w_star: np.ndarray) -> float:
    """:func:`projection_levels` of one run."""
    return float(projection_levels([constraint], w_star[None])[0])


def relative_test_error(w: np.ndarray, w_star: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """sum (relu(<w, x>) - relu(<w*, x>))^2 / sum relu(<w*, x>)^2 over the rows of X_test, of
    each run of a batch (w, w_star: (R, d), X_test: (R, n_test, d)); NaN when relu(<w*, x>)
    = 0 on every row (possible for a tiny n_test)."""
    truth = relu_labels(X_test, w_star)
    scale = np.sum(truth ** 2, axis=-1)
    error = np.sum((relu_labels(X_test, w) - truth) ** 2, axis=-1)
    return np.divide(error, scale, out=np.full(scale.shape, np.nan), where=scale > 0)


def run(params: ReluPGDParams | Mapping[str, Any]) -> RunResult:
    """PGD from w_0 = 0 for ``iterations`` steps, then the measures of ``variables``.

    Status: ``diverged`` when some ||w_t|| > DIVERGENCE_FACTOR ||w*|| (the run stops
    there; its curves end at that t), ``done`` when rel_err_T < SUCCESS_TOLERANCE, else
    ``max_epochs`` (T steps without exact recovery). Raises ParamError for bad parameters.
    """
    return run_many([params])[0]


def run_many(params: Sequence[ReluPGDParams | Mapping[str, Any]]) -> list[RunResult]:
    """``run`` of each params (equal ``batch_key()``), in order: the data of up to
    BATCH_BYTES of runs drawn in one kernel call (kernels/streams.py), their PGD in another
    (``kernels.pgd.pgd_relu_many``), the measures over them at once. ValueError for params
    of different keys; ParamError for bad parameters."""
    ps = [p if isinstance(p, ReluPGDParams) else ReluPGDParams.from_mapping(p) for p in params]
    if len({p.batch_key() for p in ps}) > 1:
        raise ValueError("run_many takes runs of one batch_key (d, s, n, n_test, iterations, dtype)")
    if not ps:
        return []
    first = ps[0]
    size = max(1, BATCH_BYTES // (8 * first.d * (first.n + first.n_test)))
    return [result for start in range(0, len(ps), size) for result in _run_batch(ps[start:start + size])]


def _run_batch(ps: list[ReluPGDParams]) -> list[RunResult]:
    first = ps[0]
    data = make_instances(ps)
    curves = np.full((len(ps), 3, first.iterations + 1), np.nan)
    w = np.zeros((len(ps), first.d), dtype=first.dtype)
    steps, diverged = np.empty(len(ps), np.int64), np.empty(len(ps), np.bool_)
    pgd_relu_many(data.X, data.y, data.w_star, np.array([projection_code(p.constraint) for p in ps], np.int64),
                  projection_levels([p.constraint for p in ps], data.w_star),
                  np.array([p.relu_slope_at_zero for p in ps]), np.array([p.mu0 for p in ps]),
                  np.array([p.mu for p in ps]), first.iterations, DIVERGENCE_FACTOR, w, curves, steps, diverged)
    return _measured(ps, data, w, curves, steps, diverged)


def _measured(ps: list[ReluPGDParams], data: Instances, w: np.ndarray, curves: np.ndarray, steps: np.ndarray,
              diverged: np.ndarray) -> list[RunResult]:
    """The RunResult of each run of a batch whose PGD ended at w[r] after steps[r] steps, with
    curves[r] (rel_err, loss, overlap at t = 0 .. steps[r], NaN after): the measures of
    :mod:`.theory` taken over the batch at once, each run's as on its curve alone."""
    rel_err = curves[:, 0]
    final = rel_err[np.arange(len(ps)), steps]
    success = ~diverged & (final < SUCCESS_TOLERANCE)
    t_success = first_success(rel_err)
    contraction = contraction_factors(rel_err, steps)
    envelope_ok = ~diverged & inside_envelope(rel_err)  # a run that did not diverge ran every step
    test_rel_err = relative_test_error(w.astype(np.float64), data.w_star, data.X_test)
    results = []
    for r, p in enumerate(ps):
        scale = n0_hat(p.d, p.s, p.constraint)
        last = steps[r] + 1
        values = {
            "rel_err": rel_err[r, :last],
            "loss": curves[r, 1, :last],
            "support_overlap": curves[r, 2, :last],
            "rel_err_final": float(final[r]),
            "success": bool(success[r]),
            "t_success": int(t_success[r]),
            "contraction": float(contraction[r]),
            "envelope_ok": bool(envelope_ok[r]),
            "test_rel_err": float(test_rel_err[r]),
            "n0_hat": scale,
            "n_over_n0": p.n / scale,
        }
        results.append(RunResult("diverged" if diverged[r] else "done" if success[r] else "max_epochs", values))
    return results


def replay(params: ReluPGDParams | Mapping[str, Any]) -> Replay:
    """``run(params)`` with its trajectory: rel_err_t, the loss and the support overlap at
    every step t = 0 .. the last one run (what the run records, THEORY.md §6.1)."""
    result = run(params)
    steps = np.arange(np.asarray(result.values["rel_err"]).size)
    return Replay(result, recorded_along(result, CURVES, {ITERATION: steps}))
