"""Tasks: shard-aligned blocks of the grid, how big they are, and the tasks that run them.

A task is one :class:`~sweep.store.Block` = one shard of the store along the grid dims
(whole along the problem's extra dims), shaped by :func:`choose_chunks` to hold runs of
equal ``batch_key`` together where the problem batches. :func:`run_block` runs every run
of its block (in one ``run_many`` call per group of equal ``batch_key`` when the problem
has them; if a group's call raises, its runs go one by one), records a failing run as
'failed' with its message instead of stopping (a run whose ``batch_key`` raises fails
with that error), and writes the block's region of the store itself (from whichever
process runs it): each chunk has exactly one writer, and ``done`` is written last. Re-running a block rewrites the same values, so a task Dask
re-runs after losing a worker is harmless.

Before it runs and before it writes, a task checks its :class:`~sweep.store.WriteTarget`
(the store still holds its sweep, its `sweep run` still holds the store): the task of a
dead or superseded `sweep run` stops with LockLost and writes nothing.

The warnings of a run (NumPy's floating-point warnings, :func:`warnings.warn`) are not
printed, where they would land in the progress bar from every worker
(:mod:`sweep.run_warnings`): each run's kinds are counted in the :class:`RunTally`
(``warnings``, kind -> runs), which `sweep run` reports in its summary.

When a block's task keeps killing its worker (a run that exhausts the memory, a
crash), the engine reruns its runs alone with :func:`run_point`, which returns the
run's :class:`Outcome` instead of writing, and writes the block itself.
"""
from __future__ import annotations

import gc
import math
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from sweep.problems.results import RunResult
from sweep.run_warnings import collected_warnings
from sweep.spec import SweepSpec
from sweep.store import Block, BlockResults, StoreLayout, WriteTarget, blocks_of, layout_for

__all__ = ["Block", "Outcome", "RunTally", "blocks_of", "choose_chunks", "run_block", "run_point"]

# Task sizing (a heuristic: tasks of about TARGET_TASK_SECONDS of work, or more where the
# store would otherwise hold more than FILE_BUDGET files, up to MAX_TASK_SECONDS; but at
# least MIN_TASKS of them so that a few workers stay balanced until the end). A block's
# store write costs about 20 ms whatever its size, so tasks of 2 s keep it near 1%.
TARGET_TASK_SECONDS = 2.0
MAX_TASK_SECONDS = 300.0
FILE_BUDGET = 10_000
MIN_TASKS = 8
MAX_CHUNK_BYTES = 64 * 2**20
COST_SAMPLE_POINTS = 1000                 # grid points the mean cost is estimated from
MAX_ERROR_CHARS = 2000                    # a failed run's stored message is cut to this


@dataclass
class RunTally:
    """Runs counted by status name, and their summed wall time (what a task reports);
    ``warnings``: the runs that raised each kind of warning."""

    runs: int = 0
    statuses: Counter = field(default_factory=Counter)
    run_seconds: float = 0.0
    warnings: Counter = field(default_factory=Counter)

    def add(self, other: "RunTally") -> None:
        self.runs += other.runs
        self.statuses.update(other.statuses)
        self.run_seconds += other.run_seconds
        self.warnings.update(other.warnings)

    def count(self, status: str, wall_time: float) -> None:
        self.runs += 1
        self.statuses[status] += 1
        self.run_seconds += wall_time if math.isfinite(wall_time) else 0.0  # NaN: the run's worker died


@dataclass(frozen=True)
class Outcome:
    """How one run ended: its result, or (``result`` None) the error message of a failure;
    ``warnings``, the kinds of warning it raised (:func:`~sweep.run_warnings.collected_warnings`)."""

    result: RunResult | None
    error: str
    wall_time: float
    warnings: tuple[str, ...] = ()

    def record(self, results: BlockResults, local: tuple[int, ...], tally: RunTally) -> None:
        """Put this outcome at ``local`` (an index in the block) of ``results`` and count it
        in ``tally``; a result that does not fit the layout is recorded as a failure."""
        tally.warnings.update(self.warnings)
        error = self.error
        if self.result is not None:
            try:
                results.record(local, self.result, self.wall_time)
                tally.count(self.result.status, self.wall_time)
                return
            except ValueError as mismatch:
                error = f"ValueError: {mismatch}"
        results.record_failure(local, error, self.wall_time)
        tally.count("failed", self.wall_time)


