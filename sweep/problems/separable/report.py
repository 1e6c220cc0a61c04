"""The report sections of the ``separable`` problem (see :mod:`analysis.report`).

The Theorem 4.1 check comes first and loudly (THEORY.md §2), stating what it checked;
then the scaling slopes of the empirical epochs beside the bound's and the per-grid-point
seed medians (the full table also in ``summary.csv``). Figures: :mod:`.figures`.
"""
from __future__ import annotations

import pandas as pd
import xarray as xr

from analysis.report import Check, frame
from analysis.stats import CONFIDENCE, N_BOOTSTRAP, Slope, point_dims, status_counts
from sweep.problems.separable.bounds import SUMMARISED, check_bound, scaling_slopes, seed_summary
from sweep.problems.separable.figures import FIGURES

MAX_TABLE_ROWS = 100  # grid points shown in report.md; summary.csv has all

__all__ = ["FIGURES", "checks", "sections", "summary"]


def checks(ds: xr.Dataset) -> list[Check]:
    return [bound_check(ds)]


def sections(ds: xr.Dataset) -> list[str]:
    return [slopes_table(scaling_slopes(ds)), summary_table(seed_summary(ds), point_dims(ds))]


def summary(ds: xr.Dataset) -> pd.DataFrame:
    return frame(seed_summary(ds))


def bound_check(ds: xr.Dataset) -> Check:
    """The Theorem 4.1 check: one calm line when it holds, a big WARNING when not, and
    "not checked" with the reason when no run reached E_clean with a bound."""
    check = check_bound(ds)
    title = "Theorem 4.1 check (THEORY.md §2)"
    unbounded = (f" {check.unbounded} run(s) reached E_clean but have no bound (their SVM margin could not be "
                 f"computed, or alpha = 0) and are not counted." if check.unbounded else "")
    if check.checked == 0:
        counts = status_counts(ds)
        reason = (f"no run reached E_clean with a finite bound ({counts.get('max_epochs', 0)} of "
                  f"{sum(counts.values())} runs stopped at max_epochs)")
        return Check(title, f"**Bound check: not checked** — {reason}.{unbounded}",
                     f"Theorem 4.1: not checked, {reason}", None)
    if check.holds:
        text = (f"**0 of {check.checked} runs exceed the Theorem 4.1 bound** "
                f"(worst-case and instance-specific; runs that reached E_clean).{unbounded}")
        return Check(title, text, f"Theorem 4.1: 0 of {check.checked} runs exceed the bound", True)
    worst, instance = check.above["epochs_bound"], check.above["epochs_bound_instance"]
    offenders = "\n".join(f"- {point}" for point in check.offenders)
    text = (f"> # WARNING: {worst} of {check.checked} runs exceed the Theorem 4.1 bound\n"
            f"> **{instance} of {check.checked} runs exceed the instance-specific bound.**\n"
            f"> The bound holds for every run (THEORY.md §2): the implementation is wrong.\n\n"
            f"Offending runs (up to {len(check.offenders)} shown):\n\n{offenders}{unbounded}")
    return Check(title, text, f"WARNING: {worst} of {check.checked} runs exceed the Theorem 4.1 bound "
                              f"({instance} the instance-specific one)", False)


def slopes_table(slopes: list[Slope]) -> str:
    """Log-log slopes of the seed-median epochs, empirical beside the bound's, as markdown."""
    header = (f"## Scaling slopes\n\nd log(median over seeds) / d log(parameter), pooled over the other "
              f"swept dims; {CONFIDENCE:.0%} percentile bootstrap over seeds ({N_BOOTSTRAP} resamples).\n\n")
    if not slopes:
        return header + "No scaling parameter is swept over two or more positive values."
    rows = [f"| {s.parameter} | {s.variable} | {s.slope:.3f} | [{s.lo:.3f}, {s.hi:.3f}] |" for s in slopes]
    return header + "\n".join(["| parameter | epochs | slope | interval |", "|---|---|---|---|", *rows])


def summary_table(summary: xr.Dataset, dims: tuple[str, ...]) -> str:
    """Per grid point: median [interval] (n counted) of each SUMMARISED variable, as markdown."""
    table = frame(summary)
    columns = [*dims, *SUMMARISED]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table.head(MAX_TABLE_ROWS).to_dict("records"):
        cells = [f"{row[dim]}" for dim in dims] + [
            f"{row[f'{name}_median']:.4g} [{row[f'{name}_lo']:.3g}, {row[f'{name}_hi']:.3g}] "
            f"(n={int(row[f'{name}_n'])})" for name in SUMMARISED]
        lines.append("| " + " | ".join(cells) + " |")
    shown = f" (first {MAX_TABLE_ROWS} of {len(table)}; all in summary.csv)" if len(table) > MAX_TABLE_ROWS else ""
    return (f"## Medians over seeds{shown}\n\nmedian [{CONFIDENCE:.0%} bootstrap interval] (runs counted); "
            f"runs not done or not reaching eps are excluded.\n\n" + "\n".join(lines))
