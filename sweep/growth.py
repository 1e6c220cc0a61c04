"""Growing a sweep store: a spec that extends the store's sweep (README, "Growing a sweep").

A spec *extends* the sweep a store holds when it has the same problem and the same fixed
parameters, every grid value of the store (its new values anywhere in the lists), and
maybe new grid dims, each a parameter the store holds fixed, with that value among its
values. :func:`grown_spec` gives the grown sweep in the store's order: each stored dim
keeps its values where they are and has its new ones appended (in the spec's order),
then the new dims follow, each with the store's old value first. Its points are the
spec's, so it needs no validation of its own.

:func:`grow_store` builds the grown store's metadata and coordinates in a sibling
directory (in the store's format), hard-links every chunk file (a /4 store's shard
files) of the store into it and renames it into place (as
:func:`sweep.store.create_store` does): a kill leaves the old store or the grown one,
and the finished runs' chunk files keep their bytes, inode and mtime. A new dim has
blocks (shards and their inner chunks) of 1 and comes after the stored dims, so an old
chunk is, byte for byte, the chunk at index 0 along it (a size-1 axis changes neither a
C-order buffer nor the Morton order of a shard's inner chunks and its index). Each
block's manifest is rewritten for its chunks' new keys and the grown sweep's hash (a
manifest of another sweep, or unreadable, is linked unchanged: its block stays damaged).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sweep.files import read_bounded
from sweep.spec import SpecError, SweepSpec, spec_from_normalised
from sweep.store import (COORDINATES_MANIFEST, DONE, MANIFESTS, MAX_METADATA_BYTES, StoreError, files_below,
                         history_entry, layout_for, open_group_arrays, plural, root_attrs, swap_into_place,
                         write_layout)


class GrowthRefused(StoreError):
    """The spec does not extend the store's sweep; the message says what differs."""


def stored_spec_at(path: str | Path) -> SweepSpec:
    """The sweep the store at ``path`` holds. StoreError if the code no longer accepts it."""
    try:
        return spec_from_normalised(root_attrs(path)["spec"])
    except (SpecError, KeyError, TypeError) as error:
        raise StoreError(f"the store {str(path)!r} holds a sweep this version of sweep cannot read ({error}); "
                         "use another --store path, or --overwrite to replace it") from None


def grown_spec(stored: SweepSpec, wanted: SweepSpec, where: str) -> SweepSpec:
    """``wanted`` in the order of ``stored`` (see the module docstring): ``stored`` itself
    (the same hash) when ``wanted`` is the same sweep in another order.

    Raises GrowthRefused naming every difference when ``wanted`` does not extend
    ``stored``: another problem, a fixed parameter changed, a grid value or dim removed,
    a new dim without the store's fixed value.
    """
    if wanted.problem.name != stored.problem.name:
        raise GrowthRefused(f"the store {where!r} holds a different sweep, of problem {stored.problem.name!r}, not "
                            f"{wanted.problem.name!r}; use another --store path, or --overwrite to replace it")
    wanted_labels = {name: set(map(value_label, values)) for name, values in wanted.grid.items()}
    differences = []
    for name, value in stored.fixed.items():
        if name in wanted.grid:
            if value_label(value) not in wanted_labels[name]:
                differences.append(f"{name} is fixed at {value!r} in the store and not among the spec's grid values")
        elif value_label(wanted.fixed[name]) != value_label(value):
            differences.append(f"{name} is {value!r} in the store, {wanted.fixed[name]!r} in the spec")
    for name, values in stored.grid.items():
        if name not in wanted.grid:
            differences.append(f"{name} is a grid dim of the store, fixed at {wanted.fixed[name]!r} in the spec")
            continue
        removed = [value for value in values if value_label(value) not in wanted_labels[name]]
        if removed:
            differences.append(f"the spec removes the grid values {removed} of {name}")
    if differences:
        raise GrowthRefused(f"the store {where!r} holds a different sweep (spec {stored.name!r}, hash "
                            f"{stored.hash[:12]}), which spec {wanted.name!r} does not extend: {'; '.join(differences)}; "
                            "a spec may only add grid values or turn a fixed parameter into a grid dim; use another "
                            "--store path, or --overwrite to replace it")
    stored_labels = {name: set(map(value_label, values)) for name, values in stored.grid.items()}
    grid = {name: values + tuple(v for v in wanted.grid[name] if value_label(v) not in stored_labels[name])
            for name, values in stored.grid.items()}
    for name, values in wanted.grid.items():
        if name not in stored.grid:
            old = stored.fixed[name]
            grid[name] = (old, *(v for v in values if value_label(v) != value_label(old)))
    if all(len(grid[name]) == len(values) for name, values in stored.grid.items()) and grid.keys() == stored.grid.keys():
        return stored
    fixed = {name: value for name, value in stored.fixed.items() if name not in grid}
    return SweepSpec(wanted.name, wanted.description, stored.problem, fixed, grid)


