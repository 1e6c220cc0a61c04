"""The ``sweep`` command line: ``run``, ``status``, ``show``, ``verify``, ``report``, ``replay``, ``paper``,
``problems``.

Each subcommand is one handler function registered with :func:`subcommand`; adding
one is one decorated function in this module. Handlers return the exit code. Mistakes
in the user's input (spec, scheduler config, store mismatch) and problems of the
environment (a file that cannot be read or written, a scheduler that does not answer,
a store in use or damaged) print one line to stderr and exit 2, never a traceback;
Ctrl-C exits 130 saying what was saved, SIGTERM (a batch system's ``scancel``, a
container stop) does the same and exits 143; a closed pipe (``| head``) ends quietly.
Nothing here imports a problem's numerics until a run needs them: ``status``, ``show``
and ``verify`` import neither Numba nor SciPy.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from sweep.cluster import ClusterConfigError, ClusterUnavailable, SchedulerLost
from sweep.lock import LockError, LockLost
from sweep.problems import DEFAULT_PROBLEM
from sweep.problems.parameters import ParamError
from sweep.spec import MAX_GRID_RUNS, SpecError
from sweep.store import StoreError, byte_size, plural

USAGE_ERRORS = (SpecError, ParamError, ClusterConfigError, ClusterUnavailable, StoreError, LockError, LockLost)
EXIT_USAGE = 2
EXIT_BOUND_VIOLATED = 1  # `sweep report`: a run breaks a proven bound
EXIT_DAMAGED = 1         # `sweep verify`: some chunks are damaged
EXIT_NOT_REPRODUCED = 1  # `sweep replay`: the replayed run differs from the stored one
EXIT_INTERRUPTED = 130   # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143    # SIGTERM (128 + SIGTERM), handled as Ctrl-C
EXIT_BROKEN_PIPE = 141   # stdout closed by the reader (128 + SIGPIPE)
PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
MAX_README_BYTES = 2**24  # `sweep problems --update-readme FILE` reads at most this


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread and handled as Ctrl-C is (the lock released, the
    cluster closed, the saved runs counted)."""


def _raise_terminated(number, frame) -> None:
    raise Terminated()


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
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = SUBCOMMANDS[args.command].handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except USAGE_ERRORS as error:
        return _fail(args.command, str(error))
    except BrokenPipeError:
        _detach_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as error:  # the environment: a file that cannot be read or written (the store's, if unnamed)
        where = error.filename or getattr(args, "store", None)
        where = f": {str(where)!r}" if where else ""
        return _fail(args.command, f"{error.strerror or error}{where}")
    except KeyboardInterrupt as interrupt:
        print(f"sweep {args.command}: interrupted", file=sys.stderr)
        return _interrupted(interrupt)


def _interrupted(interrupt: KeyboardInterrupt) -> int:
    """The exit code of Ctrl-C (130) or SIGTERM (143)."""
    return EXIT_TERMINATED if isinstance(interrupt, Terminated) else EXIT_INTERRUPTED


def _fail(command: str, message: str) -> int:
    print(f"sweep {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _detach_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# ---------------------------------------------------------------- sweep run

def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="sweep spec (YAML)")
    parser.add_argument("--store", required=True, help="Zarr store to create or resume")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="FILE",
                       help="scheduler config (default: ./scheduler.yaml, else a local cluster of 2 workers)")
    where.add_argument("--serial", action="store_true", help="run every task in this process (no Dask)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a store that holds another sweep (with --force, also one of the same sweep)")
    parser.add_argument("--force", action="store_true",
                        help="with --overwrite: discard the finished runs of a store of this same sweep")
    parser.add_argument("--retry-failed", action="store_true",
                        help="rerun the runs recorded as failed (a resume otherwise keeps them)")
    parser.add_argument("--max-runs", type=int, default=MAX_GRID_RUNS, metavar="N",
                        help=f"refuse a grid of more than N runs (default {MAX_GRID_RUNS:,})")
    parser.add_argument("--reuse", action="append", default=[], metavar="OTHER",
                        help="copy every run that the store OTHER holds finished with the same parameters instead of "
                             "computing it (repeatable)")


