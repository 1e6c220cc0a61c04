"""What a run of the ``relu_student`` problem records: its variables, in one table.

``run.train_one`` fills exactly these; the store lays out exactly these (plus the
engine's ``status``, ``wall_time``, ``error`` and ``done``). Scalars have the grid's
dims; curves add ``step`` (the steps of :func:`recorded_steps`); per-teacher-neuron
values add ``teacher``; the final atoms add ``neuron`` (and ``feature``). The paths of
the atoms over training (``step`` x ``neuron`` [x ``feature``]) are recorded by runs with
d <= PATH_MAX_D = 2 (in the plane: the figure of their trajectories); a sweep stores
them when one of its runs has d <= 2.
"""
from __future__ import annotations

import numpy as np

from sweep.problems.schema import Dim, Layout, Values, Variable

STEP, TEACHER, NEURON, FEATURE = "step", "teacher", "neuron", "feature"
PATH_MAX_D = 2

SCALARS = (
    Variable("steps_run", "int32", -1, "steps", "steps taken (fewer than `steps` when stopped by tol or divergence)"),
    Variable("final_objective", "float64", np.nan, "1",
             "objective F at the end: training objective (n > 0) or population objective (n = 0), THEORY.md §6.2"),
    Variable("final_D_K", "float64", np.nan, "1",
             "kernel distance D_K between the student's and the teacher's measures at the end, THEORY.md §6.2"),
    Variable("final_e_stray", "float64", np.nan, "1",
             "stray mass at the end: |mass| of atoms > 0.1 rad from every teacher direction / sum |a_j|"),
    Variable("final_test_mse", "float64", np.nan, "1",
             "relative test MSE at the end: sum (f - f*)^2 / sum f*^2 over 10000 fresh inputs"),
    Variable("e_mass", "float64", np.nan, "1",
             "max_j |assigned mass_j - a_j| / |a_j| at the end (mass of the atoms within 0.1 rad of w_j)"),
    Variable("e_ang", "float64", np.nan, "rad",
             "|mass|-weighted mean angle of the assigned atoms to their teacher direction at the end"),
    Variable("e_mass_lam", "float64", np.nan, "1",
             "e_mass against the measure expected at lam (mass_lam at the shifted directions; = e_mass at lam = 0)"),
    Variable("e_ang_lam", "float64", np.nan, "rad", "e_ang against the measure expected at lam (= e_ang at lam = 0)"),
    Variable("e_stray_lam", "float64", np.nan, "1",
             "stray mass against the measure expected at lam (= final_e_stray at lam = 0)"),
    Variable("e_match", "float64", np.nan, "1",
             "one-to-one parameter error: max_j ||a_k w_k - a_j w_j|| / |a_j| over the best matching "
             "(linear_sum_assignment) of teacher to student neurons"),
    Variable("teacher_degenerate", "int8", -1, "1",
             "1 if 0 is in the convex hull of the teacher's positive (or negative) atoms' directions: a segment of "
             "measures shares its function and total variation, so it cannot be identified [derived], else 0",
             attrs={"flag_values": [-1, 0, 1], "flag_meanings": "not_recorded identifiable degenerate"}),
    Variable("success", "int8", -1, "1",
             "1 if e_ang_lam, e_stray_lam and e_mass_lam are all < 0.05 at the end (the teacher identified, up to the "
             "shrinkage expected at lam), else 0",
             attrs={"flag_values": [-1, 0, 1], "flag_meanings": "not_recorded failure success"}),
)

CURVES = (
    Variable("objective", "float64", np.nan, "1",
             "objective F: training objective (n > 0) or population objective (n = 0, exact), THEORY.md §6.2",
             (STEP,)),
    Variable("D_K", "float64", np.nan, "1", "kernel distance D_K between student and teacher measures", (STEP,)),
    Variable("e_stray", "float64", np.nan, "1", "stray mass / sum |a_j|", (STEP,)),
    Variable("test_mse", "float64", np.nan, "1", "relative test MSE on 10000 fresh inputs", (STEP,)),
)

PER_TEACHER = (
    Variable("teacher_mass", "float64", np.nan, "1", "teacher output weight a_j (its atom's mass)", (TEACHER,)),
    Variable("teacher_direction", "float64", np.nan, "1", "teacher direction w_j (unit)", (TEACHER, FEATURE)),
    Variable("mass", "float64", np.nan, "1", "assigned student mass per teacher neuron at the end", (TEACHER,)),
    Variable("mass_lam", "float64", np.nan, "1",
             "masses of the measure expected at lam: the m-atom minimiser of the population objective, "
             "from the teacher",
             (TEACHER,)),
    Variable("mass_at_lam", "float64", np.nan, "1",
             "assigned student mass per atom of the measure expected at lam (within 0.1 rad of direction_lam)",
             (TEACHER,)),
    Variable("direction_lam", "float64", np.nan, "1",
             "directions of the measure expected at lam (= teacher_direction at lam = 0)", (TEACHER, FEATURE)),
)

ATOMS = (
    Variable("atom_mass", "float64", np.nan, "1", "final atom masses c_k = a_k ||w_k||", (NEURON,)),
    Variable("atom_direction", "float64", np.nan, "1", "final atom directions theta_k = w_k / ||w_k||",
             (NEURON, FEATURE)),
)

PATHS = (
    Variable("path_mass", "float64", np.nan, "1", "atom masses c_k over training (runs with d <= 2)", (STEP, NEURON)),
    Variable("path_direction", "float64", np.nan, "1", "atom directions theta_k over training (runs with d <= 2)",
             (STEP, NEURON, FEATURE)),
)

DENSE_STEPS = 10                                   # every step up to here is recorded ...
MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)  # ... then these times each power of ten


def recorded_steps(steps: int) -> np.ndarray:
    """The steps after which curves are recorded, up to ``steps``: 1..DENSE_STEPS, then
    MANTISSAS x 10^k (ten per decade, round numbers). The ladder does not depend on
    ``steps`` (it is cut there), so runs of different lengths share one ``step`` dim."""
    decades = max(int(np.ceil(np.log10(max(steps, 1)))), 1)
    sparse = np.array([round(mantissa * 10 ** k) for k in range(1, decades + 1) for mantissa in MANTISSAS])
    ladder = np.unique(np.concatenate([np.arange(1, DENSE_STEPS + 1), sparse]))
    return ladder[ladder <= steps]


def layout(values: Values) -> Layout:
    """The dims and variables of a sweep: ``step`` covers the longest run, ``teacher``,
    ``neuron`` and ``feature`` the largest m, M and d; the paths only when a run has d <= 2."""
    steps = recorded_steps(max(values("steps")))
    dims = [Dim(STEP, steps.size, steps, {"units": "steps", "long_name": "steps taken when curves are recorded"}),
            Dim(TEACHER, max(values("m"))), Dim(NEURON, max(values("M"))), Dim(FEATURE, max(values("d")))]
    variables = [*SCALARS, *CURVES, *PER_TEACHER, *ATOMS]
    if any(d <= PATH_MAX_D for d in values("d")):
        variables += PATHS
    return Layout(tuple(dims), tuple(variables))
