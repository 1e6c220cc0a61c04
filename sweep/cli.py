"""The ``sweep`` command line: ``run``, ``status``, ``show``, ``report``, ``paper``, ``problems``.

Each subcommand is one handler function registered with :func:`subcommand`; adding
one is one decorated function in this module. Handlers return the exit code. Errors in
the user's input (spec, scheduler file, store mismatch) print one line to stderr and
exit 2. Nothing here imports a problem's numerics until a run needs them: ``status``
and ``show`` import neither Numba nor SciPy.
"""
from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from sweep.cluster import ClusterConfigError
from sweep.problems.base import ParamError
from sweep.spec import SpecError
from sweep.store import StoreError

USAGE_ERRORS = (SpecError, ParamError, ClusterConfigError, StoreError)
EXIT_USAGE = 2
EXIT_BOUND_VIOLATED = 1  # `sweep report`: a run breaks a proven bound
PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Decorator: register ``handler(args) -> exit code`` as ``sweep NAME``."""

    def register(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        SUBCOMMANDS[name] = Subcommand(name, help, add_arguments, handler)
        return handler

    return register


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sweep`` console script and of ``python -m sweep``."""
    parser = argparse.ArgumentParser(
        prog="sweep", description="Run sweeps of teacher-student problems into Zarr stores, and inspect them.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS.values():
        command.add_arguments(commands.add_parser(command.name, help=command.help, description=command.help))
    args = parser.parse_args(argv)
    try:
        return SUBCOMMANDS[args.command].handler(args)
    except USAGE_ERRORS as error:
        print(f"sweep {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


# ---------------------------------------------------------------- sweep run

def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="sweep spec (YAML)")
    parser.add_argument("--store", required=True, help="Zarr store to create or resume")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="FILE",
                       help="scheduler config (default: ./scheduler.yaml, else a local cluster of 2 workers)")
    where.add_argument("--serial", action="store_true", help="run every task in this process (no Dask)")
    parser.add_argument("--overwrite", action="store_true", help="replace a store that holds another sweep")


@subcommand("run", "run (or resume) a sweep into a Zarr store", _run_arguments)
def run_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sweep.cluster import connect, load_cluster_config
    from sweep.engine import execute, prepare
    from sweep.spec import load_spec

    spec = load_spec(args.spec)
    cluster_config = None if args.serial else load_cluster_config(args.scheduler)  # validate before any work
    plan = prepare(spec, args.store, overwrite=args.overwrite)
    print(f"sweep {spec.name!r} (problem {spec.problem.name!r}): {plan.total_runs} runs, {plan.finished_runs} already done, "
          f"{len(plan.pending)} tasks to run -> {plan.store_path}")
    with connect(cluster_config) if cluster_config and plan.pending else nullcontext() as client:
        if client is not None:
            print(f"Dask dashboard: {client.dashboard_link}")
        with tqdm(total=plan.total_runs, initial=plan.finished_runs, unit="run", dynamic_ncols=True) as bar:
            summary = execute(plan, client, lambda tally: bar.update(tally.runs))
    outcome = ", ".join(f"{count} {name}" for name, count in sorted(summary.statuses.items())) or "nothing to do"
    print(f"ran {summary.runs} runs: {outcome}")
    return 0


# ---------------------------------------------------------------- sweep status

def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a store written by `sweep run`")


@subcommand("status", "count finished, failed, diverged and remaining runs of a store", _store_argument)
def status_command(args: argparse.Namespace) -> int:
    from sweep.store import run_counts

    counts = run_counts(args.store)
    width = max(map(len, counts))
    for name, count in counts.items():
        print(f"{name:<{width}}  {count}")
    return 0


# ---------------------------------------------------------------- sweep show

