"""The sweep engine: plan a sweep into a store, create or repair the store, run the pending blocks.

One `sweep run` holds the store's lock (:class:`sweep.lock.StoreLock`) throughout;
its token goes with every task (:class:`sweep.store.WriteTarget`). :func:`plan_sweep`
reads what is there without changing anything (a new store, a store to repair, or one
to resume: its blocks not all done or damaged, :func:`sweep.store.scan_store` by the
files' fingerprints);
:func:`start` creates or repairs the store; :func:`execute` runs the pending blocks in
this process (``client=None``) or on a Dask cluster, keeping at most
IN_FLIGHT_PER_THREAD tasks per worker thread in flight. Tasks write their own blocks of
the store (see sweep/tasks.py), so the client only schedules and counts.

A block whose task kills its worker (Dask gives up after its ``allowed-failures``)
is not fatal: its runs are rerun one per task (:func:`sweep.tasks.run_point`); a run
that kills its worker again is recorded as failed with the reason (e.g. "worker died:
memory limit 4 GiB"), and the client writes the block. A recorded failure is final: a
resume reruns it only with ``retry_failed``.
"""
from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from sweep.cluster import planned_threads
from sweep.copying import RunsDisagree, Source, copy_runs, open_source, union_spec
from sweep.growth import check_layout_kept, grow_store, grown_spec, stored_spec_at
from sweep.lock import StoreLock
from sweep.problems.results import STATUS
from sweep.spec import SweepSpec
from sweep.store import (Block, BlockResults, Health, StoreError, StoreLayout, WriteTarget, blocks_of, byte_size,
                         check_format, check_store, check_writable, create_store, grid_chunks, layout_for, plural,
                         remove_leftovers, repair_store, root_attrs, scan_store, store_damage, store_kind)
from sweep.tasks import Outcome, RunTally, block_to_run, choose_chunks, run_block, run_point

if TYPE_CHECKING:
    import distributed

IN_FLIGHT_PER_THREAD = 3


@dataclass(frozen=True)
class SweepPlan:
    """What running ``spec`` into the store at ``store_path`` does.

    ``action``: "create" (a new store, or ``--overwrite``), "repair" (a damaged store of
    this sweep: metadata rebuilt, then planned again), "grow" (a store of ``grown_from``,
    a sweep that ``spec`` extends: grown, then planned again; :mod:`sweep.growth`) or
    "resume". ``spec`` is in the store's order. ``pending``: the blocks to run (None until
    a repaired or grown store is scanned); ``health``: the scan of an existing store
    (damaged blocks are pending); ``retry_failed``: blocks holding a failed run are
    pending too. ``kept``: per pending block (by origin) that holds finished runs to keep
    (a block a grow cut short, one whose failed run is retried), their mask: the block's
    task rewrites them as stored and runs the others.
    """

    spec: SweepSpec
    store_path: str
    token: str | None
    action: str
    layout: StoreLayout
    chunks: tuple[int, ...] | None
    pending: tuple[Block, ...] | None
    total_runs: int
    finished_runs: int
    health: Health | None = None
    retry_failed: bool = False
    grown_from: SweepSpec | None = None
    kept: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)

    @property
    def target(self) -> WriteTarget:
        return WriteTarget(self.store_path, self.spec.hash, self.token)

    @property
    def has_work(self) -> bool:
        return self.action != "resume" or bool(self.pending) or bool(self.health and self.health.coordinates)


def resolve_store_path(store_path: str | Path) -> Path:
    """The absolute path of a store with symbolic links resolved (a link to a store, or a
    dangling link to where one is to be created, means that place). StoreError for a
    path that cannot be a store: a loop of symbolic links, or one without a name (``/``:
    the lock file goes beside the store)."""
    try:
        path = Path(store_path).expanduser().resolve()
    except (RuntimeError, OSError) as error:  # a loop: RuntimeError up to Python 3.12, OSError (ELOOP) after
        raise StoreError(f"the store path {str(store_path)!r} cannot be resolved ({error})") from None
    if path.parent == path:
        raise StoreError(f"the store path {str(store_path)!r} is the root directory; a store is a directory with a "
                         "name, its lock file goes beside it")
    return path


