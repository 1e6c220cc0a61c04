"""What a run of the ``biased_relu`` problem records: its variables, in one table.

Scalars have the grid's dims; per-neuron values add ``neuron`` (teacher neurons, up to
the largest m; a run with a smaller m leaves the rest NaN); the learning curve adds
``step`` (the steps of :func:`recorded_steps`) and exists when the sweep has a gradient
learner (sgd or hybrid). Values a learner does not produce stay fill (e.g. the pencil's
gap for sgd).
"""
from __future__ import annotations

import numpy as np

from sweep.problems.schema import Dim, Layout, Values, Variable

NEURON, STEP = "neuron", "step"
_SIGN = "sign-resolved: the learned (w, b) as it stands"
_AGNOSTIC = "sign-agnostic: (w, b) -> (-w, -b) allowed"

RECOVERY = (
    Variable("err_w", "float64", np.nan, "1", f"max over teacher neurons of ||w_hat - w|| (unit rows, Hungarian-matched; {_SIGN})"),
    Variable("err_b", "float64", np.nan, "1", f"max over teacher neurons of |b_hat - b| (canonical; {_SIGN})"),
    Variable("err_a", "float64", np.nan, "1", f"max over teacher neurons of |a_hat - a| (canonical; {_SIGN})"),
    Variable("err_w_sign_agnostic", "float64", np.nan, "1", f"max over teacher neurons of min_s ||s w_hat - w|| ({_AGNOSTIC})"),
    Variable("err_b_sign_agnostic", "float64", np.nan, "1", f"max over teacher neurons of |s b_hat - b| ({_AGNOSTIC})"),
    Variable("err_a_sign_agnostic", "float64", np.nan, "1",
             f"max over teacher neurons of |a_hat - a| ({_AGNOSTIC}; equals err_a: the flip leaves a unchanged)"),
    Variable("flipped", "int32", -1, "neurons", "matched neurons with <w_hat, w> < 0 (learned as (-w, -b))"),
)

SCALARS = (
    *RECOVERY,
    Variable("test_rel_l2", "float64", np.nan, "1", "E[(g - f)^2] / E[f^2] on n_test fresh inputs"),
    Variable("s_m", "float64", np.nan, "1", "smallest singular value of the teacher's W (unit rows)"),
    Variable("pencil_gap", "float64", np.nan, "1",
             "smallest gap between the real eigenvalues of the chosen pencil (moments, hybrid; THEORY.md §6.3 step 2)"),
    Variable("moment_err_2", "float64", np.nan, "1", "||T_hat_2 - T_2||_F against the closed-form T_2 (moments, hybrid)"),
    Variable("moment_err_3", "float64", np.nan, "1",
             "||T_hat_3[u] - T_3[u]||_F for the chosen u, against the closed form (moments, hybrid)"),
    Variable("imag_flag", "int8", -1, "1",
             "1 if the pencil's eigenvectors had imaginary parts above 1e-3 of their real parts, else 0 (moments, hybrid)"),
    Variable("err_w_t3_only", "float64", np.nan, "1",
             "max over teacher neurons of the sign-agnostic direction error of Jennrich on T_3 alone (the ablation; "
             "moments, hybrid)"),
    Variable("steps_run", "int32", -1, "steps", "SGD steps taken (sgd: steps, hybrid: refine_steps; fewer if diverged)"),
)

PER_NEURON = (
    Variable("teacher_b", "float64", np.nan, "1", "teacher bias b_l (canonical)", (NEURON,)),
    Variable("teacher_a", "float64", np.nan, "1", "teacher output weight a_l (canonical)", (NEURON,)),
    Variable("neuron_err_w", "float64", np.nan, "1", f"||s w_hat - w_l|| of the matched neuron ({_AGNOSTIC})", (NEURON,)),
    Variable("neuron_err_b", "float64", np.nan, "1", f"|s b_hat - b_l| of the matched neuron ({_AGNOSTIC})", (NEURON,)),
    Variable("neuron_err_a", "float64", np.nan, "1", "|a_hat - a_l| of the matched neuron", (NEURON,)),
    Variable("neuron_flipped", "int8", -1, "1", "1 if the matched neuron has <w_hat, w_l> < 0, else 0", (NEURON,)),
    Variable("neuron_err_w_t3_only", "float64", np.nan, "1",
             "sign-agnostic direction error of Jennrich on T_3 alone for teacher neuron l (moments, hybrid)", (NEURON,)),
)

CURVE = Variable("test_rel_l2_curve", "float64", np.nan, "1",
                 "test_rel_l2 after each recorded SGD step (step 0: the start; sgd, hybrid)", (STEP,))

DENSE_STEPS = 10       # every step up to here is recorded ...
STEPS_PER_DECADE = 20  # ... then this many log-spaced steps per decade


def recorded_steps(max_steps: int) -> np.ndarray:
    """The steps 0..max_steps at which test_rel_l2_curve is recorded: 0 (the start),
    every step up to DENSE_STEPS, then log-spaced (the last step is test_rel_l2 itself).
    The ladder does not depend on max_steps (it is cut there), so the ladder of a run is
    a prefix of its sweep's ``step`` dim."""
    decades = np.log10(max(max_steps, DENSE_STEPS) / DENSE_STEPS)
    sparse = np.round(DENSE_STEPS * 10.0 ** (np.arange(1, int(np.ceil(decades * STEPS_PER_DECADE)) + 1)
                                             / STEPS_PER_DECADE)).astype(np.int64)
    ladder = np.unique(np.concatenate([np.arange(DENSE_STEPS + 1), sparse]))
    return ladder[ladder <= max_steps]


def gradient_budget(values: Values) -> int | None:
    """The largest SGD budget of the sweep's gradient learners, or None without one."""
    budgets = [max(values("steps"))] if "sgd" in values("learner") else []
    budgets += [max(values("refine_steps"))] if "hybrid" in values("learner") else []
    return max(budgets) if budgets else None


def layout(values: Values) -> Layout:
    """``neuron`` covers the largest m; ``step`` and the curve only with a gradient learner."""
    dims = [Dim(NEURON, max(values("m")))]
    variables = [*SCALARS, *PER_NEURON]
    budget = gradient_budget(values)
    if budget is not None:
        steps = recorded_steps(budget)
        dims.append(Dim(STEP, steps.size, steps, {"units": "steps", "long_name": "SGD steps taken when recorded"}))
        variables.append(CURVE)
    return Layout(tuple(dims), tuple(variables))
