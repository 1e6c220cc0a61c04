"""`sweep report`: the report of one results store, for any problem: ``report.md``,
``summary.csv`` and every figure the store supports.

``report.md`` lists, in this order: the runs by status, the problem's checks of its
theory (:mod:`analysis.checks`: each says what it checked, or that it checked nothing and
why), the problem's own sections, and the figures inline. What it takes from the problem
is its report module (``Problem.report``, the names of
:data:`~sweep.problems.contract.REPORT_PROTOCOL`); the store it hands over lists every
parameter in its spec (:func:`with_defaults`) and its finished runs only
(:func:`sweep.reading.finished_only`): a store that a `sweep run` is still writing is
reported as far as it is finished ("N of M runs finished"), its lock never touched.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from analysis.checks import THEOREM, Check
from analysis.stats import grid_dims, open_results, spec_of, status_counts
from analysis.tables import markdown_rows
from sweep.problems import DEFAULT_PROBLEM, get_problem
from sweep.problems.contract import Problem
from sweep.reading import finished_only, in_value_order, progress


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote (report.md last), the checks it made and how many
    runs it read ('N of M runs finished')."""

    paths: list[Path]
    checks: list[Check]
    progress: str

    @property
    def violated(self) -> bool:
        """A theorem check failed (observations that hold on fewer seeds do not count)."""
        return any(check.holds is False and check.kind == THEOREM for check in self.checks)


def stored_problem(ds: xr.Dataset) -> Problem:
    """The problem whose sweep the store holds (a store without one holds DEFAULT_PROBLEM's)."""
    return get_problem(spec_of(ds).get("problem", DEFAULT_PROBLEM))


def with_defaults(ds: xr.Dataset, problem: Problem) -> xr.Dataset:
    """``ds`` whose spec lists every fixed parameter: a store written before one of them
    existed gets its default (what its runs used), so a problem's report can read any."""
    spec = spec_of(ds)
    grid = set(grid_dims(ds))
    defaults = {name: value for name, value in problem.params.defaults().items() if name not in grid}
    ds = ds.copy()
    ds.attrs = {**ds.attrs, "spec": {**spec, "params": {**defaults, **spec.get("params", {})}}}
    return ds


def as_analysed(ds: xr.Dataset, problem: Problem) -> xr.Dataset:
    """The view of a store that every analysis reads (`sweep report`, ``ds.sweep``): every
    parameter in its spec, numeric grid dims in ascending order, the runs not finished at
    their fill (:mod:`sweep.reading`)."""
    return finished_only(in_value_order(with_defaults(ds, problem)))


def write_report(store_path: str | Path, out_dir: str | Path) -> Report:
    """Write every figure the store supports, ``summary.csv`` and ``report.md`` into ``out_dir``."""
    ds = open_results(store_path)
    problem = stored_problem(ds)
    ds = as_analysed(ds, problem)
    module = problem.report_module()
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
        f"# Report: {spec_of(ds).get('name', Path(store_path).stem)} (problem `{problem.name}`)",
        f"Store: `{store_path}`",
        status_section(ds),
        *(f"## {check.title}\n\n{check.markdown}" for check in checks),
        *(module.sections(ds) if module else []),
        "## Figures\n\n" + ("\n\n".join(f"![]({path.name})" for path in figures if path.suffix == ".png")
                            or "None: the store holds nothing a figure of this problem can show."),
    ]
    report_path = out_dir / "report.md"
    report_path.write_text("\n\n".join(sections) + "\n")
    return Report([*paths, report_path], checks, progress(ds))


def write_study(problem: Problem, stores: dict[str, Path]) -> str | None:
    """The problem's study section over the stores of its presets (the report module's
    optional ``study``, :data:`~sweep.problems.contract.OPTIONAL_REPORT`), each store as
    `sweep report` reads it; None where the module defines none."""
    module = problem.report_module()
    if module is None or not hasattr(module, "study"):
        return None
    return module.study({name: as_analysed(open_results(path), problem) for name, path in stores.items()})


def status_section(ds: xr.Dataset) -> str:
    """The runs by status, as markdown (first in every report): 'N of M runs finished'."""
    counts = status_counts(ds)
    rows = [(name, count) for name, count in counts.items() if count or name != "not_run"]
    return f"## Runs\n\n{progress(ds)}.\n\n{markdown_rows(['status', 'runs'], rows)}"
