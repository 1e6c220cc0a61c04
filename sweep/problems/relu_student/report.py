"""The report of a ``relu_student`` store (the protocol: ``sweep.problems.contract.REPORT_PROTOCOL``).

THEORY.md §6.2 makes no quantitative claim a run could break (its prediction is
qualitative: "with high probability" for M large enough and a suitable lambda), so the
one check states what the runs show against the reconstruction's reference run and
is never counted as held or broken (``holds`` None). Then the share of runs that
identified the teacher per setting, with the medians of the final metrics (pooled over
seeds and teachers, tables.py), and per setting the runs of each outcome: identified, or
why not (failures.py); ``summary.csv`` has one row per grid point but seed.
Figures: :mod:`.figures`.
"""
from __future__ import annotations

import pandas as pd
import xarray as xr

from analysis.checks import Check, not_checked
from analysis.plotting import describe_point, parameter_values
from analysis.stats import point_dims
from analysis.tables import markdown_rows, table_section
from sweep.problems.relu_student.failures import FAILURES, IDENTIFIED, OUTCOMES, SPLIT, outcome_counts
from sweep.problems.relu_student.figures import FIGURES
from sweep.problems.relu_student.tables import FINALS, runs_table, setting_dims, settings_table

__all__ = ["FIGURES", "checks", "sections", "summary"]

# THEORY.md §6.2's reference run: d = 10, m = 3, M = 30, fresh batches of 2000, lr 0.5,
# 4000 steps, lam = 0; conic at rho = 4 "recovered all three teacher masses within 1%".
REFERENCE = {"d": 10, "m": 3, "M": 30, "n": 0, "batch": 2000, "lr": 0.5, "steps": 4000, "lam": 0.0}


def checks(ds: xr.Dataset) -> list[Check]:
    return [reference_check(ds), *([over_parameterisation_check(ds)] if "M" in ds.dims else [])]


def sections(ds: xr.Dataset) -> list[str]:
    return [settings_section(ds), outcomes_section(ds)]


def summary(ds: xr.Dataset) -> pd.DataFrame:
    return settings_table(ds, tuple(dim for dim in point_dims(ds)))


def _reference_runs(ds: xr.Dataset) -> pd.DataFrame:
    """The finished runs at the reference configuration (any learner), with their masses' errors."""
    runs = runs_table(ds)
    for name, value in REFERENCE.items():
        if name in runs.columns:
            runs = runs[runs[name] == value]
        elif parameter_values(ds, name) != [value]:
            return runs.iloc[:0]
    return runs


def reference_check(ds: xr.Dataset) -> Check:
    """Runs at §6.2's reference configuration: how many recovered every teacher mass
    within 5% and within 1% (e_mass), per learner; never held or broken (module docstring)."""
    title = "THEORY.md §6.2 reference run (qualitative claim: not checked as a bound)"
    runs = _reference_runs(ds)
    if runs.empty:
        return not_checked(title, "§6.2 reference run", "no run at the reference configuration (d = 10, m = 3, "
                                                        "M = 30, fresh batches of 2000, lr 0.5, 4000 steps, lambda = 0)")
    groups = [dim for dim in ("learner", "rho") if dim in runs.columns]
    rows, lines = [], []
    for key, group in (runs.groupby(groups, sort=False) if groups else [((), runs)]):
        point = dict(zip(groups, key if isinstance(key, tuple) else (key,)))
        learner = point.get("learner", parameter_values(ds, "learner")[0])
        rho = point.get("rho", parameter_values(ds, "rho")[0])
        name = "gd" if learner == "gd" else f"conic, rho = {rho:g}"
        within5, within1 = int((group["e_mass"] < 0.05).sum()), int((group["e_mass"] < 0.01).sum())
        rows.append((name, len(group), within5, within1, f"{group['e_mass'].median():.3g}",
                     f"{group['final_test_mse'].median():.2g}"))
        lines.append(f"{name}: {within5}/{len(group)} within 5%, {within1}/{len(group)} within 1%")
    table = markdown_rows(["learner", "runs", "every mass within 5%", "within 1%", "median e_mass",
                           "median test MSE"], rows)
    text = ("§6.2 reports that its reference implementation recovered all three teacher masses within 1% with the "
            "conic learner at rho = 4 (relative test MSE 2.6e-6), but not with rho = 1 (plain GD). Its prediction "
            "is qualitative, so this is a comparison, not a check. Runs of this store at that configuration "
            "(every seed and teacher):\n\n" + table)
    return Check(title, text, "§6.2 reference run: " + "; ".join(lines), None)


