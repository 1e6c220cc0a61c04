"""Finished runs copied from other stores: ``sweep run --reuse OTHER`` and ``sweep merge``
(README, "Growing a sweep").

A run is identified by its full parameter set (the problem's parameters, every one,
defaults included: :func:`run_key`), so a run of another store is the same run when its
store holds the same problem, in a format of this version's numbers (RESUMABLE_FORMATS), and
its key is equal, whatever the two grids look like. :func:`copy_runs` writes, block by
block, the runs of the destination's pending blocks that a source holds finished, as
the engine's tasks do (:meth:`sweep.store.BlockResults.write`: fenced by the lock); the
other runs of such a block stay as they were (not done, or finished and kept). Two
sources that both finished a run must hold the same numbers for it (every variable but
``wall_time``, bit for bit): otherwise RunsDisagree, naming the run.

A source is read into memory whole (its finished runs' variables).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweep.growth import stored_spec_at, value_label
from sweep.spec import SweepSpec
from sweep.store import (RESUMABLE_FORMATS, WALL_TIME, Block, BlockResults, StoreError, StoreLayout, WriteTarget,
                         layout_for, open_group_arrays, root_attrs, scan_store)


class RunsDisagree(StoreError):
    """Two stores hold different numbers for a run that both finished."""


@dataclass
class Source:
    """A store runs are copied from: its path, sweep, finished runs by :func:`run_key`
    (their grid index) and its variables in memory."""

    path: str
    spec: SweepSpec
    finished: dict[str, tuple[int, ...]]
    arrays: dict[str, np.ndarray]


def run_key(spec: SweepSpec, index: tuple[int, ...]) -> str:
    """The identity of the run at ``index``: its problem and every parameter, as JSON."""
    params = dataclasses.asdict(spec.params_at(index))
    return json.dumps([spec.problem.name, sorted(params.items())], allow_nan=True, default=str)


def open_source(path: str | Path, layout: StoreLayout, problem: str) -> Source:
    """The store at ``path`` as a source for a destination of ``layout`` and ``problem``.

    Raises StoreError when it is not a sweep store of RESUMABLE_FORMATS and problem, or stores
    a run's variables in another shape (its curves padded to more epochs, say).
    """
    path = str(path)
    if root_attrs(path).get("sweep_format") not in RESUMABLE_FORMATS:
        raise StoreError(f"cannot copy runs from {path!r}: written by another version of sweep (format "
                         f"{root_attrs(path).get('sweep_format')!r}); its numbers may differ")
    spec = stored_spec_at(path)
    if spec.problem.name != problem:
        raise StoreError(f"cannot copy runs from {path!r}: it holds runs of problem {spec.problem.name!r}, "
                         f"not {problem!r}")
    arrays = open_group_arrays(path)
    for variable in layout.variables:
        shape = arrays[variable.name].shape[len(spec.dims):] if variable.name in arrays else None
        if shape != layout.extra_shape(variable):
            raise StoreError(f"cannot copy runs from {path!r}: its variable {variable.name!r} is stored per run as "
                             f"{shape}, not {layout.extra_shape(variable)}")
    done = scan_store(path, fingerprints=True).done
    finished = {run_key(spec, index): index for index in zip(*(axis.tolist() for axis in np.nonzero(done)))}
    return Source(path, spec, finished, {variable.name: arrays[variable.name][...] for variable in layout.variables})


def copy_runs(target: WriteTarget, spec: SweepSpec, blocks: list[Block], sources: list[Source],
              kept: dict[tuple[int, ...], np.ndarray]) -> dict[str, int]:
    """Write into the store at ``target`` (of ``spec``) every run of ``blocks`` that a
    source holds finished, keeping the runs ``kept`` marks (by block origin) as stored;
    the runs copied from each source, by path. RunsDisagree before writing a block whose
    run two sources hold with different numbers."""
    layout = layout_for(spec)
    copied = {source.path: 0 for source in sources}
    for block in blocks:
        keep = kept.get(block.origin)
        results, found = BlockResults(layout, block.shape), False
        for local, index in block.points():
            if keep is not None and keep[local]:
                continue
            holders = [(source, source.finished[key]) for key in [run_key(spec, index)] for source in sources
                       if key in source.finished]
            if not holders:
                continue
            (first, at), *others = holders
            for other, other_at in others:
                _check_same_run(spec, index, first, at, other, other_at)
            for name, values in results.arrays.items():
                values[local] = first.arrays[name][at]
            copied[first.path] += 1
            found = True
        if found:
            if keep is not None:
                results.keep_stored(target.path, block.origin, keep)
            results.write(target, block.origin)
    return copied


def _check_same_run(spec: SweepSpec, index: tuple[int, ...], a: Source, at: tuple, b: Source, bt: tuple) -> None:
    for name in a.arrays:
        if name == WALL_TIME:
            continue
        x, y = np.asarray(a.arrays[name][at]), np.asarray(b.arrays[name][bt])
        same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
        if not same:
            point = ", ".join(f"{dim}={value!r}" for dim, value in zip(spec.dims, _values(spec, index)))
            raise RunsDisagree(f"the stores {a.path!r} and {b.path!r} hold different {name!r} for the run "
                               f"({point}), which both finished; nothing merged")


def _values(spec: SweepSpec, index: tuple[int, ...]) -> list[Any]:
    return [values[i] for values, i in zip(spec.grid.values(), index)]


def union_spec(specs: list[SweepSpec], name: str, paths: list[str]) -> SweepSpec:
    """The sweep whose grid is the union of ``specs``' grids (the first's order, the new
    values of each appended). StoreError (naming the stores at ``paths``) unless they
    share the problem, the fixed parameters and the grid dims."""
    first = specs[0]
    grid = {dim: list(values) for dim, values in first.grid.items()}
    for other, path in zip(specs[1:], paths[1:]):
        if other.problem.name != first.problem.name or set(other.dims) != set(first.dims) or json.dumps(
                sorted(other.fixed.items()), default=str) != json.dumps(sorted(first.fixed.items()), default=str):
            raise StoreError(f"cannot merge the stores {str(paths[0])!r} and {str(path)!r}: a merge needs the same "
                             "problem, the same fixed parameters and the same grid dims (grow a store to add a dim)")
        for dim, values in other.grid.items():
            labels = set(map(value_label, grid[dim]))
            grid[dim] += [value for value in values if value_label(value) not in labels]
    return SweepSpec(name, f"merged from {', '.join(repr(spec.name) for spec in specs)}", first.problem, first.fixed,
                     {dim: tuple(values) for dim, values in grid.items()})