@subcommand("show", "print a store's xarray summary and a few statistics", _store_argument)
def show_command(args: argparse.Namespace) -> int:
    import numpy as np

    from sweep.store import DONE, open_store, run_counts

    dataset = open_store(args.store)
    print(dataset)
    spec = dataset.attrs["spec"]
    print(f"\nspec {spec['name']!r}, problem {spec.get('problem', 'separable')!r}, "
          f"hash {dataset.attrs['spec_hash'][:12]}, git {dataset.attrs.get('git_revision')}")
    print("runs: " + ", ".join(f"{name} {count}" for name, count in run_counts(args.store).items()))
    finished = dataset[DONE].values
    grid = dataset[DONE].dims
    scalars = [name for name, variable in dataset.data_vars.items()
               if variable.dims == grid and variable.dtype.kind in "iuf" and name != "status"]
    print("\nover finished runs:   median        min        max")
    for name in scalars:
        values = dataset[name].values[finished]
        values = values[values != -1] if values.dtype.kind in "iu" else values  # -1: not reached
        values = values[np.isfinite(values.astype(np.float64))].astype(np.float64)
        if values.size:
            print(f"  {name:<22}{np.median(values):>10.4g} {values.min():>10.4g} {values.max():>10.4g}")
    return 0


# ---------------------------------------------------------------- sweep report

def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a store written by `sweep run`")
    parser.add_argument("--out", required=True, help="directory for the figures and report.md")


@subcommand("report", "write the figures, summary.csv and report.md of a store", _report_arguments)
def report_command(args: argparse.Namespace) -> int:
    """Exit 1 when a run breaks a proven bound (so scripts notice)."""
    from analysis.report import write_report
    from sweep.store import open_store

    open_store(args.store)  # StoreError unless a sweep store
    report = write_report(args.store, args.out)
    for path in report.paths:
        print(path)
    for check in report.checks:
        print(check.summary)
    return EXIT_BOUND_VIOLATED if report.violated else 0


# ---------------------------------------------------------------- sweep paper

def _paper_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="directory for the stores, reports and index.md")
    parser.add_argument("--problem", default="separable",
                        help="whose paper presets to run (default: separable; 'all' for every problem)")


@subcommand("paper", "run a problem's paper presets (serially) and report each", _paper_arguments)
def paper_command(args: argparse.Namespace) -> int:
    """Every preset of ``Problem.presets`` run into ``OUT/<preset>.zarr`` (resuming what is
    there), reported into ``OUT/<preset>/`` and linked from ``OUT/index.md``."""
    from analysis.report import write_report
    from sweep.engine import run_sweep
    from sweep.problems import get_problem, problem_names
    from sweep.spec import load_spec

    names = problem_names() if args.problem == "all" else (args.problem,)
    presets = [preset for name in names for preset in get_problem(name).presets]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# The papers' figures (THEORY.md §5, §6)", ""]
    violated = False
    for preset in presets:
        store = out / f"{preset}.zarr"
        print(f"{preset}: running into {store}")
        run_sweep(load_spec(PRESETS_DIR / f"{preset}.yaml"), store)
        report = write_report(store, out / preset)
        violated |= report.violated
        print(f"{preset}: {len(report.paths)} files in {out / preset}")
        for check in report.checks:
            print(f"{preset}: {check.summary}")
        figures = [path for path in report.paths if path.suffix == ".png"]
        lines += [f"## [{preset}]({preset}/report.md)", "", *(f"![]({preset}/{p.name})" for p in figures), ""]
    (out / "index.md").write_text("\n".join(lines))
    print(out / "index.md")
    return EXIT_BOUND_VIOLATED if violated else 0


# ---------------------------------------------------------------- sweep problems

def _problems_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("problem", nargs="?", help="print this problem's parameters and stored variables")
    parser.add_argument("--update-readme", metavar="FILE",
                        help="rewrite the generated tables of FILE (between '<!-- sweep problems [NAME] -->' "
                             "and '<!-- end -->')")


@subcommand("problems", "list the problems, or one problem's parameters and variables (markdown)",
            _problems_arguments)
def problems_command(args: argparse.Namespace) -> int:
    from sweep.problems import get_problem, problem_names
    from sweep.problems.docs import parameters_table, problems_table, update_readme, variables_table

    if args.update_readme:
        path = Path(args.update_readme)
        path.write_text(update_readme(path.read_text()))
        print(f"updated the generated tables of {path}")
        return 0
    if args.problem is None:
        print(problems_table([get_problem(name) for name in problem_names()]))
        return 0
    problem = get_problem(args.problem)
    print(f"### Parameters of `{problem.name}`\n\n{parameters_table(problem)}\n")
    print(f"### Variables of `{problem.name}`\n\n{variables_table(problem)}")
    return 0