def plan_sweep(spec: SweepSpec, store_path: str | Path, *, token: str | None = None, overwrite: bool = False,
               force: bool = False, retry_failed: bool = False) -> SweepPlan:
    """Plan ``spec`` into ``store_path`` without changing anything (an existing store is
    scanned, its files checked by fingerprint).

    Raises StoreError when one run's results would not fit in memory
    (:meth:`StoreLayout.check_run_size`), when the path is not a sweep store (even with
    ``overwrite``), holds a sweep that ``spec`` does not extend (unless ``overwrite``;
    GrowthRefused says what differs) or whose runs it would store in another shape, holds this sweep with
    finished runs and ``overwrite`` without ``force``, is damaged and not recognisably this
    sweep's (unless ``overwrite``), or cannot be written.
    """
    path = resolve_store_path(store_path)
    layout = layout_for(spec)
    layout.check_run_size()
    kind = store_kind(path)
    if kind == "foreign":
        raise StoreError(f"{str(path)!r} exists and is not a sweep store; refusing to touch it")
    check_writable(path)
    plan = SweepPlan(spec, str(path), token, "create", layout, None, None, spec.size, 0, retry_failed=retry_failed)
    if kind in ("missing", "empty"):
        return _fresh(plan)
    if kind == "damaged":
        if overwrite:
            return _fresh(plan)
        damage = store_damage(path)
        if damage.spec_hash != spec.hash:
            raise StoreError(f"{damage} (it is not recognisably a store of spec {spec.name!r}, hash "
                             f"{spec.hash[:12]})")
        return replace(plan, action="repair")
    if overwrite:
        _refuse_discarding(path, spec, force)
        return _fresh(plan)
    check_format(path)
    stored = spec if root_attrs(path).get("spec_hash") == spec.hash else stored_spec_at(path)  # this very sweep
    if stored.hash != spec.hash:
        spec = grown_spec(stored, spec, str(path))  # GrowthRefused unless it extends the stored sweep
        if spec.hash != stored.hash:
            check_layout_kept(path, stored, spec)
            health = scan_store(path)  # the grown store is scanned in full once grown
            return replace(plan, spec=spec, layout=layout_for(spec), action="grow", chunks=health.chunks,
                           total_runs=spec.size, finished_runs=int(health.done.sum()), health=health,
                           grown_from=stored)
    check_store(path, spec)  # also refuses a stored spec that this code reads as another sweep
    health = scan_store(path, fingerprints=True)
    redo = ~health.done
    if retry_failed:
        redo |= health.status == STATUS["failed"]
    pending = tuple(block for block in blocks_of(spec.shape, health.chunks) if redo[block.region].any())
    kept = {block.origin: ~redo[block.region] for block in pending if not redo[block.region].all()}
    return replace(plan, action="resume", chunks=health.chunks, pending=pending,
                   finished_runs=int(health.done.sum()), health=health, kept=kept)


def start(plan: SweepPlan) -> SweepPlan:
    """Create or repair the store as ``plan`` says (call while holding its lock); the
    plan of what then remains to run."""
    remove_leftovers(plan.store_path)
    if plan.action == "create":
        create_store(plan.store_path, plan.spec, plan.chunks)
        return plan
    if plan.action == "grow":
        grow_store(plan.store_path, plan.grown_from, plan.spec, plan.chunks)
        return plan_sweep(plan.spec, plan.store_path, token=plan.token, retry_failed=plan.retry_failed)
    if plan.action == "repair" or plan.health.coordinates:
        repair_store(plan.store_path, plan.spec)
        return plan_sweep(plan.spec, plan.store_path, token=plan.token, retry_failed=plan.retry_failed)
    return plan


