"""Why a ``relu_student`` run did not identify the teacher (THEORY.md §6.2): one reason per run.

A run that fails ``success`` fails it for one of these reasons, tried in this order:

- ``degenerate teacher``: ``teacher_degenerate`` (no method can single the teacher out,
  :func:`.identification.degenerate_teacher`);
- ``function not fitted``: the student's function is >= SUCCESS_LEVEL away from the
  function of the measure expected at lam, in relative population L2 norm,
  ||f_student - f_lam|| / ||f_lam|| (exact, through the arc-cosine kernel): the budget
  or the learning rate did not bring training to its end;
- ``stray mass``: the function is fitted, but e_stray_lam >= SUCCESS_LEVEL: mass sits
  away from every expected direction although it changes the function by < 5%: mass
  the loss barely sees, which clears slowly (a longer budget may remove it), or never
  when it changes the function not at all (pairs of atoms at u and -u whose ReLUs sum to
  linear functions that cancel);
- ``mass or angle off``: fitted, no stray mass, but e_mass_lam or e_ang_lam >= SUCCESS_LEVEL.

Separately, ``identified, split``: runs that identified the teacher in the measure sense
while the one-to-one comparison fails (e_match >= SUCCESS_LEVEL): a teacher neuron is
several atoms along its direction, which the §6.2 success counts as identified.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from analysis.plotting import as_python
from sweep.problems.relu_student.identification import SUCCESS_LEVEL, Measure, population_loss
from sweep.problems.relu_student.tables import runs_table

IDENTIFIED, SPLIT = "identified", "identified, split"
DEGENERATE, NOT_FITTED, STRAY, OFF = "degenerate teacher", "function not fitted", "stray mass", "mass or angle off"
FAILURES = (DEGENERATE, NOT_FITTED, STRAY, OFF)
OUTCOMES = (IDENTIFIED, SPLIT, *FAILURES)  # one per run, in this order of precedence


def function_error(student: Measure, expected: Measure) -> float:
    """||f_student - f_expected|| / ||f_expected|| in the population L2 norm (module docstring)."""
    empty = Measure(np.zeros(0), np.zeros((0, expected.direction.shape[1])))
    norm = population_loss(empty, expected)
    return math.sqrt(population_loss(student, expected) / norm) if norm > 0 else math.nan


def _measures(run: xr.Dataset) -> tuple[Measure, Measure]:
    """(the run's final atoms, the measure expected at its lam), without the padding of
    smaller M or m (NaN)."""
    mass, direction = run["atom_mass"].values, run["atom_direction"].values
    kept = np.isfinite(mass)
    expected_mass, expected_direction = run["mass_lam"].values, run["direction_lam"].values
    teachers = np.isfinite(expected_mass)
    d = int(np.isfinite(expected_direction[teachers][0]).sum()) if teachers.any() else direction.shape[1]
    return (Measure(mass[kept], direction[kept][:, :d]),
            Measure(expected_mass[teachers], expected_direction[teachers][:, :d]))


def outcome(row: dict, fit_error: float) -> str:
    """The one outcome of a finished run (module docstring): ``row`` holds its success,
    teacher_degenerate, e_match, e_stray_lam; ``fit_error``: :func:`function_error`."""
    if row["success"] == 1:
        return SPLIT if row["e_match"] >= SUCCESS_LEVEL else IDENTIFIED
    if row["teacher_degenerate"] == 1:
        return DEGENERATE
    if not fit_error < SUCCESS_LEVEL:
        return NOT_FITTED
    if row["e_stray_lam"] >= SUCCESS_LEVEL:
        return STRAY
    return OFF


def outcomes_table(ds: xr.Dataset) -> pd.DataFrame:
    """:func:`.tables.runs_table` with ``teacher_degenerate``, ``function_error`` and
    ``outcome`` per finished run."""
    runs = runs_table(ds)
    dims = [column for column in runs.columns if column in ds["done"].dims]
    final = ds[["atom_mass", "atom_direction", "mass_lam", "direction_lam", "teacher_degenerate"]].compute()
    errors, outcomes, degenerate = [], [], []
    for row in runs.to_dict("records"):
        run = final.sel({dim: row[dim] for dim in dims})
        row["teacher_degenerate"] = int(run["teacher_degenerate"])
        errors.append(function_error(*_measures(run)))
        degenerate.append(row["teacher_degenerate"])
        outcomes.append(outcome(row, errors[-1]))
    return runs.assign(teacher_degenerate=degenerate, function_error=errors, outcome=outcomes)


def outcome_counts(ds: xr.Dataset, by: tuple[str, ...]) -> pd.DataFrame:
    """Per combination of ``by``: the number of runs of each outcome (a column per OUTCOMES)."""
    runs = outcomes_table(ds)
    if not by:
        return runs["outcome"].value_counts().to_frame().T.reindex(columns=list(OUTCOMES), fill_value=0) \
            .reset_index(drop=True)
    counts = pd.crosstab([runs[dim] for dim in by], runs["outcome"]).reindex(columns=list(OUTCOMES), fill_value=0)
    order = {dim: {as_python(value): index for index, value in enumerate(ds[dim].values)} for dim in by}
    table = counts.reset_index().rename_axis(columns=None)
    return table.sort_values(list(by), key=lambda column: column.map(order[column.name])).reset_index(drop=True)
