"""The sweep engine: prepare (or resume) a store, then run its pending blocks.

:func:`prepare` creates the store of a spec, or checks that an existing one is the
same sweep, and lists the blocks whose runs are not all ``done``. :func:`execute` runs
them in this process (``client=None``) or on a Dask cluster, keeping at most
IN_FLIGHT_PER_THREAD tasks per worker thread in flight. Tasks write their own blocks of
the store (see sweep/tasks.py), so the client only schedules and counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from sweep.spec import SweepSpec
from sweep.store import StoreError, StoreLayout, check_store, create_store, grid_chunks, is_store, layout_for, read_done
from sweep.tasks import Block, RunTally, blocks_of, choose_chunks, run_block

if TYPE_CHECKING:
    import distributed

IN_FLIGHT_PER_THREAD = 3


@dataclass(frozen=True)
class SweepPlan:
    """What remains to do for a sweep whose store exists."""

    spec: SweepSpec
    store_path: str
    layout: StoreLayout
    pending: tuple[Block, ...]
    total_runs: int
    finished_runs: int


def prepare(spec: SweepSpec, store_path: str | Path, *, overwrite: bool = False) -> SweepPlan:
    """Create the store (or reuse the one of the same spec) and plan the pending blocks.

    Raises StoreError if ``store_path`` holds another sweep (unless ``overwrite``) or
    is anything but a sweep store or a missing / empty directory (even with ``overwrite``).
    """
    path = Path(store_path).absolute()
    if path.exists() and not is_store(path) and not (path.is_dir() and not any(path.iterdir())):
        raise StoreError(f"{str(path)!r} exists and is not a sweep store; refusing to touch it")
    if is_store(path) and not overwrite:
        check_store(path, spec)
    else:
        create_store(path, spec, choose_chunks(spec))
    done = read_done(path)
    pending = tuple(block for block in blocks_of(spec.shape, grid_chunks(path))
                    if not done[tuple(slice(o, o + n) for o, n in zip(block.origin, block.shape))].all())
    return SweepPlan(spec, str(path), layout_for(spec), pending, total_runs=done.size,
                     finished_runs=int(done.sum()))


def execute(plan: SweepPlan, client: "distributed.Client | None" = None,
            on_block_done: Callable[[RunTally], None] = lambda tally: None) -> RunTally:
    """Run the plan's pending blocks, serially here or on ``client``'s cluster, and
    return the tally of the runs executed. ``on_block_done`` is called on this process for each finished block. A task that
    raises (not a run: runs record their failures) stops the sweep with that error.
    """
    total = RunTally()

    def finished(tally: RunTally) -> None:
        total.add(tally)
        on_block_done(tally)

    if client is None:
        for block in plan.pending:
            finished(run_block(plan.store_path, plan.spec, plan.layout, block))
    else:
        _execute_on_cluster(plan, client, finished)
    return total


def run_sweep(spec: SweepSpec, store_path: str | Path, *, client: "distributed.Client | None" = None,
              overwrite: bool = False) -> RunTally:
    """:func:`prepare` then :func:`execute` (no progress reporting)."""
    return execute(prepare(spec, store_path, overwrite=overwrite), client)


def _execute_on_cluster(plan: SweepPlan, client: "distributed.Client",
                        finished: Callable[[RunTally], None]) -> None:
    """Submit blocks as earlier ones finish, at most IN_FLIGHT_PER_THREAD per worker thread."""
    from distributed import as_completed

    client.wait_for_workers(1)
    threads = sum(client.nthreads().values())
    blocks = iter(plan.pending)

    def submit_next(count: int) -> list:
        return [client.submit(run_block, plan.store_path, plan.spec, plan.layout, block, pure=False)
                for block in _take(blocks, count)]

    in_flight = as_completed(submit_next(IN_FLIGHT_PER_THREAD * threads))
    for future in in_flight:
        tally = future.result()  # re-raises a task's error
        future.release()
        finished(tally)
        for new in submit_next(1):
            in_flight.add(new)


def _take(iterator, count: int) -> list:
    return [item for _, item in zip(range(count), iterator)]