def reuse_runs(plan: SweepPlan, sources: list[Source]) -> tuple[SweepPlan, dict[str, int]]:
    """After :func:`start`: copy every pending run that a source store holds finished
    (:mod:`sweep.copying`); the plan of what then remains, and the runs copied per source."""
    copied = copy_runs(plan.target, plan.spec, list(plan.pending), sources, plan.kept)
    return plan_sweep(plan.spec, plan.store_path, token=plan.token, retry_failed=plan.retry_failed), copied


def merge_stores(paths: list[str | Path], out: str | Path, token: str | None) -> tuple[SweepSpec, dict[str, int]]:
    """Write a new store at ``out`` (call holding its lock) of the union of the sweeps at
    ``paths`` (:func:`sweep.copying.union_spec`) with every run one of them finished; the
    union and the runs copied per store. StoreError before anything is written when
    ``out`` exists or the sweeps cannot be merged; RunsDisagree (``out`` removed) when
    two stores hold different numbers for a run."""
    out = resolve_store_path(out)
    if out.exists():
        raise StoreError(f"--out {str(out)!r} exists; a merge writes a new store")
    specs = [stored_spec_at(path) for path in paths]
    union = union_spec(specs, specs[0].name, [str(path) for path in paths])
    layout = layout_for(union)
    sources = [open_source(path, layout, union.problem.name) for path in paths]
    check_writable(out)
    create_store(out, union, choose_chunks(union))
    try:
        copied = copy_runs(WriteTarget(str(out), union.hash, token), union, blocks_of(union.shape, grid_chunks(out)),
                           sources, {})
    except RunsDisagree:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return union, copied


def execute(plan: SweepPlan, client: "distributed.Client | None" = None,
            on_block_done: Callable[[RunTally], None] = lambda tally: None,
            on_message: Callable[[str], None] = lambda message: print(message, file=sys.stderr)) -> RunTally:
    """Run the plan's pending blocks, serially here or on ``client``'s cluster, and
    return the tally of the runs executed. ``on_block_done`` is called on this process for
    each finished block, ``on_message`` with a line about each block that killed its
    worker. A task that raises (not a run: runs record their failures) stops the sweep
    with that error; so does LockLost when another `sweep run` took the store over.
    """
    total = RunTally()

    def finished(tally: RunTally) -> None:
        total.add(tally)
        on_block_done(tally)

    if client is None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # one BLAS thread per run, as in a Dask worker
            for block in plan.pending:
                finished(run_block(plan.target, plan.spec, plan.layout, block, plan.kept.get(block.origin)))
    else:
        _execute_on_cluster(plan, client, finished, on_message)
    return total


def run_sweep(spec: SweepSpec, store_path: str | Path, *, client: "distributed.Client | None" = None,
              overwrite: bool = False, force: bool = False, retry_failed: bool = False) -> RunTally:
    """Lock the store, plan, start and execute (no progress reporting)."""
    with StoreLock(resolve_store_path(store_path)) as lock:
        plan = plan_sweep(spec, store_path, token=lock.token, overwrite=overwrite, force=force,
                          retry_failed=retry_failed)
        return execute(start(plan), client)


def kernels_need_compiling(spec: SweepSpec) -> bool:
    """Whether the problem's run compiles kernels first (a fresh machine or checkout, or
    edited kernels: every worker compiles them on its first run): its run function, once
    imported, uses the project's kernels and their disk cache is cold
    (:func:`kernels.jit.cache_is_cold`). False for a problem without kernels."""
    spec.problem.runner()
    jit = sys.modules.get("kernels.jit")  # loaded by the run function's kernels, if it has any
    return jit is not None and jit.cache_is_cold()


# ---------------------------------------------------------------- helpers

def _fresh(plan: SweepPlan) -> SweepPlan:
    chunks = choose_chunks(plan.spec)
    return replace(plan, action="create", chunks=chunks, pending=tuple(blocks_of(plan.spec.shape, chunks)))


def _refuse_discarding(path: Path, spec: SweepSpec, force: bool) -> None:
    """StoreError if ``--overwrite`` would discard finished runs of this very sweep without ``--force``."""
    try:
        check_store(path, spec)
    except StoreError:
        return  # another sweep: replacing it is what --overwrite is for
    finished = int(scan_store(path).done.sum())
    if finished and not force:
        raise StoreError(f"the store {str(path)!r} holds this same sweep with {finished} finished runs: --overwrite "
                         "would discard them. Run without --overwrite to resume it, or add --force to discard them")