def added(stored: SweepSpec, grown: SweepSpec) -> dict[str, list[Any]]:
    """The values ``grown`` adds per dim (a new dim: every value but the store's old one)."""
    return {name: list(values[len(stored.grid.get(name, (None,))):]) for name, values in grown.grid.items()
            if len(values) > len(stored.grid.get(name, (None,)))}


def describe_growth(stored: SweepSpec, grown: SweepSpec) -> str:
    """'2 seed values (4, 5), the new dim lr (0.5)': what ``grown`` adds to ``stored``."""
    parts = []
    for name, values in added(stored, grown).items():
        shown = ", ".join(map(repr, values[:6])) + (", ..." if len(values) > 6 else "")
        parts.append(f"{len(values)} {name} value{'s' if len(values) != 1 else ''} ({shown})" if name in stored.grid
                     else f"the new dim {name} ({shown}; {stored.fixed[name]!r} before)")
    return ", ".join(parts) or f"the new dim{'s' if len(grown.dims) - len(stored.dims) > 1 else ''} " + ", ".join(
        name for name in grown.dims if name not in stored.dims)


def history_lines(history: list[dict[str, Any]]) -> list[str]:
    """One line per entry of a store's ``history`` attribute (oldest first), for `sweep status`."""
    lines = []
    for i, entry in enumerate(history):
        what = "created" if i == 0 else "grown by " + (", ".join(
            f"{name} {', '.join(map(repr, values[:6]))}{', ...' if len(values) > 6 else ''}"
            for name, values in entry.get("added", {}).items()) or "a new dim")
        lines.append(f"{entry.get('time', '?')}  {what}: {plural(entry.get('runs_added', 0), 'run')} (spec "
                     f"{entry.get('spec')!r}, hash {str(entry.get('spec_hash'))[:12]}, git {entry.get('git_revision')}, "
                     f"linear-teachers {entry.get('version')})")
    return lines


def check_layout_kept(path: str | Path, stored: SweepSpec, grown: SweepSpec) -> None:
    """GrowthRefused when the grown sweep stores its runs in another shape than the
    store does (a problem's extra dim sized by the swept values, e.g. more epochs of
    curves or wider weights): the finished runs' chunks could not be kept."""
    before, after = layout_for(stored), layout_for(grown)
    changed = []
    for name, dim in before.extra_dims.items():
        new = after.extra_dims.get(name)
        if new is None or new.size != dim.size or (dim.values is None) != (new.values is None) or (
                dim.values is not None and not np.array_equal(dim.values, new.values)):
            changed.append(f"{name} ({dim.size} -> {new.size if new else 'no'} values)")
    changed += [f"{name} (new)" for name in after.extra_dims if name not in before.extra_dims]
    gone = sorted({v.name for v in before.variables} ^ {v.name for v in after.variables})
    changed += [f"the variables {gone}"] if gone else []
    if changed:
        raise GrowthRefused(f"growing the store {str(path)!r} changes the shape of every run's stored curves along "
                            f"{', '.join(changed)}: its finished runs could not be kept; grow into another --store "
                            "path, or --overwrite to replace it")