def choose_chunks(spec: SweepSpec) -> tuple[int, ...]:
    """The store's block (shard) shape along the grid dims, i.e. the task size.

    Runs per task = TARGET_TASK_SECONDS / (estimated mean run time), raised to the
    fewest runs that keep the store within FILE_BUDGET files (:meth:`StoreLayout.files`:
    tiny runs make large tasks), then capped so that a task takes at most
    MAX_TASK_SECONDS (where runs are slow, the budget gives way), there are at least
    MIN_TASKS tasks and a block stays under MAX_CHUNK_BYTES. The block is filled axis by
    axis (whole axes first, a partial one ends it): for a problem with ``run_many``,
    first the axes along which its ``batch_key`` does not change (so a task's batched
    groups are as large as its size allows), then the others; within each class, and
    for every problem without ``run_many``, from the last grid dim backwards. Depends on
    the spec only, so a store's blocks (and results) do not depend on the cluster.
    """
    layout = layout_for(spec)
    axes = list(reversed(range(len(spec.shape))))
    if spec.problem.run_many:
        axes.sort(key=lambda axis: _changes_batch(spec, axis))

    def block(runs: int) -> tuple[int, ...]:
        remaining, chunks = max(runs, 1), [1] * len(spec.shape)
        for axis in axes:
            chunks[axis] = min(spec.shape[axis], remaining)
            remaining //= chunks[axis]
            if chunks[axis] < spec.shape[axis]:
                break
        return tuple(chunks)

    def within_budget(runs: int) -> bool:
        return layout.files(math.prod(-(-n // c) for n, c in zip(spec.shape, block(runs)))) <= FILE_BUDGET

    low, high = 1, spec.size  # the fewest runs per block within the budget, by bisection (more runs: fewer files)
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if within_budget(middle) else (middle + 1, high)
    mean = _mean_run_seconds(spec)
    runs = max(round(TARGET_TASK_SECONDS / mean), low)
    runs = min(runs, int(MAX_TASK_SECONDS / mean), spec.size // MIN_TASKS, MAX_CHUNK_BYTES // layout.bytes_per_run)
    return block(runs)


def _changes_batch(spec: SweepSpec, axis: int) -> bool:
    """Whether the problem's ``batch_key`` changes along grid ``axis``: compared at the
    grid's first point and at that point moved to index 1 along ``axis``. True if either
    point's params or key raise (such an axis is not counted on to batch)."""
    if spec.shape[axis] < 2:
        return False
    first = (0,) * len(spec.shape)
    moved = first[:axis] + (1,) + first[axis + 1:]
    try:
        return spec.problem.batch_key(spec.params_at(first)) != spec.problem.batch_key(spec.params_at(moved))
    except Exception:
        return True


def run_block(target: WriteTarget, spec: SweepSpec, layout: StoreLayout, block: Block,
              keep: np.ndarray | None = None) -> RunTally:
    """The task: run every run of ``block`` (the problem's run function) but those where
    ``keep`` (a bool mask over the block) is True, whose stored results are kept, then
    write its region of the store (whose layout is ``layout``) at ``target``. Raises
    LockLost (and runs and writes nothing more) once ``target``'s `sweep run` no longer
    holds the store."""
    target.check()
    results, points = block_to_run(target.path, layout, block, keep)
    tally = RunTally()
    run, run_many = spec.problem.runner(), spec.problem.many_runner()
    with cyclic_gc_paused():
        for batch, key_error in _batches(spec, points) if run_many else [([(*point, None)], "") for point in points]:
            outcomes = _run_batch(run_many, [params for _, _, params in batch]) if len(batch) > 1 else None
            if key_error:  # the problem's batch_key raised: the run fails with that error
                outcomes = [Outcome(None, key_error, 0.0)]
            elif outcomes is None:  # one run, or a batched call that raised: the runs go one by one
                outcomes = [_run_one(run, spec, index) for _, index, _ in batch]
            for (local, _, _), outcome in zip(batch, outcomes, strict=True):
                outcome.record(results, local, tally)
    results.write(target, block.origin)
    return tally


_gc_pause = {"tasks": 0, "was_enabled": False}
_gc_pause_lock = threading.Lock()


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Inside, Python's cyclic garbage collector does not run (reference counting still
    frees what a run drops). A block of tiny runs makes tens of thousands of objects that
    outlive the young generations, so full collections come every task or so, and each
    walks the worker's whole heap (Numba's, Dask's): a quarter of such a task's time, billed
    to whichever run it interrupted. The pause is process-wide and counted over a worker's
    task threads: the collector is enabled again, if it was, when the last of them ends."""
    with _gc_pause_lock:
        if _gc_pause["tasks"] == 0:
            _gc_pause["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_pause["tasks"] += 1
    try:
        yield
    finally:
        with _gc_pause_lock:
            _gc_pause["tasks"] -= 1
            if _gc_pause["tasks"] == 0 and _gc_pause["was_enabled"]:
                gc.enable()


def block_to_run(path: str, layout: StoreLayout, block: Block,
                 keep: np.ndarray | None) -> tuple[BlockResults, list[tuple[tuple[int, ...], tuple[int, ...]]]]:
    """The results of ``block`` before its runs: the runs ``keep`` marks as the store at
    ``path`` holds them, the rest at fill; and the runs to run, (index in the block, index
    in the grid)."""
    results = BlockResults(layout, block.shape)
    points = list(block.points())
    if keep is not None:
        results.keep_stored(path, block.origin, keep)
        points = [(local, index) for local, index in points if not keep[local]]
    return results, points


def run_point(spec: SweepSpec, index: tuple[int, ...]) -> Outcome:
    """The task of one run rerun alone: its outcome, returned (the caller writes it)."""
    return _run_one(spec.problem.runner(), spec, index)


def _run_one(run: Callable, spec: SweepSpec, index: tuple[int, ...]) -> Outcome:
    """One run, timed; an exception becomes a failed outcome with its message."""
    start = time.perf_counter()
    with collected_warnings() as kinds:
        try:
            result = run(spec.params_at(index))
        except Exception as error:  # a failing run is recorded and the sweep goes on
            message = f"{type(error).__name__}: {error}"
            return Outcome(None, message[:MAX_ERROR_CHARS], time.perf_counter() - start, tuple(sorted(kinds)))
    return Outcome(result, "", time.perf_counter() - start, tuple(sorted(kinds)))


def _run_batch(run_many: Callable, params: list) -> list[Outcome] | None:
    """The runs of ``params`` in one ``run_many`` call, each with its share of the call's
    wall time; None if the call raised or returned another number of results (the caller
    then runs them one by one). The call's warnings count for each of its runs."""
    start = time.perf_counter()
    with collected_warnings() as kinds:
        try:
            results = list(run_many(params))
        except Exception:
            return None
    if len(results) != len(params):
        return None
    share = (time.perf_counter() - start) / len(params)
    return [Outcome(result, "", share, tuple(sorted(kinds))) for result in results]


def _batches(spec: SweepSpec, points: list) -> list[tuple[list, str]]:
    """The runs at ``points`` ((index in the block, index in the grid) pairs) grouped by
    the problem's ``batch_key``, as (index in the block, index in the grid, params)
    triples, each group with ""; a run whose params do not build goes alone (it fails on
    its own), and one whose ``batch_key`` raises (or is not hashable) goes alone with that
    error as its failure."""
    groups: dict = {}
    for local, index in points:
        try:
            params = spec.params_at(index)
        except Exception:
            groups[("alone", index)] = ([(local, index, None)], "")
            continue
        try:
            groups.setdefault(spec.problem.batch_key(params), ([], ""))[0].append((local, index, params))
        except Exception as error:
            message = f"the problem's batch_key raised {type(error).__name__}: {error}"
            groups[("alone", index)] = ([(local, index, params)], message[:MAX_ERROR_CHARS])
    return list(groups.values())


def _mean_run_seconds(spec: SweepSpec) -> float:
    """Estimated mean wall time of a run over (a sample of) the grid."""
    flat = np.unique(np.linspace(0, spec.size - 1, min(spec.size, COST_SAMPLE_POINTS)).astype(np.int64))
    return float(np.mean([spec.problem.run_seconds(spec.params_at(tuple(int(i) for i in index)))
                          for index in zip(*np.unravel_index(flat, spec.shape))]))
