"""The results store: one Zarr v3 group that opens as one ``xarray.Dataset``.

Layout (README, "The results store"): one dim per grid key (coordinate = its values,
in spec order), then the extra dims the problem declares (e.g. ``epoch``); the
problem's variables (its ``Problem.layout``) on the grid dims plus their extra dims,
and the engine's ``status``, ``wall_time``, ``error`` (message of a failed run) and
``done`` (bool). Every variable has an explicit fill value, so an unwritten chunk reads
as "no data" (NaN, -1, "" or False) rather than 0.

Protocol:

- :func:`create_store` builds the whole layout in a sibling temporary directory,
  consolidates its metadata, then renames it into place: a kill leaves either nothing
  or a complete empty store. Nothing rewrites metadata afterwards (except
  :func:`repair_store`, which rebuilds lost metadata of the same sweep).
- Writers write only chunk-aligned :class:`Block` s with :meth:`BlockResults.write`, which
  first checks that the store still holds its sweep (spec hash) and that its `sweep run`
  still holds the store (the lock token, :mod:`sweep.lock`), and writes ``done`` last.
  Every chunk is written, fill or not, with a checksum (zstd's), so in a finished block a
  missing or undecodable chunk is damage.
- A run counts as finished only when its ``done`` is True and its block is undamaged
  (:func:`scan_store`); damaged blocks are reported and rerun.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from sweep.lock import check_holder
from sweep.problems.results import STATUS, RunResult
from sweep.problems.schema import ENGINE_VARIABLES, Dim, Variable

if TYPE_CHECKING:
    from sweep.spec import SweepSpec

# root attr: marks a directory as a sweep store. /2: checksummed chunks, fill chunks written,
# and SGD's visiting orders drawn in the kernels (separable results differ from /1's).
FORMAT = "linear-teachers-sweep/2"
READABLE_FORMATS = (FORMAT, "linear-teachers-sweep/1")
DONE, ERROR, STATUS_VARIABLE, WALL_TIME = "done", "error", "status", "wall_time"
PACKAGES = ("linear-teachers", "numpy", "numba", "scipy", "zarr", "xarray", "dask", "distributed")
SCAN_SLAB_BYTES = 64 * 2**20                 # a scan decodes this much of a variable at once


class StoreError(ValueError):
    """The store at a path cannot be used for the requested sweep; the message says why."""


class DamagedStore(StoreError):
    """A sweep store whose metadata is unreadable; ``spec_hash`` is its sweep's, if known."""

    def __init__(self, message: str, spec_hash: str | None):
        super().__init__(message)
        self.spec_hash = spec_hash


@dataclass(frozen=True)
class StoreLayout:
    """The shape of a sweep's store: grid dims and sizes, the problem's extra dims and
    every variable (the problem's, then the engine's)."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    extra_dims: dict[str, Dim]
    variables: tuple[Variable, ...]

    def extra_shape(self, variable: Variable) -> tuple[int, ...]:
        return tuple(self.extra_dims[d].size for d in variable.dims)

    @property
    def bytes_per_run(self) -> int:
        """Approximate bytes one run takes over all variables (a string counted as 8)."""
        return sum(np.dtype(v.dtype if v.dtype != "str" else "O").itemsize * int(np.prod(self.extra_shape(v)))
                   for v in self.variables)


@dataclass(frozen=True)
class Block:
    """A chunk-aligned box of the grid: ``origin`` (first index per dim) and ``shape``."""

    origin: tuple[int, ...]
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def region(self) -> tuple[slice, ...]:
        return tuple(slice(o, o + n) for o, n in zip(self.origin, self.shape))

    def points(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(index in the block, index in the grid) of every run of the block."""
        for local in np.ndindex(*self.shape):
            yield local, tuple(o + i for o, i in zip(self.origin, local))


