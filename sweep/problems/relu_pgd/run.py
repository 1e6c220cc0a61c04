"""One run of the ``relu_pgd`` problem, end to end: teacher and data, PGD, measures (THEORY.md §6.1).

``run(params)`` is what every sweep task calls for each of its runs. It is deterministic:
the same parameters give bit-identical results in any process.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from kernels.pgd import pgd_relu
from kernels.projections import projection_code
from sweep.problems.replay import Replay, recorded_along
from sweep.problems.results import RunResult
from sweep.problems.relu_pgd.data import make_instance, relu_labels
from sweep.problems.relu_pgd.params import ReluPGDParams
from sweep.problems.relu_pgd.variables import CURVES, ITERATION
from sweep.problems.relu_pgd.theory import (DIVERGENCE_FACTOR, SUCCESS_TOLERANCE, contraction_factor, first_success,
                                            inside_envelope, n0_hat)


def projection_level(constraint: str, w_star: np.ndarray) -> float:
    """The level of K = {w : R(w) <= R(w*)}: s = ||w*||_0 for l0, ||w*||_1 for l1, unused for none."""
    return {"l0": float(np.count_nonzero(w_star)), "l1": float(np.abs(w_star).sum()), "none": 0.0}[constraint]


def relative_test_error(w: np.ndarray, w_star: np.ndarray, X_test: np.ndarray) -> float:
    """sum (relu(<w, x>) - relu(<w*, x>))^2 / sum relu(<w*, x>)^2 over the rows of X_test;
    NaN when relu(<w*, x>) = 0 on every row (possible for a tiny n_test)."""
    truth = relu_labels(X_test, w_star)
    scale = float(np.sum(truth ** 2))
    return float(np.sum((relu_labels(X_test, w) - truth) ** 2)) / scale if scale > 0 else np.nan


def run(params: ReluPGDParams | Mapping[str, Any]) -> RunResult:
    """PGD from w_0 = 0 for ``iterations`` steps, then the measures of ``variables``.

    Status: ``diverged`` when some ||w_t|| > DIVERGENCE_FACTOR ||w*|| (the run stops
    there; its curves end at that t), ``done`` when rel_err_T < SUCCESS_TOLERANCE, else
    ``max_epochs`` (T steps without exact recovery). Raises ParamError for bad parameters.
    """
    p = params if isinstance(params, ReluPGDParams) else ReluPGDParams.from_mapping(params)
    data = make_instance(p)
    curves = np.full((3, p.iterations + 1), np.nan)
    w = np.zeros(p.d, dtype=p.dtype)
    steps, diverged = pgd_relu(data.X, data.y, data.w_star, projection_code(p.constraint),
                               projection_level(p.constraint, data.w_star), p.relu_slope_at_zero, p.mu0, p.mu,
                               p.iterations, DIVERGENCE_FACTOR, w, curves[0], curves[1], curves[2])
    rel_err = curves[0, :steps + 1]
    success = not diverged and bool(rel_err[-1] < SUCCESS_TOLERANCE)
    scale = n0_hat(p.d, p.s, p.constraint)
    values = {
        "rel_err": rel_err,
        "loss": curves[1, :steps + 1],
        "support_overlap": curves[2, :steps + 1],
        "rel_err_final": float(rel_err[-1]),
        "success": success,
        "t_success": first_success(rel_err),
        "contraction": contraction_factor(rel_err),
        "envelope_ok": not diverged and inside_envelope(rel_err),
        "test_rel_err": relative_test_error(w.astype(np.float64), data.w_star, data.X_test),
        "n0_hat": scale,
        "n_over_n0": p.n / scale,
    }
    return RunResult("diverged" if diverged else "done" if success else "max_epochs", values)


def replay(params: ReluPGDParams | Mapping[str, Any]) -> Replay:
    """``run(params)`` with its trajectory: rel_err_t, the loss and the support overlap at
    every step t = 0 .. the last one run (what the run records, THEORY.md §6.1)."""
    result = run(params)
    steps = np.arange(np.asarray(result.values["rel_err"]).size)
    return Replay(result, recorded_along(result, CURVES, {ITERATION: steps}))
