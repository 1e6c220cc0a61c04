"""Tasks: chunk-aligned blocks of the grid, how big they are, and the task that runs one.

A task is one :class:`Block` = one chunk of the store along the grid dims (whole along
the problem's extra dims). :func:`run_block` runs every run of its block (in one
``run_many`` call per group of equal ``batch_key`` when the problem has them), records
a failing run as 'failed' with its message instead of stopping, and writes the block's
region of the store itself (from whichever process runs it): each chunk has exactly one
writer, and ``done`` is written last. Re-running a block rewrites the same values, so a
task Dask re-runs after losing a worker is harmless.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from sweep.problems.base import RunResult
from sweep.spec import SweepSpec
from sweep.store import BlockResults, StoreLayout, layout_for

# Task sizing (a heuristic: tasks of about TARGET_TASK_SECONDS of work, but at least
# MIN_TASKS of them so that a few workers stay balanced until the end). A block's store
# write costs about 20 ms whatever its size, so tasks of 2 s keep it near 1%.
TARGET_TASK_SECONDS = 2.0
MIN_TASKS = 8
MAX_CHUNK_BYTES = 64 * 2**20
COST_SAMPLE_POINTS = 1000                 # grid points the mean cost is estimated from


@dataclass(frozen=True)
class Block:
    """A box of the grid: ``origin`` (first index per dim) and ``shape``."""

    origin: tuple[int, ...]
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def points(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(index in the block, index in the grid) of every run of the block."""
        for local in np.ndindex(*self.shape):
            yield local, tuple(o + i for o, i in zip(self.origin, local))


@dataclass
class RunTally:
    """Runs counted by status name, and their summed wall time (what a task reports)."""

    runs: int = 0
    statuses: Counter = field(default_factory=Counter)
    run_seconds: float = 0.0

    def add(self, other: "RunTally") -> None:
        self.runs += other.runs
        self.statuses.update(other.statuses)
        self.run_seconds += other.run_seconds


def blocks_of(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[Block]:
    """The chunk-aligned blocks covering a grid of ``shape`` (edge blocks may be smaller)."""
    counts = [-(-n // c) for n, c in zip(shape, chunks)]
    result = []
    for chunk_index in np.ndindex(*counts):
        origin = tuple(i * c for i, c in zip(chunk_index, chunks))
        result.append(Block(origin, tuple(min(c, n - o) for o, c, n in zip(origin, chunks, shape))))
    return result


def choose_chunks(spec: SweepSpec) -> tuple[int, ...]:
    """The store's chunk shape along the grid dims, i.e. the task size.

    Runs per task = TARGET_TASK_SECONDS / (estimated mean run time), capped so that
    there are at least MIN_TASKS tasks and a chunk stays under MAX_CHUNK_BYTES. The
    block is filled from the last grid dim backwards (whole dims first). Depends on
    the spec only, so a store's chunks (and results) do not depend on the cluster.
    """
    runs = round(TARGET_TASK_SECONDS / _mean_run_seconds(spec))
    runs = min(runs, spec.size // MIN_TASKS, MAX_CHUNK_BYTES // layout_for(spec).bytes_per_run)
    remaining = max(runs, 1)
    chunks = [1] * len(spec.shape)
    for axis in reversed(range(len(spec.shape))):
        chunks[axis] = min(spec.shape[axis], remaining)
        remaining //= chunks[axis]
        if chunks[axis] < spec.shape[axis]:
            break
    return tuple(chunks)


def run_block(store_path: str, spec: SweepSpec, layout: StoreLayout, block: Block) -> RunTally:
    """The task: run every run of ``block`` (the problem's run function), then write its
    region of the store (whose layout is ``layout``)."""
    results = BlockResults(layout, block.shape)
    tally = RunTally(runs=block.size)
    run, run_many = spec.problem.runner(), spec.problem.many_runner()

    def record(local, result: RunResult, wall_time: float) -> None:
        results.record(local, result, wall_time)
        tally.statuses[result.status] += 1
        tally.run_seconds += wall_time

    for batch in _batches(spec, block) if run_many else [[point] for point in block.points()]:
        if len(batch) > 1:  # one batched call; if it raises, the runs go one by one below
            start = time.perf_counter()
            try:
                outcomes = run_many([spec.params_at(index) for _, index in batch])
                share = (time.perf_counter() - start) / len(batch)  # each run's wall_time
                for (local, _), result in zip(batch, outcomes, strict=True):
                    record(local, result, share)
                continue
            except Exception:
                pass
        for local, index in batch:
            start = time.perf_counter()
            try:
                result = run(spec.params_at(index))
            except Exception as error:  # a failing run is recorded and the sweep goes on
                wall_time = time.perf_counter() - start
                results.record_failure(local, f"{type(error).__name__}: {error}", wall_time)
                tally.statuses["failed"] += 1
                tally.run_seconds += wall_time
                continue
            record(local, result, time.perf_counter() - start)
    results.write(store_path, block.origin)
    return tally


def _batches(spec: SweepSpec, block: Block) -> list[list]:
    """The runs of ``block`` grouped by the problem's ``batch_key`` (a run whose params
    do not build goes alone: it fails on its own)."""
    groups: dict = {}
    for local, index in block.points():
        try:
            key = spec.problem.batch_key(spec.params_at(index))
        except Exception:
            key = ("alone", index)
        groups.setdefault(key, []).append((local, index))
    return list(groups.values())


def _mean_run_seconds(spec: SweepSpec) -> float:
    """Estimated mean wall time of a run over (a sample of) the grid."""
    flat = np.unique(np.linspace(0, spec.size - 1, min(spec.size, COST_SAMPLE_POINTS)).astype(np.int64))
    return float(np.mean([spec.problem.run_seconds(spec.params_at(tuple(int(i) for i in index)))
                          for index in zip(*np.unravel_index(flat, spec.shape))]))