def blocks_of(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[Block]:
    """The chunk-aligned blocks covering a grid of ``shape`` (edge blocks may be smaller)."""
    counts = [-(-n // c) for n, c in zip(shape, chunks)]
    result = []
    for chunk_index in np.ndindex(*counts):
        origin = tuple(i * c for i, c in zip(chunk_index, chunks))
        result.append(Block(origin, tuple(min(c, n - o) for o, c, n in zip(origin, chunks, shape))))
    return result


def layout_for(spec: SweepSpec) -> StoreLayout:
    """The store layout of ``spec``: its problem's layout plus the engine's variables.

    Raises ValueError when two variables or dims share a name (a problem may not reuse
    the engine's ``status``, ``wall_time``, ``error`` or ``done``, nor a grid dim's name).
    """
    problem_layout = spec.problem.layout(spec.all_values)
    variables = problem_layout.variables + ENGINE_VARIABLES
    names = [*spec.dims, *(dim.name for dim in problem_layout.dims), *(v.name for v in variables)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"problem {spec.problem.name!r}: the names {repeated} are used twice among the grid dims, "
                         "the problem's dims and the variables (the engine's included)")
    return StoreLayout(spec.dims, spec.shape, {dim.name: dim for dim in problem_layout.dims}, variables)


# ---------------------------------------------------------------- creating, checking, repairing

def create_store(path: str | Path, spec: SweepSpec, chunks: tuple[int, ...]) -> None:
    """Lay out the store of ``spec`` at ``path``, chunked ``chunks`` along the grid dims,
    replacing what is there: built in a sibling temporary directory, then renamed into
    place (a kill leaves the old store, nothing, or the complete new store)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = _sibling(path, "creating")
    try:
        _write_layout(building, spec, chunks)
        if path.exists():
            discarded = _sibling(path, "discarding")
            os.rename(path, discarded)
            os.rename(building, path)
            shutil.rmtree(discarded)
        else:
            os.rename(building, path)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def remove_leftovers(path: str | Path) -> None:
    """Remove the temporary siblings of the store at ``path`` that a killed
    :func:`create_store` or :func:`repair_store` left (call only while holding its lock)."""
    path = Path(path)
    prefixes = tuple(f".{path.name}.{purpose}-" for purpose in ("creating", "discarding", "repairing"))
    for leftover in path.parent.iterdir():
        if leftover.name.startswith(prefixes):
            shutil.rmtree(leftover, ignore_errors=True)


def repair_store(path: str | Path, spec: SweepSpec) -> None:
    """Rewrite the coordinates of a damaged store of ``spec``, and its root ``zarr.json``
    if that is unreadable, keeping every chunk of its variables.

    The grid chunks are read from the ``done`` array's own metadata. Raises StoreError
    when that is unreadable, or when the arrays on disk are not laid out as ``spec``'s
    store would be (then only ``--overwrite`` helps).
    """
    path = Path(path)
    done_meta = _read_json(path / DONE / "zarr.json")
    try:
        chunks = tuple(done_meta["chunk_grid"]["configuration"]["chunk_shape"])
    except (TypeError, KeyError):
        raise StoreError(f"the store {str(path)!r} is damaged beyond repair (the metadata of its `done` array "
                         "is unreadable); use --overwrite to start it again") from None
    fresh = _sibling(path, "repairing")
    try:
        _write_layout(fresh, spec, chunks)
        layout = layout_for(spec)
        for variable in layout.variables:
            if _read_json(path / variable.name / "zarr.json") != _read_json(fresh / variable.name / "zarr.json"):
                raise StoreError(f"the store {str(path)!r} is damaged and its variable {variable.name!r} is not laid "
                                 "out as this spec's store would be; use --overwrite to start it again")
        for coordinate in [*spec.dims, *(d.name for d in layout.extra_dims.values() if d.values is not None)]:
            shutil.rmtree(path / coordinate, ignore_errors=True)
            shutil.copytree(fresh / coordinate, path / coordinate)
        if store_damage(path) is not None:
            os.replace(fresh / "zarr.json", path / "zarr.json")
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def check_store(path: str | Path, spec: SweepSpec) -> None:
    """Raise StoreError unless ``path`` holds the store of exactly this spec (its computation:
    problem, parameters and grid; the name and description may differ)."""
    attrs = _root_attrs(path)
    if attrs.get("sweep_format") != FORMAT:
        raise StoreError(f"the store {str(path)!r} was written by an earlier version of sweep (format "
                         f"{attrs.get('sweep_format')!r}) and cannot be resumed; use another --store path, or "
                         "--overwrite to replace it")
    if attrs.get("spec_hash") != spec.hash:
        raise StoreError(
            f"the store {str(path)!r} holds a different sweep (spec {attrs.get('spec', {}).get('name')!r}, "
            f"hash {str(attrs.get('spec_hash'))[:12]}) than spec {spec.name!r} (hash {spec.hash[:12]}); "
            "use another --store path, or --overwrite to replace it")


def store_kind(path: str | Path) -> str:
    """What is at ``path``: "missing", "empty" (an empty directory), "store" (a sweep
    store), "damaged" (a sweep store whose metadata is unreadable) or "foreign"."""
    path = Path(path)
    if not path.exists():
        return "missing"
    if path.is_dir() and not any(path.iterdir()):
        return "empty"
    try:
        _open_group(path, "r")
    except DamagedStore:
        return "damaged"
    except StoreError:
        return "foreign"
    return "store"


def store_damage(path: str | Path) -> DamagedStore | None:
    """What is wrong with a damaged sweep store at ``path`` (None if it is not one)."""
    try:
        _open_group(path, "r")
    except DamagedStore as error:
        return error
    except StoreError:
        return None
    return None


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a readable sweep store (as opposed to a missing path or anything else)."""
    return store_kind(path) == "store"


def check_writable(path: str | Path) -> None:
    """StoreError unless this process may write the store at ``path`` (its directory and
    its arrays' directories), or create it (its nearest existing ancestor)."""
    path = Path(path)
    if path.exists():
        places = [path, *(entry for entry in path.iterdir() if entry.is_dir()),
                  *(entry / "c" for entry in path.iterdir() if (entry / "c").is_dir())]
    else:
        ancestor = path.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        places = [ancestor]
    for place in places:
        if not os.access(place, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write the store {str(path)!r}: {str(place)!r} is read-only for this user")


# ---------------------------------------------------------------- reading

def grid_chunks(path: str | Path) -> tuple[int, ...]:
    """The chunk shape of the store along its grid dims."""
    return tuple(_open_group(path, "r")[DONE].chunks)


def read_done(path: str | Path) -> np.ndarray:
    """The ``done`` mask over the grid, as written (strict: damage raises; see :func:`scan_store`)."""
    return _open_group(path, "r")[DONE][...]


@dataclass
class Health:
    """What :func:`scan_store` found: ``done`` with the runs of damaged blocks counted as
    not done, the damaged blocks (by origin) with what is wrong in each, and unreadable
    coordinates. ``decoded``: every chunk of every finished block was decoded (else only
    ``done`` and ``status`` were decoded and the other chunks' files listed)."""

    chunks: tuple[int, ...]
    done: np.ndarray
    status: np.ndarray
    damaged: dict[tuple[int, ...], list[str]] = field(default_factory=dict)
    coordinates: list[str] = field(default_factory=list)
    decoded: bool = False

    @property
    def damaged_runs(self) -> int:
        return sum(block.size for block in self.damaged_blocks())

    def damaged_blocks(self) -> list[Block]:
        return [block for block in blocks_of(self.done.shape, self.chunks) if block.origin in self.damaged]

    def lines(self) -> list[str]:
        """One line per damaged block and coordinate, for the command line."""
        lines = [f"block at grid index {block.origin} ({plural(block.size, 'run')}): "
                 + "; ".join(self.damaged[block.origin])
                 for block in self.damaged_blocks()]
        return lines + [f"coordinate {name!r}: unreadable; `sweep run` rewrites it" for name in self.coordinates]


def scan_store(path: str | Path, *, decode: bool = False) -> Health:
    """Check the store's chunks block by block.

    Always: ``done`` and ``status`` are decoded chunk by chunk where a whole read fails,
    and (format /2) every variable's chunk file of a finished block must exist. With
    ``decode``, every chunk of every finished block, and the coordinates, are decoded
    too (checksums included): reads the whole store once.
    """
    group = _open_group(path, "r")
    checked = group.attrs.get("sweep_format") == FORMAT
    done_array = group[DONE]
    chunks = tuple(done_array.chunks)
    blocks = blocks_of(done_array.shape, chunks)
    damaged: dict[tuple[int, ...], list[str]] = {}
    done = _read_blockwise(done_array, blocks, damaged)
    status = _read_blockwise(group[STATUS_VARIABLE], blocks, damaged)
    finished = [block for block in blocks if done[block.region].any() and block.origin not in damaged]
    grid_dims = tuple(done_array.metadata.dimension_names)
    arrays = {name: group[name] for name in group.array_keys()}
    variables = [name for name, array in arrays.items()
                 if tuple(array.metadata.dimension_names or ())[:len(grid_dims)] == grid_dims and name not in grid_dims]
    if checked:
        for name in variables:
            present = _chunk_files(Path(path) / name)
            array = arrays[name]
            for block in finished:
                key = array.metadata.encode_chunk_key(_chunk_coords(block, chunks, array.ndim))
                if key not in present:
                    damaged.setdefault(block.origin, []).append(f"{name}: chunk file missing")
    coordinates = []
    if decode:
        for name in variables:
            _decode_blocks(arrays[name], [b for b in finished if b.origin not in damaged], chunks, damaged, name)
        for name in sorted(set(arrays) - set(variables)):
            try:
                arrays[name][...]
            except Exception:  # any decoding failure: zarr raises codec-specific errors
                coordinates.append(name)
    for origin in damaged:
        block = Block(origin, tuple(min(c, n - o) for o, c, n in zip(origin, chunks, done.shape)))
        done[block.region] = False
        status[block.region] = -1
    return Health(chunks, done, status, damaged, coordinates, decoded=decode)


def run_counts(path: str | Path, health: Health | None = None) -> dict[str, int]:
    """Runs by outcome: total, each status name among finished runs, and remaining
    (damaged blocks' runs count as remaining; pass ``health`` to reuse a scan)."""
    health = health or scan_store(path)
    done, status = health.done, health.status
    counts = {"total": int(done.size), "finished": int(done.sum())}
    counts.update({name: int(np.sum(done & (status == code))) for name, code in STATUS.items()})
    counts["remaining"] = counts["total"] - counts["finished"]
    return counts


def open_store(path: str | Path):
    """The store as an ``xarray.Dataset`` (lazy, dask-backed)."""
    import xarray as xr

    _open_group(path, "r")  # StoreError unless a readable sweep store
    try:
        return xr.open_zarr(str(path), consolidated=True)
    except Exception as error:  # the coordinates are read now: one may be damaged
        raise StoreError(f"cannot open the store {str(path)!r}: {_reason(error)}; `sweep verify` says what is "
                         "damaged, `sweep run` with its spec repairs it") from None


# ---------------------------------------------------------------- writing

@dataclass(frozen=True)
class WriteTarget:
    """Where a task writes, and on what conditions: the store at ``path`` must still hold
    the sweep ``spec_hash``, and the `sweep run` with ``token`` must still hold its lock
    (None: no lock is checked, for a store no `sweep run` writes, e.g. in tests)."""

    path: str
    spec_hash: str
    token: str | None

    def check(self) -> None:
        """Raise LockLost / StoreError if this target may no longer be written."""
        if self.token is not None:
            check_holder(self.path, self.token)


class BlockResults:
    """The results of one block of the grid (``shape``), in memory until written."""

    def __init__(self, layout: StoreLayout, shape: tuple[int, ...]):
        self.arrays = {v.name: np.full(shape + layout.extra_shape(v), v.fill,
                                       dtype=object if v.dtype == "str" else v.dtype)
                       for v in layout.variables}

    def record(self, index: tuple[int, ...], result: RunResult, wall_time: float) -> None:
        """Store one run's result at ``index`` (local to the block).

        A value with extra dims fills the leading corner of its entry (a curve cut at
        the run's last epoch, a narrower network's weights); the rest stays fill.
        Raises ValueError for a variable the layout does not declare or a status
        that is not one of STATUS.
        """
        for name in result.values:
            if name not in self.arrays or name in (STATUS_VARIABLE, WALL_TIME, ERROR, DONE):
                raise ValueError(f"a run returned {name!r}, which is not a variable of its problem's layout")
        if result.status not in STATUS:
            raise ValueError(f"a run returned status {result.status!r}, not one of {list(STATUS)}")
        for name, value in result.values.items():
            value = np.asarray(value)
            self.arrays[name][tuple(index) + tuple(slice(0, size) for size in value.shape)] = value
        self.arrays[STATUS_VARIABLE][index] = STATUS[result.status]
        self.arrays[WALL_TIME][index] = wall_time
        self.arrays[DONE][index] = True

    def record_failure(self, index: tuple[int, ...], message: str, wall_time: float) -> None:
        """Mark the run at ``index`` failed with its error message (other results stay fill)."""
        self.arrays[STATUS_VARIABLE][index] = STATUS["failed"]
        self.arrays[WALL_TIME][index] = wall_time
        self.arrays[ERROR][index] = message
        self.arrays[DONE][index] = True

    def write(self, target: WriteTarget, origin: tuple[int, ...]) -> None:
        """Write the block at grid offset ``origin``: every variable, then ``done`` last.

        The block must be chunk-aligned (it is then the only writer of its chunks).
        Before writing, and again before ``done``, ``target`` is checked (LockLost or
        StoreError, and nothing more is written, if the store changed hands). The
        variables are written concurrently on zarr's event loop (one round trip instead
        of one per variable: about half the time of a block's write).
        """
        from zarr.core.sync import sync  # runs a coroutine on zarr's own event loop

        target.check()
        sync(self._write_async(target, origin))

    async def _write_async(self, target: WriteTarget, origin: tuple[int, ...]) -> None:
        import asyncio

        import zarr.api.asynchronous as zarr_async

        try:
            group = await zarr_async.open_group(target.path, mode="r+", zarr_format=3, use_consolidated=True)
        except Exception as error:  # the store was removed or damaged under us
            raise StoreError(f"cannot open the store {target.path!r} to write: {error}") from None
        if group.attrs.get("spec_hash") != target.spec_hash:
            raise StoreError(f"the store {target.path!r} no longer holds this task's sweep; nothing written")
        region = tuple(slice(o, o + n) for o, n in zip(origin, self.arrays[DONE].shape))
        targets = {name: (await group.getitem(name)).with_config({"write_empty_chunks": True})
                   for name in self.arrays}
        await asyncio.gather(*(targets[name].setitem(region, values.astype(str) if values.dtype == object else values)
                               for name, values in self.arrays.items() if name != DONE))
        target.check()
        await targets[DONE].setitem(region, self.arrays[DONE])


# ---------------------------------------------------------------- helpers

def plural(count: int, noun: str) -> str:
    """"1 run", "3 runs"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _write_layout(path: Path, spec: SweepSpec, chunks: tuple[int, ...]) -> None:
    """Write the metadata and coordinates of ``spec``'s store at ``path`` (a new directory)
    and consolidate the metadata."""
    import zarr
    from zarr.codecs import ZstdCodec

    layout = layout_for(spec)
    compressors = ZstdCodec(level=0, checksum=True)
    every_chunk = {"write_empty_chunks": True}
    root = zarr.open_group(str(path), mode="w-", zarr_format=3, attributes={
        "sweep_format": FORMAT,
        "spec": spec.normalised(),
        "spec_hash": spec.hash,
        "versions": _versions(),
        "git_revision": _git_revision(),
    })
    for dim, values in spec.grid.items():
        coord = _coordinate_array(values)
        root.create_array(dim, shape=coord.shape, dtype=_zarr_dtype(coord.dtype), chunks=coord.shape,
                          dimension_names=(dim,), attributes={"long_name": f"swept run parameter {dim}"},
                          fill_value=_coordinate_fill(coord.dtype), compressors=compressors,
                          config=every_chunk)[:] = coord
    for dim in layout.extra_dims.values():
        if dim.values is not None:
            coord = np.asarray(dim.values)
            root.create_array(dim.name, shape=coord.shape, dtype=coord.dtype, chunks=coord.shape,
                              fill_value=_coordinate_fill(coord.dtype) if coord.dtype.kind != "i" else -1,
                              dimension_names=(dim.name,), attributes=dict(dim.attrs), compressors=compressors,
                              config=every_chunk)[:] = coord
    for variable in layout.variables:
        extra = layout.extra_shape(variable)
        attributes = variable.all_attrs()
        if variable.name == DONE:  # the store's identity, also where a damaged root cannot lose it
            attributes |= {"sweep_format": FORMAT, "spec_hash": spec.hash}
        root.create_array(variable.name, shape=layout.shape + extra, dtype=_zarr_dtype(np.dtype(
                              object if variable.dtype == "str" else variable.dtype)),
                          chunks=tuple(chunks) + extra, fill_value=variable.fill, compressors=compressors,
                          dimension_names=layout.dims + variable.dims, attributes=attributes)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def _sibling(path: Path, purpose: str) -> Path:
    """A new hidden sibling of ``path`` for ``purpose`` (see :func:`remove_leftovers`)."""
    return path.with_name(f".{path.name}.{purpose}-{secrets.token_hex(6)}")


def _read_blockwise(array, blocks: list[Block], damaged: dict[tuple[int, ...], list[str]]) -> np.ndarray:
    """The whole grid array; if that fails, block by block, recording the blocks that fail
    in ``damaged`` (their entries read as the fill value)."""
    try:
        return array[...]
    except Exception:  # a corrupt chunk: find which
        pass
    values = np.full(array.shape, array.fill_value, dtype=array.dtype)
    for block in blocks:
        try:
            values[block.region] = array[block.region]
        except Exception as error:
            damaged.setdefault(block.origin, []).append(f"{array.basename}: unreadable ({_reason(error)})")
    return values


def _decode_blocks(array, blocks: list[Block], chunks: tuple[int, ...], damaged: dict, name: str) -> None:
    """Decode ``blocks`` of ``array`` in slabs along the first grid dim, block by block
    where a slab fails; record failing blocks in ``damaged``."""
    row_bytes = max(1, array.dtype.itemsize * int(np.prod(array.shape[1:])) * chunks[0])
    rows_per_slab = chunks[0] * max(1, SCAN_SLAB_BYTES // row_bytes)
    by_slab: dict[int, list[Block]] = {}
    for block in blocks:
        by_slab.setdefault(block.origin[0] // rows_per_slab, []).append(block)
    for slab, members in by_slab.items():
        try:
            array[slab * rows_per_slab: (slab + 1) * rows_per_slab]
            continue
        except Exception:
            pass
        for block in members:
            try:
                array[block.region]
            except Exception as error:
                damaged.setdefault(block.origin, []).append(f"{name}: unreadable ({_reason(error)})")


def _chunk_coords(block: Block, chunks: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    grid = tuple(o // c for o, c in zip(block.origin, chunks))
    return grid + (0,) * (ndim - len(grid))


def _chunk_files(array_dir: Path) -> set[str]:
    """The chunk keys present on disk under an array's directory ("c/0/1", ...)."""
    keys = set()
    for folder, _, files in os.walk(array_dir / "c"):
        relative = Path(folder).relative_to(array_dir).as_posix()
        keys.update(f"{relative}/{name}" for name in files)
    return keys


def _reason(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text if len(text) <= 100 else text[:97] + "..."


def _coordinate_array(values: tuple[Any, ...]) -> np.ndarray:
    array = np.asarray(values)
    return array.astype(object) if array.dtype.kind == "U" else array


def _zarr_dtype(dtype: np.dtype) -> Any:
    return str if dtype == object else dtype


def _coordinate_fill(dtype: np.dtype) -> Any:
    return {"O": "", "b": False, "f": np.nan}.get(dtype.kind, 0)


def _read_json(path: Path) -> Any:
    """The JSON in ``path``, or None if it is missing or unreadable."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _open_group(path: str | Path, mode: str):
    """The store's root group; StoreError if ``path`` is not a sweep store, DamagedStore
    if it is one whose metadata cannot be read."""
    import zarr

    root = Path(path) / "zarr.json"
    if not root.is_file():
        raise StoreError(f"{str(path)!r} is not a sweep store (no zarr.json)")
    metadata = _read_json(root)
    attrs = metadata.get("attributes") if isinstance(metadata, dict) else None
    if not isinstance(attrs, dict) or attrs.get("sweep_format") not in READABLE_FORMATS:
        marker = _read_json(Path(path) / DONE / "zarr.json")
        marker = marker.get("attributes", {}) if isinstance(marker, dict) else {}
        if isinstance(marker, dict) and marker.get("sweep_format") == FORMAT:
            raise DamagedStore(f"the sweep store {str(path)!r} is damaged: its root metadata {str(root)!r} is "
                               "unreadable; `sweep run` with its spec rebuilds it (finished runs are kept), "
                               "`sweep run --overwrite` starts it again", marker.get("spec_hash"))
        if metadata is None:
            raise StoreError(f"{str(path)!r} is not a sweep store (its zarr.json is not readable JSON)")
        raise StoreError(f"{str(path)!r} is a Zarr group but not a sweep store (sweep_format "
                         f"{attrs.get('sweep_format') if isinstance(attrs, dict) else None!r}, expected {FORMAT!r})")
    if not isinstance(metadata.get("consolidated_metadata"), dict):
        raise DamagedStore(f"the sweep store {str(path)!r} is incomplete: its creation was interrupted (no "
                           "consolidated metadata) and it holds no finished run; `sweep run --overwrite` starts "
                           "it again", attrs.get("spec_hash") if attrs.get("sweep_format") == FORMAT else None)
    try:
        return zarr.open_group(str(path), mode=mode, zarr_format=3, use_consolidated=True)
    except Exception as error:  # zarr raises many kinds on inconsistent metadata
        raise DamagedStore(f"the sweep store {str(path)!r} is damaged: its metadata cannot be read "
                           f"({_reason(error)})", attrs.get("spec_hash")) from None


def _root_attrs(path: str | Path) -> dict[str, Any]:
    return dict(_open_group(path, "r").attrs)


def _versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _git_revision() -> str | None:
    """``git describe --always --dirty`` of the source tree, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None
