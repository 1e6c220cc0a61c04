"""The ``sweep`` command line: ``sweep run``, ``status``, ``show`` (and ``report``, ``paper``).

Each subcommand is one handler function registered with :func:`subcommand`; adding
one (``report``, ``paper``, ...) is one decorated function in this module or any
module imported here. Handlers return the exit code. Errors in the user's input
(spec, scheduler file, store mismatch) print one line to stderr and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Sequence

from sweep.cluster import ClusterConfigError
from sweep.params import ParamError
from sweep.spec import SpecError
from sweep.store import StoreError

USAGE_ERRORS = (SpecError, ParamError, ClusterConfigError, StoreError)
EXIT_USAGE = 2


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
        prog="sweep", description="Run sweeps of two-layer Leaky-ReLU networks into Zarr stores, and inspect them.")
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
    print(f"sweep {spec.name!r}: {plan.total_runs} runs, {plan.finished_runs} already done, "
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
    print(f"\nspec {dataset.attrs['spec']['name']!r}, hash {dataset.attrs['spec_hash'][:12]}, "
          f"git {dataset.attrs.get('git_revision')}")
    print("runs: " + ", ".join(f"{name} {count}" for name, count in run_counts(args.store).items()))
    finished = dataset[DONE].values
    print("\nover finished runs:   median        min        max")
    for name in ("epochs_clean", "epochs_conv", "epochs_bound", "final_loss", "test_acc", "wall_time"):
        if name in dataset:
            values = dataset[name].values[finished].astype(np.float64)
            values = values[np.isfinite(values) & (values >= 0)]
            if values.size:
                print(f"  {name:<18}{np.median(values):>10.4g} {values.min():>10.4g} {values.max():>10.4g}")
    return 0


# ---------------------------------------------------------------- sweep report, sweep paper (analysis/)

def _register_analysis_commands() -> None:
    from analysis import cli_commands

    subcommand("report", "write the figures and report.md of a store", cli_commands.report_arguments)(cli_commands.report)
    subcommand("paper", "run the paper's presets and report each", cli_commands.paper_arguments)(cli_commands.paper)


_register_analysis_commands()