def settings_section(ds: xr.Dataset) -> str:
    """Per setting: runs identified / runs, and the medians of the final metrics."""
    table = settings_table(ds)
    dims = [column for column in table.columns if column not in ("runs", "identified", "share")
            and not column.endswith("_median")]
    def cells(row: dict) -> list[str]:
        return [*(f"{row[dim]:g}" if isinstance(row[dim], float) else f"{row[dim]}" for dim in dims),
                f"{int(row['identified'])}/{int(row['runs'])}", *(f"{row[f'{name}_median']:.3g}" for name in FINALS)]

    return table_section("Identification per setting", "Runs pooled over `seed` and `data_seed` (the student's init "
                         "and batches, and the teacher). identified: runs with e_ang_lam, e_stray_lam and e_mass_lam "
                         "all < 0.05 (against the measure expected at lambda: the teacher at lambda = 0). The other "
                         "columns: medians over the finished runs.", table, [*dims, "identified", *FINALS], cells,
                         rest=None)


def outcomes_section(ds: xr.Dataset) -> str:
    """Per setting: the runs of each outcome (:mod:`.failures`), which add up to the runs finished."""
    table = outcome_counts(ds, setting_dims(ds))
    dims = [column for column in table.columns if column not in OUTCOMES]

    def cells(row: dict) -> list[str]:
        return [*(f"{row[dim]:g}" if isinstance(row[dim], float) else f"{row[dim]}" for dim in dims),
                *(f"{int(row[name])}" for name in OUTCOMES)]

    return table_section("Why runs fail, per setting", "Each finished run counted once: identified (in the measure "
                         "sense; 'split': a teacher neuron is several atoms along its direction, so the one-to-one "
                         "e_match >= 0.05), or the first reason it was not: a degenerate teacher; its function not "
                         "fitted (relative L2 distance >= 0.05 to the function of the measure expected at lambda, exact "
                         "through the arc-cosine kernel: the budget or the step size); stray mass >= 0.05 although "
                         "the function is fitted (mass the loss barely sees: it clears slowly, or never when it does "
                         "not change the function at all); else a mass or angle error "
                         ">= 0.05.", table, [*dims, *OUTCOMES], cells, rest=None)


def over_parameterisation_check(ds: xr.Dataset) -> Check:
    """The runs that identified the teacher against M/m, per setting of the other dims
    (learner, lam, steps, ...), with the commonest reason of the failures (failures.py);
    no verdict: §6.2's claim ("for M large enough") names no M or budget."""
    title = "THEORY.md §6.2: identification against over-parameterisation M/m (qualitative claim: no verdict)"
    dims = setting_dims(ds)
    others = [dim for dim in dims if dim != "M"]
    table = outcome_counts(ds, dims)
    m = parameter_values(ds, "m")[0]
    Ms = [int(M) for M in ds["M"].values]
    lines = []
    for key, group in (table.groupby(others, sort=False) if others else [((), table)]):
        point = dict(zip(others, key if isinstance(key, tuple) else (key,)))
        group = group.set_index("M").reindex(Ms, fill_value=0)
        identified = group[IDENTIFIED] + group[SPLIT]
        failures = group[list(FAILURES)].sum()
        reason = f" (failures mostly: {failures.idxmax()})" if failures.sum() else ""
        lines.append(f"{describe_point(point)}: " + ", ".join(f"{int(k)}/{int(n)}" for k, n in
                                                            zip(identified, group[list(OUTCOMES)].sum(axis=1)))
                     + reason)
    header = f"identified at M/m = {', '.join(f'{M / m:g}' for M in Ms)}"
    text = ("§6.2 predicts that for M large enough (and a suitable lambda) the norm-dependent step recovers the "
            "teacher's measure with high probability over the init. Runs identified / finished at each M/m, per "
            "setting, and the commonest reason of the failures (the table 'Why runs fail' has them all). "
            f"{header.capitalize()}:\n\n" + "\n".join(f"- {line}" for line in lines))
    return Check(title, text, f"{header}: " + "; ".join(lines), None)
