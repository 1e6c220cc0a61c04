"""The report of one results store, for any problem: ``report.md``, ``summary.csv`` and
every figure the store supports.

``report.md`` lists, in this order: the run counts by status, the problem's checks of
its theory (each says what it checked, or that it checked nothing), the problem's own
sections, and the figures inline. The problem's report module (``Problem.report``)
provides ``checks(ds) -> list[Check]``, ``sections(ds) -> list[str]`` (markdown),
``summary(ds) -> pandas.DataFrame`` (one row per grid point) and ``FIGURES``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from analysis.stats import open_results, problem_of, spec_of, status_counts


THEOREM, OBSERVATION = "theorem", "observation"


@dataclass(frozen=True)
class Check:
    """A check over the runs of a store.

    ``holds``: True, False, or None when nothing could be checked (then ``markdown``
    says why); ``summary``: one line for the command line. ``kind``: THEOREM (a proved
    statement: a run against it means the implementation is wrong, and the report is
    ``violated``) or OBSERVATION (what a paper's figure shows empirically: the check
    says on what share of seeds it holds, and a share below 1 is a finding, not an error).
    """

    title: str
    markdown: str
    summary: str
    holds: bool | None
    kind: str = THEOREM


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote (report.md last) and the checks it made."""

    paths: list[Path]
    checks: list[Check]

    @property
    def violated(self) -> bool:
        """A theorem check failed (observations that hold on fewer seeds do not count)."""
        return any(check.holds is False and check.kind == THEOREM for check in self.checks)


def write_report(store_path: str | Path, out_dir: str | Path) -> Report:
    """Write every figure the store supports, ``summary.csv`` and ``report.md`` into ``out_dir``."""
    from sweep.problems import get_problem  # the registry: the one import from sweep

    ds = open_results(store_path)
    module = get_problem(problem_of(ds)).report_module()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checks = module.checks(ds) if module else []
    figures = [path for figure in (module.FIGURES if module else ()) for path in figure(ds, out_dir)]
    paths = [*figures]
    if module:
        csv_path = out_dir / "summary.csv"
        module.summary(ds).to_csv(csv_path, index=False)
        paths.append(csv_path)
    sections = [
        f"# Report: {spec_of(ds).get('name', Path(store_path).stem)} (problem `{problem_of(ds)}`)",
        f"Store: `{store_path}`",
        status_section(ds),
        *(f"## {check.title}\n\n{check.markdown}" for check in checks),
        *(module.sections(ds) if module else []),
        "## Figures\n\n" + ("\n\n".join(f"![]({path.name})" for path in figures if path.suffix == ".png")
                            or "None: the store holds nothing a figure of this problem can show."),
    ]
    report_path = out_dir / "report.md"
    report_path.write_text("\n\n".join(sections) + "\n")
    return Report([*paths, report_path], checks)


def status_section(ds: xr.Dataset) -> str:
    """The runs by status, as markdown (first in every report)."""
    counts = status_counts(ds)
    total = sum(counts.values())
    rows = [f"| {name} | {count} |" for name, count in counts.items() if count or name != "not_run"]
    return "## Runs\n\n" + "\n".join([f"{total} runs in the grid.", "", "| status | runs |", "|---|---|", *rows])


def frame(summary: xr.Dataset) -> pd.DataFrame:
    """A per-grid-point Dataset as a table, one row per grid point (one row if it has no dims)."""
    if not summary.dims:
        return pd.DataFrame([{name: value.item() for name, value in summary.data_vars.items()}])
    return summary.to_dataframe().reset_index()