@subcommand("run", "run (or resume, or repair) a sweep into a Zarr store", _run_arguments)
def run_command(args: argparse.Namespace) -> int:
    """Exit 130 on Ctrl-C (143 on SIGTERM), saying how many runs the store holds."""
    from sweep.cluster import connect, load_cluster_config
    from sweep.copying import open_source
    from sweep.engine import plan_sweep, resolve_store_path
    from sweep.lock import StoreLock
    from sweep.spec import load_spec

    if args.force and not args.overwrite:
        raise StoreError("--force only goes with --overwrite")
    spec = load_spec(args.spec, max_runs=args.max_runs)
    cluster_config = None if args.serial else load_cluster_config(args.scheduler)  # validate before any work
    path = resolve_store_path(args.store)
    with StoreLock(path) as lock:
        plan = plan_sweep(spec, path, token=lock.token, overwrite=args.overwrite, force=args.force,
                          retry_failed=args.retry_failed)
        sources = [open_source(other, plan.layout, plan.spec.problem.name) for other in args.reuse]
        _print_plan(plan)
        if not plan.has_work:
            print("ran 0 runs: nothing to do")
            return 0
        try:
            with connect(cluster_config) if cluster_config else nullcontext() as client:
                summary = _run_plan(plan, client, sources)
        except KeyboardInterrupt as interrupt:
            print(f"\ninterrupted: {_saved_runs(path)} runs saved in {path}; run the same command to resume",
                  file=sys.stderr)
            return _interrupted(interrupt)
        except SchedulerLost as error:
            raise SchedulerLost(f"{error}; {_saved_runs(path)} runs saved in {path}; restart the scheduler and run "
                                "the same command to resume") from None
    outcome = ", ".join(f"{count} {name}" for name, count in sorted(summary.statuses.items())) or "nothing to do"
    print(f"ran {summary.runs} runs: {outcome}")
    if summary.warnings:
        counts = ", ".join(f"{kind} in {plural(runs, 'run')}" for kind, runs in sorted(summary.warnings.items()))
        print(f"warnings of runs (not shown): {counts}")
    return 0


def _print_plan(plan) -> None:
    from sweep.growth import describe_growth

    spec = plan.spec
    if plan.action == "repair":
        what = "its metadata is damaged: rebuilding it, then rerunning what is not intact"
    elif plan.action == "grow":
        what = (f"growing the store by {describe_growth(plan.grown_from, spec)} "
                f"({plural(plan.total_runs - plan.grown_from.size, 'new run')}), {plan.finished_runs:,} already done")
    else:
        what = f"{plan.finished_runs:,} already done, {plural(len(plan.pending), 'task')} to run"
    print(f"sweep {spec.name!r} (problem {spec.problem.name!r}): {plural(plan.total_runs, 'run')}, {what} -> "
          f"{plan.store_path}")
    if plan.action == "create" and plan.total_runs * plan.layout.bytes_per_run > 2**30:
        print(f"the store takes up to {byte_size(plan.total_runs * plan.layout.bytes_per_run)} before compression")
    health = plan.health
    if health is not None and (health.damaged or health.coordinates):
        print(f"damaged: {plural(health.damaged_runs, 'run')} in {plural(len(health.damaged), 'block')}, rerun now:")
        for line in health.lines():
            print(f"  {line}")


def _run_plan(plan, client, sources):
    """Start the plan (create, grow or repair the store), copy what ``sources`` hold
    finished, and execute the rest with a progress bar."""
    from tqdm import tqdm

    from sweep.engine import execute, kernels_need_compiling, reuse_runs, start

    if client is not None:
        print(f"Dask dashboard: {client.dashboard_link}")
    action = plan.action
    plan = start(plan)
    if action == "repair":
        print(f"rebuilt the metadata: {plan.finished_runs:,} runs intact, {plural(len(plan.pending), 'task')} to run")
    elif action == "grow":
        print(f"grew the store: {plan.finished_runs:,} finished runs kept, {plural(len(plan.pending), 'task')} to run")
    if sources:
        plan, copied = reuse_runs(plan, sources)
        print(f"reused {plural(sum(copied.values()), 'run')} ("
              + ", ".join(f"{count:,} from {path}" for path, count in copied.items())
              + f"), {plural(len(plan.pending), 'task')} to run")
    if plan.pending and kernels_need_compiling(plan.spec):
        workers = len(client.nthreads()) if client is not None else 1
        on = plural(workers, "worker") if workers else "each worker"  # batch jobs: none may have started yet
        print(f"compiling kernels on {on} (first run only)", flush=True)
    with (tqdm(total=plan.total_runs, initial=plan.finished_runs, unit="run", dynamic_ncols=True) as bar,
          _job_states_shown(bar, client)):
        return execute(plan, client, lambda tally: bar.update(tally.runs),
                       on_message=lambda message: bar.write(message, file=sys.stderr))