@dataclass
class _Salvage:
    """A block whose task killed its worker, its runs rerun one per task."""

    block: Block
    results: BlockResults
    remaining: int
    tally: RunTally = field(default_factory=RunTally)


def _execute_on_cluster(plan: SweepPlan, client: "distributed.Client", finished: Callable[[RunTally], None],
                        on_message: Callable[[str], None]) -> None:
    """Submit blocks as earlier ones finish, at most IN_FLIGHT_PER_THREAD per worker thread
    (:func:`sweep.cluster.planned_threads`: a jobqueue cluster's at its maximum of jobs);
    rerun the runs of a block that killed its worker alone, and write that block here."""
    from distributed import KilledWorker, as_completed

    client.wait_for_workers(1)
    threads = planned_threads(client)
    blocks = iter(plan.pending)
    jobs: dict = {}  # future -> its Block, or (its _Salvage, the run's index in the block)

    def submit_block(block: Block):
        future = client.submit(run_block, plan.target, plan.spec, plan.layout, block, plan.kept.get(block.origin),
                               pure=False)
        jobs[future] = block
        return future

    in_flight = as_completed([submit_block(block) for block in _take(blocks, IN_FLIGHT_PER_THREAD * threads)])
    for future in in_flight:
        job = jobs.pop(future)
        try:
            value = future.result()  # re-raises a task's error, except that of a killed worker
        except KilledWorker as error:
            value = error
        future.release()
        if isinstance(job, Block):
            if not isinstance(value, KilledWorker):
                finished(value)
            else:
                results, points = block_to_run(plan.store_path, plan.layout, job, plan.kept.get(job.origin))
                if len(points) == 1:  # that run killed its worker
                    job = (_Salvage(job, results, 1), points[0][0])
                else:
                    on_message(f"block at grid index {job.origin} ({plural(len(points), 'run')}): "
                               f"{_death_reason(client, value)}; rerunning its runs one by one")
                    salvage = _Salvage(job, results, len(points))
                    for local, index in points:
                        point = client.submit(run_point, plan.spec, index, pure=False)
                        jobs[point] = (salvage, local)
                        in_flight.add(point)
                    continue
        if isinstance(job, tuple):
            salvage, local = job
            if isinstance(value, KilledWorker):
                reason = _death_reason(client, value)
                on_message(f"run {_describe(plan.spec, salvage.block, local)} failed: {reason}")
                value = Outcome(None, reason, math.nan)
            value.record(salvage.results, local, salvage.tally)
            salvage.remaining -= 1
            if salvage.remaining:
                continue
            salvage.results.write(plan.target, salvage.block.origin)
            finished(salvage.tally)
        for block in _take(blocks, 1):
            in_flight.add(submit_block(block))


def _death_reason(client: "distributed.Client", error) -> str:
    """Why the workers running a task died, as far as the scheduler knows."""
    worker = error.last_worker
    attempts = error.allowed_failures + 1
    try:
        memory_kills = [event for _, event in client.get_events("worker-restart-memory")
                        if event.get("worker") == worker.address]
    except Exception:  # events unavailable (older scheduler): say what is certain
        memory_kills = []
    tries = f"(tried on {attempts} workers)"
    if memory_kills:
        return f"worker died: memory limit {byte_size(worker.memory_limit)} {tries}"
    return f"worker died: killed or crashed while running it {tries}"


def _describe(spec: SweepSpec, block: Block, local: tuple[int, ...]) -> str:
    index = tuple(o + i for o, i in zip(block.origin, local))
    return "(" + ", ".join(f"{dim}={values[i]!r}" for (dim, values), i in zip(spec.grid.items(), index)) + ")"


def _take(iterator, count: int) -> list:
    return [item for _, item in zip(range(count), iterator)]


