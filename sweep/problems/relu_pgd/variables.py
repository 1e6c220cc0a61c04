"""What a run of the ``relu_pgd`` problem records: its variables, in one table (THEORY.md §6.1).

``run.run`` fills exactly these; the store lays out exactly these (plus the engine's
``status``, ``wall_time``, ``error`` and ``done``). Curves add the ``iteration`` dim,
t = 0 .. the largest T of the sweep (t = 0 is w_0 = 0; a shorter or diverged run leaves
the rest NaN).
"""
from __future__ import annotations

import numpy as np

from sweep.problems.schema import Dim, Layout, Values, Variable
from sweep.problems.relu_pgd.theory import CONTRACTION_WINDOW, SUCCESS_TOLERANCE

ITERATION = "iteration"


def short_number(x: float) -> str:
    """1e-06 -> '1e-6', 0.1 -> '0.1'."""
    return f"{x:g}".replace("e-0", "e-")


CURVES = (
    Variable("rel_err", "float64", np.nan, "1", "rel_err_t = ||w_t - w*|| / ||w*||", (ITERATION,)),
    Variable("loss", "float64", np.nan, "1", "training loss L(w_t) = (1/n) sum_i (relu(<w_t, x_i>) - y_i)^2",
             (ITERATION,)),
    Variable("support_overlap", "float64", np.nan, "1", "|supp(w_t) ∩ supp(w*)| / s", (ITERATION,)),
)

SCALARS = (
    Variable("rel_err_final", "float64", np.nan, "1", "rel_err at the last step run (T, or the step that diverged)"),
    Variable("success", "bool", False, None, f"rel_err_T < {short_number(SUCCESS_TOLERANCE)} (exact recovery)"),
    Variable("t_success", "int32", -1, "iterations", f"first t with rel_err_t < {short_number(SUCCESS_TOLERANCE)}; -1 if none"),
    Variable("contraction", "float64", np.nan, "1",
             f"fitted factor per step: exp of the least-squares slope of log rel_err_t over t where "
             f"{short_number(CONTRACTION_WINDOW[0])} < rel_err_t < {short_number(CONTRACTION_WINDOW[1])}; NaN with fewer than 2 such t"),
    Variable("envelope_ok", "bool", False, None, "rel_err_t <= 2^-t for every t = 1 .. T (False if diverged)"),
    Variable("test_rel_err", "float64", np.nan, "1",
             "sum (relu(<w_T, x>) - relu(<w*, x>))^2 / sum relu(<w*, x>)^2 over n_test fresh inputs"),
    Variable("n0_hat", "float64", np.nan, "points", "n0_hat = 2 s ln(d/s); d when s = d or constraint = none"),
    Variable("n_over_n0", "float64", np.nan, "1", "n / n0_hat"),
)

VARIABLES = (*CURVES, *SCALARS)


def layout(values: Values) -> Layout:
    """One ``iteration`` dim covering the longest run (t = 0 .. max T), and every variable."""
    steps = np.arange(max(values("iterations")) + 1)
    dims = (Dim(ITERATION, steps.size, steps, {"units": "iterations", "long_name": "t: PGD step (0 = w_0 = 0)"}),)
    return Layout(dims, VARIABLES)