def grow_store(path: str | Path, stored: SweepSpec, grown: SweepSpec, chunks: tuple[int, ...]) -> None:
    """Make the store at ``path`` (of ``stored``, chunked ``chunks``) the store of ``grown``
    (call while holding its lock; see the module docstring)."""
    path = Path(path)
    new_dims = len(grown.dims) - len(stored.dims)
    history = root_attrs(path).get("history") or [history_entry(stored, stored.size, {})]
    history = [*history, history_entry(grown, grown.size - stored.size, added(stored, grown))]

    arrays = open_group_arrays(path)
    sweep_format = root_attrs(path)["sweep_format"]
    separator = arrays[DONE].metadata.chunk_key_encoding.separator
    grid_dims = len(stored.dims)
    inner = {name: tuple(array.chunks[:grid_dims]) + (1,) * new_dims for name, array in arrays.items()
             if array.shards}  # a shard's inner chunks stay as they are

    def build(building: Path) -> None:
        write_layout(building, grown, tuple(chunks) + (1,) * new_dims, history, sweep_format=sweep_format,
                     inner=inner)
        for variable in layout_for(stored).variables:
            for key in files_below(path / variable.name).keys() - {"zarr.json"}:
                _link(path / variable.name / key,
                      building / variable.name / _grown_key(key, separator, grid_dims, new_dims))
        for old in (path / MANIFESTS).glob("*.json"):
            if old.stem != COORDINATES_MANIFEST:
                _carry_manifest(old, building / MANIFESTS, stored, grown, new_dims, separator)

    swap_into_place(path, "growing", build)


def _grown_key(key: str, separator: str, grid_dims: int, new_dims: int) -> str:
    """A chunk's (a shard's) key ("c.2.0.0", a /3 store's "c/2/0/0": c, grid indices,
    extra dims' indices) in the grown store."""
    parts = key.split(separator)
    return separator.join([*parts[:1 + grid_dims], *("0",) * new_dims, *parts[1 + grid_dims:]])


def _carry_manifest(old: Path, manifests: Path, stored: SweepSpec, grown_spec: SweepSpec, new_dims: int,
                    separator: str) -> None:
    """The block manifest ``old`` ("2.0.json") under its grown name, for the grown keys
    (of the digests and of the fingerprints: hard links keep them) and hash."""
    grid_dims = len(stored.dims)
    indices = old.stem.split(".")
    target = manifests / f"{'.'.join([*indices[:grid_dims], *('0',) * new_dims, *indices[grid_dims:]])}.json"
    try:
        manifest = json.loads(read_bounded(old, MAX_METADATA_BYTES))
        ours = manifest["spec_hash"] == stored.hash and isinstance(manifest["chunks"], dict)
    except (OSError, ValueError, KeyError, TypeError):
        ours = False
    if not ours:
        _link(old, target)
        return

    def under_grown_keys(by_key: dict[str, Any]) -> dict[str, Any]:
        carried = {}
        for key, value in by_key.items():
            name, _, chunk = key.partition("/")
            carried[f"{name}/{_grown_key(chunk, separator, grid_dims, new_dims)}"] = value
        return carried

    carried = {part: under_grown_keys(manifest[part]) for part in ("chunks", "files")
               if isinstance(manifest.get(part), dict)}
    target.write_text(json.dumps({**manifest, "spec_hash": grown_spec.hash, **carried}))


def _link(source: Path, target: Path) -> None:
    """``target`` made the same file as ``source`` (a hard link; a copy keeping its mtime
    where the file system has none)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def value_label(value: Any) -> str:
    """A grid value as the sweep's hash sees it (its JSON)."""
    return json.dumps(value, allow_nan=True)