@contextmanager
def _job_states_shown(bar, client):
    """While the block runs, the progress bar of a jobqueue cluster's sweep ends with
    "jobs: P pending, R running" (:func:`sweep.cluster.job_states`, read every second)."""
    from sweep.cluster import job_states

    if client is None or job_states(client) is None:
        yield
        return
    stop = threading.Event()

    def show() -> None:
        while True:
            pending, running = job_states(client)
            bar.set_postfix_str(f"jobs: {pending} pending, {running} running")
            if stop.wait(1.0):
                return

    thread = threading.Thread(target=show, name="job-states", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _saved_runs(path) -> int:
    from sweep.store import is_store, scan_store

    return int(scan_store(path).done.sum()) if is_store(path) else 0


# ---------------------------------------------------------------- sweep merge

def _merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stores", nargs="+", help="stores of one problem, the same fixed parameters and grid dims")
    parser.add_argument("--out", required=True, help="the new store (must not exist)")


@subcommand("merge", "combine the finished runs of stores whose grids are parts of one sweep into a new store",
            _merge_arguments)
def merge_command(args: argparse.Namespace) -> int:
    from sweep.engine import merge_stores, resolve_store_path
    from sweep.lock import StoreLock

    out = resolve_store_path(args.out)
    with StoreLock(out) as lock:
        union, copied = merge_stores(args.stores, out, lock.token)
    finished = sum(copied.values())
    print(f"merged {plural(finished, 'run')} into {out} ("
          + ", ".join(f"{count:,} from {path}" for path, count in copied.items())
          + f"): {finished:,} of {plural(union.size, 'run')} of the union finished; the grid: "
          + "; ".join(f"{dim} {list(values)}" for dim, values in union.grid.items()))
    return 0


# ---------------------------------------------------------------- sweep status

def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a store written by `sweep run`")


@subcommand("status", "count finished, failed, diverged and remaining runs of a store", _store_argument)
def status_command(args: argparse.Namespace) -> int:
    from sweep.growth import history_lines
    from sweep.store import root_attrs, run_counts, scan_store

    health = scan_store(args.store)
    counts = run_counts(args.store, health)
    width = max(map(len, counts))
    for name, count in counts.items():
        print(f"{name:<{width}}  {count}")
    _print_damage(health)
    history = root_attrs(args.store).get("history")
    if history:
        print("history:")
        for line in history_lines(history):
            print(f"  {line}")
    return 0


def _print_damage(health) -> None:
    if health.damaged or health.coordinates:
        print(f"damaged: {plural(health.damaged_runs, 'run')} in {plural(len(health.damaged), 'block')} count as "
              "remaining (`sweep run` reruns them):")
        for line in health.lines():
            print(f"  {line}")


# ---------------------------------------------------------------- sweep show

@subcommand("show", "print a store's xarray summary and a few statistics", _store_argument)
def show_command(args: argparse.Namespace) -> int:
    import numpy as np

    from sweep.store import DONE, open_store, run_counts, scan_store

    health = scan_store(args.store)
    dataset = open_store(args.store)
    print(dataset)
    spec = dataset.attrs["spec"]
    print(f"\nspec {spec['name']!r}, problem {spec.get('problem', DEFAULT_PROBLEM)!r}, "
          f"hash {dataset.attrs['spec_hash'][:12]}, git {dataset.attrs.get('git_revision')}")
    print("runs: " + ", ".join(f"{name} {count}" for name, count in run_counts(args.store, health).items()))
    _print_damage(health)
    finished = health.done
    grid = dataset[DONE].dims
    scalars = [name for name, variable in dataset.data_vars.items()
               if variable.dims == grid and variable.dtype.kind in "iuf" and name != "status"]
    print("\nover finished runs:   median        min        max")
    for name in scalars:
        try:
            values = dataset[name].values[finished]
        except Exception as error:  # a chunk the quick scan did not decode
            print(f"  {name:<22}unreadable ({type(error).__name__}); `sweep verify` lists the damaged blocks")
            continue
        values = values[values != -1] if values.dtype.kind in "iu" else values  # -1: not reached
        values = values[np.isfinite(values.astype(np.float64))].astype(np.float64)
        if values.size:
            print(f"  {name:<22}{np.median(values):>10.4g} {values.min():>10.4g} {values.max():>10.4g}")
    return 0


# ---------------------------------------------------------------- sweep verify

@subcommand("verify", "decode every chunk of a store; list damaged blocks and what `sweep run` would rerun",
            _store_argument)
def verify_command(args: argparse.Namespace) -> int:
    """Exit 1 when something is damaged (so scripts notice)."""
    from sweep.store import blocks_of, scan_store

    health = scan_store(args.store, decode=True)
    print(f"{args.store}: {plural(health.done.size, 'run')} in "
          f"{plural(len(blocks_of(health.done.shape, health.chunks)), 'block')}, {int(health.done.sum()):,} finished "
          "and intact")
    if not (health.damaged or health.coordinates):
        print("every chunk is readable")
        return 0
    for line in health.lines():
        print(f"  {line}")
    print(f"`sweep run` would rerun {plural(health.damaged_runs, 'run')} in {plural(len(health.damaged), 'block')}"
          + (" and rewrite the coordinates" if health.coordinates else ""))
    return EXIT_DAMAGED


# ---------------------------------------------------------------- sweep report

def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a store written by `sweep run`")
    parser.add_argument("--out", required=True, help="directory for the figures and report.md")


@subcommand("report", "write the figures, summary.csv and report.md of a store", _report_arguments)
def report_command(args: argparse.Namespace) -> int:
    """Exit 1 when a run breaks a proven bound (so scripts notice)."""
    from sweep.report import write_report
    from sweep.store import scan_store

    health = scan_store(args.store, decode=True)  # StoreError unless a sweep store
    if health.damaged or health.coordinates:
        raise StoreError(f"the store {args.store!r} has damaged blocks ({health.damaged_runs} runs); "
                         "`sweep verify` lists them, `sweep run` with its spec reruns them")
    report = write_report(args.store, args.out)
    print(report.progress)
    for path in report.paths:
        print(path)
    for check in report.checks:
        print(check.summary)
    return EXIT_BOUND_VIOLATED if report.violated else 0


# ---------------------------------------------------------------- sweep replay

def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a store written by `sweep run`")
    parser.add_argument("--at", required=True, metavar="DIM=VALUE,...",
                        help="the run's grid point, e.g. seed=3,width=16 (a dim with one value may be left out)")
    parser.add_argument("--out", metavar="PATH", help="write the run's trajectory there (a new Zarr store)")


@subcommand("replay", "train one stored run again, check it against the store and give its full trajectory",
            _replay_arguments)
def replay_command(args: argparse.Namespace) -> int:
    """Exit 1 when the replayed run differs from the stored one (each differing variable
    on one line); the trajectory is written to ``--out`` either way."""
    from sweep.replay import ReplayError, replay

    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        return _fail("replay", f"--out {str(out)!r} exists; give a new path")
    try:
        replayed = replay(args.store, args.at)
    except ReplayError as error:
        return _fail("replay", str(error))
    where = ", ".join(f"{key}={value}" for key, value in replayed.at.items())
    if out is not None:
        replayed.trajectory.to_zarr(out, mode="w-", zarr_format=3, consolidated=False)
    print(replayed.trajectory if out is None else f"trajectory written to {out}")
    if not replayed.reproduced:
        print(f"run {where}: NOT reproduced ({replayed.comparison}):", file=sys.stderr)
        for line in replayed.differences:
            print(f"  {line}", file=sys.stderr)
        return EXIT_NOT_REPRODUCED
    print(f"run {where}: every stored value reproduced, {replayed.comparison}")
    return 0


# ---------------------------------------------------------------- sweep paper

def _paper_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="directory for the stores, reports and index.md")
    parser.add_argument("--problem", default=DEFAULT_PROBLEM,
                        help=f"whose paper presets to run (default: {DEFAULT_PROBLEM}; 'all' for every problem)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="FILE",
                       help="scheduler config (default: ./scheduler.yaml, else a local cluster of 2 workers)")
    where.add_argument("--serial", action="store_true", help="run every task in this process (no Dask)")
    parser.add_argument("--update-readme", metavar="FILE",
                        help="then rewrite FILE's measured results of each problem run (between "
                             "'<!-- sweep paper NAME -->' and '<!-- end -->') from the stores")


