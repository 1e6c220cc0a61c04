"""The report of one results store: every supported figure plus ``report.md``.

``report.md`` states the Theorem 4.1 check first and loudly (THEORY.md §2), then the
scaling slopes of the empirical epochs beside the bound's, the per-grid-point
seed medians (full table also in ``summary.csv``), and the figures inline.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

from analysis.figures import FIGURES
from analysis.stats import (CONFIDENCE, N_BOOTSTRAP, SUMMARISED, BoundCheck, Slope, check_bound,
                            open_results, point_dims, scaling_slopes, seed_summary, spec_of)

MAX_TABLE_ROWS = 100  # grid points shown in report.md; summary.csv has all


def write_report(store_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write every figure the store supports, ``summary.csv`` and ``report.md`` into ``out_dir``.

    Returns the written paths (report.md last).
    """
    ds = open_results(store_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = [path for figure in FIGURES for path in figure(ds, out_dir)]
    summary = seed_summary(ds)
    csv_path = out_dir / "summary.csv"
    summary_frame(summary).to_csv(csv_path, index=False)
    sections = [
        f"# Report: {spec_of(ds).get('name', Path(store_path).stem)}",
        f"Store: `{store_path}`",
        bound_statement(check_bound(ds)),
        slopes_table(scaling_slopes(ds)),
        summary_table(summary, point_dims(ds)),
        "## Figures\n\n" + "\n\n".join(f"![]({path.name})" for path in figures if path.suffix == ".png"),
    ]
    report_path = out_dir / "report.md"
    report_path.write_text("\n\n".join(sections) + "\n")
    return [*figures, csv_path, report_path]


def bound_statement(check: BoundCheck) -> str:
    """The Theorem 4.1 check as markdown: one calm line when it holds, a big WARNING when not."""
    header = "## Theorem 4.1 check (THEORY.md §2)\n\n"
    if check.holds:
        return header + (f"**0 of {check.checked} runs exceed the Theorem 4.1 bound** "
                         f"(worst-case and instance-specific; runs that reached E_clean).")
    offenders = "\n".join(f"- {point}" for point in check.offenders)
    return header + (
        f"> # WARNING: {check.above_bound} of {check.checked} runs exceed the Theorem 4.1 bound\n"
        f"> **{check.above_instance_bound} of {check.checked} runs exceed the instance-specific bound.**\n"
        f"> The bound holds for every run (THEORY.md §2): the implementation is wrong.\n\n"
        f"Offending runs (up to {len(check.offenders)} shown):\n\n{offenders}"
    )


def slopes_table(slopes: list[Slope]) -> str:
    """Log-log slopes of the seed-median epochs, empirical beside the bound's, as markdown."""
    header = (f"## Scaling slopes\n\nd log(median over seeds) / d log(parameter), pooled over the other "
              f"swept dims; {CONFIDENCE:.0%} percentile bootstrap over seeds ({N_BOOTSTRAP} resamples).\n\n")
    if not slopes:
        return header + "No scaling parameter is swept over two or more positive values."
    rows = [f"| {s.parameter} | {s.variable} | {s.slope:.3f} | [{s.lo:.3f}, {s.hi:.3f}] |" for s in slopes]
    return header + "\n".join(["| parameter | epochs | slope | interval |", "|---|---|---|---|", *rows])


def summary_frame(summary: xr.Dataset) -> pd.DataFrame:
    """The seed summary as a table, one row per grid point (one row if the grid is only seeds)."""
    if not summary.dims:
        return pd.DataFrame([{name: value.item() for name, value in summary.data_vars.items()}])
    return summary.to_dataframe().reset_index()


def summary_table(summary: xr.Dataset, dims: tuple[str, ...]) -> str:
    """Per grid point: median [interval] (n counted) of each SUMMARISED variable, as markdown."""
    frame = summary_frame(summary)
    columns = [*dims, *SUMMARISED]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.head(MAX_TABLE_ROWS).to_dict("records"):
        cells = [f"{row[dim]}" for dim in dims] + [
            f"{row[f'{name}_median']:.4g} [{row[f'{name}_lo']:.3g}, {row[f'{name}_hi']:.3g}] "
            f"(n={int(row[f'{name}_n'])})" for name in SUMMARISED]
        lines.append("| " + " | ".join(cells) + " |")
    shown = f" (first {MAX_TABLE_ROWS} of {len(frame)}; all in summary.csv)" if len(frame) > MAX_TABLE_ROWS else ""
    return (f"## Medians over seeds{shown}\n\nmedian [{CONFIDENCE:.0%} bootstrap interval] (runs counted); "
            f"runs not done or not reaching eps are excluded.\n\n" + "\n".join(lines))