@subcommand("paper", "run a problem's paper presets on the cluster and report each", _paper_arguments)
def paper_command(args: argparse.Namespace) -> int:
    """Every preset of ``Problem.presets`` run into ``OUT/<preset>.zarr`` (resuming what is
    there) on one cluster, as `sweep run` would, reported into ``OUT/<preset>/`` and linked
    from ``OUT/index.md``; with ``--update-readme FILE`` FILE's measured results rewritten
    from them (:mod:`sweep.measured`; a FILE without their blocks is refused before any run). Exit 1 when a run breaks a proven bound, 130 on Ctrl-C."""
    from sweep.report import write_report, write_study
    from sweep.cluster import connect, load_cluster_config
    from sweep.engine import plan_sweep, resolve_store_path
    from sweep.lock import StoreLock
    from sweep.problems import get_problem, problem_names
    from sweep.spec import load_spec
    from analysis.stats import open_results
    from sweep.measured import missing_blocks, preset_result, results_table, update_measured

    names = problem_names() if args.problem == "all" else (args.problem,)
    problem_of = {preset: name for name in names for preset in get_problem(name).presets}
    specs = {preset: load_spec(PRESETS_DIR / f"{preset}.yaml") for preset in problem_of}
    cluster_config = None if args.serial else load_cluster_config(args.scheduler)  # validate before any work
    readme = Path(args.update_readme) if args.update_readme else None
    if readme is not None and (missing := missing_blocks(readme.read_text(), list(names))):
        return _fail("paper", f"--update-readme: {str(readme)!r} has no block '<!-- sweep paper {missing[0]} -->' "
                              f"... '<!-- end -->' for the measured results")
    results: dict[str, list] = {name: [] for name in names}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# The papers' figures (THEORY.md §5, §6)", ""]
    violated = False
    with connect(cluster_config) if cluster_config else nullcontext() as client:
        for preset, spec in specs.items():
            path = resolve_store_path(out / f"{preset}.zarr")
            with StoreLock(path) as lock:
                plan = plan_sweep(spec, path, token=lock.token)
                _print_plan(plan)
                try:
                    if plan.has_work:
                        _run_plan(plan, client)
                except KeyboardInterrupt as interrupt:
                    print(f"\ninterrupted: {_saved_runs(path)} runs saved in {path}; run the same command to resume",
                          file=sys.stderr)
                    return _interrupted(interrupt)
            report = write_report(path, out / preset)
            violated |= report.violated
            print(f"{preset}: {len(report.paths)} files in {out / preset}")
            for check in report.checks:
                print(f"{preset}: {check.summary}")
            results[problem_of[preset]].append(preset_result(preset, open_results(path), report.checks))
            figures = [file for file in report.paths if file.suffix == ".png"]
            lines += [f"## [{preset}]({preset}/report.md)", "", *(f"![]({preset}/{file.name})" for file in figures), ""]
    for name in names:
        presets = {preset: resolve_store_path(out / f"{preset}.zarr") for preset in get_problem(name).presets}
        if (section := write_study(get_problem(name), presets)) is not None:
            lines += [section, ""]
    (out / "index.md").write_text("\n".join(lines))
    print(out / "index.md")
    if readme is not None:
        readme.write_text(update_measured(readme.read_text(), {name: results_table(rows)
                                                               for name, rows in results.items()}))
        print(f"updated the measured results of {', '.join(names)} in {readme}")
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
    from sweep.files import read_bounded
    from sweep.problems import get_problem, problem_names
    from sweep.problems.docs import parameters_table, problems_table, update_readme, variables_table

    if args.update_readme:
        path = Path(args.update_readme)
        path.write_text(update_readme(read_bounded(path, MAX_README_BYTES).decode("utf-8")))
        print(f"updated the generated tables of {path}")
        return 0
    if args.problem is None:
        print(problems_table([get_problem(name) for name in problem_names()]))
        return 0
    problem = get_problem(args.problem)
    print(f"### Parameters of `{problem.name}`\n\n{parameters_table(problem)}\n")
    print(f"### Variables of `{problem.name}`\n\n{variables_table(problem)}")
    return 0
