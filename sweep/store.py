"""The results store: one Zarr v3 group that opens as one ``xarray.Dataset``.

Layout (README, "The results store"): one dim per grid key (coordinate = its values,
in spec order), then the extra dims the problem declares (e.g. ``epoch``); the
problem's variables (its ``Problem.layout``) on the grid dims plus their extra dims,
and the engine's ``status``, ``wall_time``, ``error`` (message of a failed run) and
``done`` (bool). Every variable has an explicit fill value, so an unwritten chunk reads
as "no data" (NaN, -1, "" or False) rather than 0.

Files (format /4, FORMAT): the grid is cut into :class:`Block` s (the shape
:func:`sweep.tasks.choose_chunks` gives, within a file budget), and each variable's block
is one shard of zarr's sharding codec (the array's ``shards``; its ``chunks`` are the
shard's inner chunks, :func:`inner_chunks`), a file ``<variable>/c.<i>.<j>...`` beside
the others: a store holds :meth:`StoreLayout.files` files. A /3 store (FORMAT_3: one
plain chunk per block and variable, ``c/<i>/<j>``) is read, resumed, grown and copied in
its own layout (:func:`block_shape` reads either).

Protocol:

- :func:`create_store` builds the whole layout in a sibling temporary directory,
  consolidates its metadata, then renames it into place: a kill leaves either nothing
  or a complete empty store. Nothing rewrites metadata afterwards (except
  :func:`repair_store`, which rebuilds lost metadata of the same sweep).
- Writers write only whole :class:`Block` s (shards) with :meth:`BlockResults.write`
  (:class:`StoreWriter`): it opens the store's *directory* (a file descriptor, not the
  path), then checks that its `sweep run` holds the store's lock (the token,
  :mod:`sweep.lock`) and that the directory holds its sweep (spec hash), and writes every
  file relative to that descriptor, each under a temporary name renamed into place. A
  writer that was paused past those checks (a stopped worker, an orphaned task) while
  another `sweep run` replaced the store (``--overwrite`` builds a new directory and
  renames it into place) writes into the old, removed directory: nothing reaches the new
  store. The variables' shards come first, then (after checking the lock again) the
  block's *manifest*, ``manifests/<block index>.json``, with the sweep's hash, the
  writer's token, a digest of every chunk file of the block, ``done``'s included, and
  the fingerprint (size, mtime, inode) of each but ``done``'s, then ``done``. Every
  chunk is written, fill or not, with a checksum (zstd's).
- A run counts as finished only when its ``done`` is True and its block is undamaged
  (:func:`scan_store`): its manifest is there and of this sweep, every chunk file it
  lists exists, is not empty and (as `sweep run` checks) has the fingerprint it records
  or else its digest (`sweep verify`: the digest, always), so a chunk that a late writer
  of an earlier `sweep run` of this store landed after the block's manifest is damage,
  reported and rerun. The coordinates have their manifest too
  (``manifests/coordinates.json``, written with the layout).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import secrets
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from sweep.files import open_directory, read_bounded, write_file
from sweep.lock import check_holder
from sweep.provenance import blas_kernels
from sweep.problems.results import STATUS, RunResult
from sweep.problems.schema import ENGINE_VARIABLES, Dim, Variable

if TYPE_CHECKING:
    from sweep.spec import SweepSpec

# root attr: marks a directory as a sweep store. /2: checksummed chunks, fill chunks written,
# and SGD's visiting orders drawn in the kernels (separable results differ from /1's).
# /3: every block and the coordinates have a manifest (the numbers are /2's).
# /4: every block is one shard per variable (zarr's sharding codec; the numbers are /2's).
FORMAT = "linear-teachers-sweep/4"
FORMAT_3 = "linear-teachers-sweep/3"
FORMAT_2 = "linear-teachers-sweep/2"
RESUMABLE_FORMATS = (FORMAT, FORMAT_3)       # manifests and the same numbers: resumed, grown, copied
READABLE_FORMATS = (*RESUMABLE_FORMATS, FORMAT_2, "linear-teachers-sweep/1")
DONE, ERROR, STATUS_VARIABLE, WALL_TIME = "done", "error", "status", "wall_time"
MANIFESTS, COORDINATES_MANIFEST = "manifests", "coordinates"
PACKAGES = ("linear-teachers", "numpy", "numba", "scipy", "zarr", "xarray", "dask", "distributed")
SCAN_SLAB_BYTES = 64 * 2**20                 # a scan decodes this much of a variable at once
MAX_RUN_BYTES = 2**30                        # the most one run's results may take in the store
MAX_METADATA_BYTES = 2**26                   # a larger zarr.json or manifest is unreadable
MAX_CHUNK_FILE_BYTES = 2**31                 # a chunk is at most tasks.MAX_CHUNK_BYTES before compression
INNER_CHUNK_BYTES = 2**20                    # a shard's inner chunks (its read units) hold about this much
READ_CHUNK_BYTES = 128 * 2**20               # open_store's dask chunks hold up to this much of a variable
DIGEST_BYTES = 16                            # BLAKE2b digests of chunk files in manifests
LATE_WRITE = "not the chunk its block's writer recorded (a late write of another `sweep run`)"


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

    def run_bytes(self, variable: Variable) -> int:
        """Bytes one run takes in ``variable`` (a string counted as 8)."""
        return np.dtype(variable.dtype if variable.dtype != "str" else "O").itemsize * math.prod(
            self.extra_shape(variable))

    def files(self, blocks: int) -> int:
        """The files of a store of this layout written in ``blocks`` blocks (format /4): per
        block one shard per variable and its manifest; besides, the root's and every
        array's ``zarr.json``, each coordinate's one chunk, and the coordinates' manifest."""
        coordinates = len(self.dims) + sum(dim.values is not None for dim in self.extra_dims.values())
        return blocks * (len(self.variables) + 1) + 1 + len(self.variables) + 2 * coordinates + 1

    @property
    def bytes_per_run(self) -> int:
        """Approximate bytes one run takes over all variables."""
        return sum(self.run_bytes(v) for v in self.variables)

    def check_run_size(self) -> None:
        """StoreError when one run's results would take more than MAX_RUN_BYTES: a block
        holds at least one run in memory, padded to the sweep's largest extra dims, so such
        a layout cannot be run (its size, and its largest variable, are named)."""
        if self.bytes_per_run <= MAX_RUN_BYTES:
            return
        largest = max(self.variables, key=self.run_bytes)
        shape = " x ".join(map(str, self.extra_shape(largest)))
        raise StoreError(f"one run of this sweep would take {byte_size(self.bytes_per_run)} in the store (variable "
                         f"{largest.name!r}: {shape} {largest.dtype} per run, padded to the sweep's largest values), "
                         f"more than the {byte_size(MAX_RUN_BYTES)} a run may take; sweep smaller values, or do not "
                         "store that variable")


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
    """Lay out the store of ``spec`` at ``path`` in blocks (shards) of shape ``chunks``
    along the grid dims, replacing what is there: built in a sibling temporary directory,
    then renamed into place (a kill leaves the old store, nothing, or the complete new store)."""
    swap_into_place(Path(path), "creating",
                    lambda building: write_layout(building, spec, chunks, [history_entry(spec, spec.size, {})]))


def swap_into_place(path: Path, purpose: str, build) -> None:
    """Call ``build(directory)`` on a new sibling directory of ``path`` named for
    ``purpose``, then rename it into place, replacing what is at ``path`` (a kill
    leaves the old directory, nothing, or the complete new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    building = _sibling(path, purpose)
    try:
        build(building)
        if path.exists():
            discarded = _sibling(path, "discarding")
            os.rename(path, discarded)
            os.rename(building, path)
            shutil.rmtree(discarded, ignore_errors=True)  # a late writer may still hold it: remove_leftovers
        else:
            os.rename(building, path)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def history_entry(spec: SweepSpec, runs: int, added: dict[str, list[Any]]) -> dict[str, Any]:
    """One entry of a store's ``history`` attribute: the spec that created or grew it
    (name, hash), the runs it added and along which values (``added``; {} on creation),
    when (UTC), with which code (git revision, package version)."""
    import datetime

    return {"spec": spec.name, "spec_hash": spec.hash, "runs_added": runs, "added": added,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "git_revision": _git_revision(), "version": _versions()["linear-teachers"]}


def remove_leftovers(path: str | Path) -> None:
    """Remove the temporary siblings of the store at ``path`` that a killed
    :func:`create_store`, :func:`repair_store` or :func:`sweep.growth.grow_store` left (call only while holding its lock)."""
    path = Path(path)
    prefixes = tuple(f".{path.name}.{purpose}-" for purpose in ("creating", "discarding", "repairing", "growing"))
    for leftover in path.parent.iterdir():
        if leftover.name.startswith(prefixes):
            shutil.rmtree(leftover, ignore_errors=True)


def repair_store(path: str | Path, spec: SweepSpec) -> None:
    """Rewrite the coordinates of a damaged store of ``spec``, and its root ``zarr.json``
    if that is unreadable, keeping every chunk of its variables.

    The block shape (the shards; a /3 store's chunks: its chunk grid) and the format are
    read from the ``done`` array's own metadata. Raises StoreError
    when that is unreadable, or when the arrays on disk are not laid out as ``spec``'s
    store would be (then only ``--overwrite`` helps).
    """
    path = Path(path)
    done_meta = _read_json(path / DONE / "zarr.json")
    try:
        chunks = tuple(done_meta["chunk_grid"]["configuration"]["chunk_shape"])
        sweep_format = done_meta["attributes"]["sweep_format"]
        if sweep_format not in RESUMABLE_FORMATS:
            raise KeyError(sweep_format)
    except (TypeError, KeyError):
        raise StoreError(f"the store {str(path)!r} is damaged beyond repair (the metadata of its `done` array "
                         "is unreadable); use --overwrite to start it again") from None
    fresh = _sibling(path, "repairing")
    try:
        write_layout(fresh, spec, chunks, [history_entry(spec, spec.size, {})],  # used if the root is lost
                     sweep_format=sweep_format)
        layout = layout_for(spec)
        for variable in layout.variables:
            if _read_json(path / variable.name / "zarr.json") != _read_json(fresh / variable.name / "zarr.json"):
                raise StoreError(f"the store {str(path)!r} is damaged and its variable {variable.name!r} is not laid "
                                 "out as this spec's store would be; use --overwrite to start it again")
        for coordinate in [*spec.dims, *(d.name for d in layout.extra_dims.values() if d.values is not None)]:
            shutil.rmtree(path / coordinate, ignore_errors=True)
            shutil.copytree(fresh / coordinate, path / coordinate)
        (path / MANIFESTS).mkdir(exist_ok=True)
        coordinates_manifest = f"{MANIFESTS}/{COORDINATES_MANIFEST}.json"
        os.replace(fresh / coordinates_manifest, path / coordinates_manifest)
        if store_damage(path) is not None:
            os.replace(fresh / "zarr.json", path / "zarr.json")
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def check_format(path: str | Path) -> None:
    """Raise StoreError unless the store at ``path`` has a format this version resumes
    (RESUMABLE_FORMATS: /4, or /3, kept in its own layout)."""
    attrs = root_attrs(path)
    if attrs.get("sweep_format") not in RESUMABLE_FORMATS:
        raise StoreError(f"the store {str(path)!r} was written by an earlier version of sweep (format "
                         f"{attrs.get('sweep_format')!r}) and cannot be resumed; use another --store path, or "
                         "--overwrite to replace it")


def check_store(path: str | Path, spec: SweepSpec) -> None:
    """Raise StoreError unless ``path`` holds the store of exactly this spec (its computation:
    problem, parameters and grid; the name and description may differ)."""
    check_format(path)
    attrs = root_attrs(path)
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
    """StoreError unless this process may write the store at ``path`` (every directory in
    it, chunk directories included), or create it (its nearest existing ancestor)."""
    path = Path(path)
    if path.exists():
        places = [Path(folder) for folder, _, _ in os.walk(path)]  # every chunk folder: tasks write in each
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
    """The block shape of the store along its grid dims (the unit one task writes)."""
    return block_shape(_open_group(path, "r")[DONE])


def block_shape(array) -> tuple[int, ...]:
    """The shape of one block of a stored Zarr array: its shards (format /4), or its
    chunks (a /3 store, one chunk file per block and variable)."""
    return tuple(array.shards or array.chunks)


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


def scan_store(path: str | Path, *, decode: bool = False, fingerprints: bool = False) -> Health:
    """Check the store's chunks (shards) block by block.

    Always: ``done`` and ``status`` are decoded chunk by chunk where a whole read fails,
    and (formats /3, /4) every variable's chunk file and the manifest of a finished block,
    and every coordinate's chunk file, must exist, and no shard file be empty. With
    ``fingerprints`` (what `sweep run` checks), every finished block's files must be the
    ones its manifest records (the sweep's hash; each file by the size, mtime and inode
    recorded when it was written, or where those differ or are not recorded, a /3
    store's, by its digest; ``done`` and the coordinates by digest), and the coordinates
    decode: reads little more than ``done``. With ``decode`` (`sweep verify`), every chunk
    of every finished block is decoded too (checksums included) and every file checked by
    its digest: reads the whole store once, a slab at a time.
    """
    group = _open_group(path, "r")
    checked = group.attrs.get("sweep_format") in RESUMABLE_FORMATS
    done_array = group[DONE]
    chunks = block_shape(done_array)
    blocks = blocks_of(done_array.shape, chunks)
    damaged: dict[tuple[int, ...], list[str]] = {}
    done = _read_blockwise(done_array, blocks, damaged)
    status = _read_blockwise(group[STATUS_VARIABLE], blocks, damaged)
    grid_dims = tuple(done_array.metadata.dimension_names)
    arrays = {name: group[name] for name in group.array_keys()}
    variables = [name for name, array in arrays.items()
                 if tuple(array.metadata.dimension_names or ())[:len(grid_dims)] == grid_dims and name not in grid_dims]
    coordinate_names = sorted(set(arrays) - set(variables))
    coordinates = []
    if checked:
        present = {name: {key: size for key, size in files_below(Path(path) / name).items() if key != "zarr.json"}
                   for name in [*variables, *coordinate_names]}
        for name in variables:
            if arrays[name].shards:  # an empty shard file reads as fill: damage, as an unreadable chunk is
                separator = arrays[name].metadata.chunk_key_encoding.separator
                empty = [key for key, size in present[name].items() if size == 0 and key.startswith(f"c{separator}")]
                for key in empty:  # (a writer's temporary file is ".c.<i>...partial")
                    indices = key.split(separator)[1:1 + len(chunks)]
                    origin = tuple(int(i) * c for i, c in zip(indices, chunks))
                    damaged.setdefault(origin, []).append(f"{name}: empty shard file")
    finished = [block for block in blocks if done[block.region].any() and block.origin not in damaged]

    def chunk_key(name: str, block: Block) -> str:
        return arrays[name].metadata.encode_chunk_key(_chunk_coords(block, chunks, arrays[name].ndim))

    if checked:
        manifests = {f"{MANIFESTS}/{key}" for key in files_below(Path(path) / MANIFESTS)}
        for block in finished:
            for name in variables:
                if chunk_key(name, block) not in present[name]:
                    damaged.setdefault(block.origin, []).append(f"{name}: chunk file missing")
            if _manifest_key(chunk_key(DONE, block)) not in manifests:
                damaged.setdefault(block.origin, []).append("its manifest is missing")
        coordinates = [name for name in coordinate_names if not present[name]]
    if decode:
        for name in variables:
            _decode_blocks(arrays[name], [b for b in finished if b.origin not in damaged], chunks, damaged, name)
    if decode or fingerprints:
        for name in coordinate_names:
            try:
                arrays[name][...]
            except Exception:  # any decoding failure: zarr raises codec-specific errors
                coordinates.append(name)
        if checked:
            spec_hash = group.attrs.get("spec_hash")
            for block in finished:
                if block.origin not in damaged:
                    keys = [f"{name}/{chunk_key(name, block)}" for name in variables]
                    manifest = _manifest_key(chunk_key(DONE, block))
                    unusable, late = _against_manifest(Path(path), manifest, keys, spec_hash, by_fingerprint=not decode)
                    problems = [unusable] if unusable else [f"{key.partition('/')[0]}: {LATE_WRITE}" for key in late]
                    if problems:
                        damaged[block.origin] = problems
            keys = [f"{name}/{arrays[name].metadata.encode_chunk_key((0,))}" for name in coordinate_names]
            unusable, late = _against_manifest(Path(path), f"{MANIFESTS}/{COORDINATES_MANIFEST}.json", keys, spec_hash)
            coordinates += coordinate_names if unusable else [key.partition("/")[0] for key in late]
    coordinates = sorted(set(coordinates))
    for origin in damaged:
        block = Block(origin, tuple(min(c, n - o) for o, c, n in zip(origin, chunks, done.shape)))
        done[block.region] = False
        status[block.region] = -1
    return Health(chunks, done, status, damaged, coordinates, decoded=decode)


def _against_manifest(path: Path, manifest_key: str, keys: list[str], spec_hash: str, *,
                      by_fingerprint: bool = False) -> tuple[str | None, list[str]]:
    """The files ``keys`` (relative to the store at ``path``) against the manifest at
    ``manifest_key``: (what makes the manifest unusable, or None; the keys whose file is
    missing or not the one the manifest records). ``by_fingerprint``: a file whose
    :func:`_fingerprint` is the one recorded is not read."""
    try:
        manifest = json.loads(read_bounded(path / manifest_key, MAX_METADATA_BYTES))
        recorded, sweep = manifest["chunks"], manifest["spec_hash"]
        fingerprints = manifest.get("files", {}) if by_fingerprint else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "its manifest is unreadable", []
    if sweep != spec_hash or not isinstance(recorded, dict) or not isinstance(fingerprints, dict):
        return "its manifest is of another sweep", []
    late = []
    for key in keys:
        try:
            if key in fingerprints and fingerprints[key] == _fingerprint(os.stat(path / key)):
                continue
            if recorded.get(key) == _digest(read_bounded(path / key, MAX_CHUNK_FILE_BYTES)):
                continue
        except OSError:
            pass
        late.append(key)
    return None, late


def _fingerprint(stat: os.stat_result) -> list[int]:
    """What identifies a file as written, without reading it: size, mtime (ns), inode
    (a file replaced by another writer, or rewritten, differs; a hard link does not)."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def run_counts(path: str | Path, health: Health | None = None) -> dict[str, int]:
    """Runs by outcome: total, each status name among finished runs, and remaining
    (damaged blocks' runs count as remaining; pass ``health`` to reuse a scan)."""
    health = health or scan_store(path)
    done, status = health.done, health.status
    counts = {"total": int(done.size), "finished": int(done.sum())}
    counts.update({name: int(np.sum(done & (status == code))) for name, code in STATUS.items()})
    counts["remaining"] = counts["total"] - counts["finished"]
    return counts


def open_group_arrays(path: str | Path) -> dict[str, Any]:
    """The store's Zarr arrays by name (lazy; StoreError unless a readable sweep store)."""
    group = _open_group(path, "r")
    return {name: group[name] for name in group.array_keys()}


def open_store(path: str | Path):
    """The store as an ``xarray.Dataset`` (lazy, dask-backed, in :func:`read_chunks`)."""
    import xarray as xr

    group = _open_group(path, "r")  # StoreError unless a readable sweep store
    try:
        return xr.open_zarr(str(path), consolidated=True, chunks=read_chunks(group))
    except Exception as error:  # the coordinates are read now: one may be damaged
        raise StoreError(f"cannot open the store {str(path)!r}: {_reason(error)}; `sweep verify` says what is "
                         "damaged, `sweep run` with its spec repairs it") from None


def read_chunks(group) -> dict[str, int]:
    """The dask chunks of :func:`open_store` along the grid dims: whole blocks, as many
    as keep every variable's chunk within READ_CHUNK_BYTES (a string counted as 8
    bytes), gathered from the last grid dim backwards (whole along the extra dims)."""
    done = group[DONE]
    block, dims = block_shape(done), tuple(done.metadata.dimension_names)
    largest = max(array.dtype.itemsize * math.prod(array.shape[len(dims):]) for array in group.array_values()
                  if tuple(array.metadata.dimension_names or ())[:len(dims)] == dims)
    blocks = max(1, READ_CHUNK_BYTES // max(1, largest * math.prod(block)))
    chunks = dict(zip(dims, block))
    for dim, size, n in reversed(list(zip(dims, block, done.shape))):
        taken = min(-(-n // size), blocks)
        chunks[dim], blocks = size * taken, blocks // taken
    return chunks


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


# A run's scalar values put into an entry as they are (by dtype kind of the variable): the
# same numbers as through an array made of them; every other value goes through np.asarray.
DIRECT_SCALARS = {"f": (float, np.float64, np.float32), "b": (bool, np.bool_)}


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
        index = tuple(index)
        for name, value in result.values.items():
            if type(value) in DIRECT_SCALARS.get(self.arrays[name].dtype.kind, ()):
                self.arrays[name][index] = value  # the entry at index, filled (over its extra dims, if any)
                continue
            value = np.asarray(value)
            self.arrays[name][index + tuple(slice(0, size) for size in value.shape)] = value
        self.arrays[STATUS_VARIABLE][index] = STATUS[result.status]
        self.arrays[WALL_TIME][index] = wall_time
        self.arrays[DONE][index] = True

    def keep_stored(self, path: str, origin: tuple[int, ...], keep: np.ndarray) -> None:
        """Take the results of the runs where ``keep`` is True (finished runs of a block
        that runs again, e.g. one a grow cut short) from the store at ``path``, block at
        ``origin``: rewritten as they are, not recomputed."""
        group = _open_group(path, "r")
        region = tuple(slice(o, o + n) for o, n in zip(origin, keep.shape))
        for name, values in self.arrays.items():
            values[keep] = group[name][region][keep]

    def record_failure(self, index: tuple[int, ...], message: str, wall_time: float) -> None:
        """Mark the run at ``index`` failed with its error message (other results stay fill)."""
        self.arrays[STATUS_VARIABLE][index] = STATUS["failed"]
        self.arrays[WALL_TIME][index] = wall_time
        self.arrays[ERROR][index] = message
        self.arrays[DONE][index] = True

    def write(self, target: WriteTarget, origin: tuple[int, ...]) -> None:
        """Write the block at grid offset ``origin`` (shard-aligned: it is then the only
        writer of its shards), bound to ``target``'s store directory and `sweep run`.

        The store's directory is opened first; then ``target`` is checked (LockLost or
        StoreError, and nothing written, if the store changed hands) and the directory's
        spec hash compared; the block is encoded in memory, and its files are written
        through the directory's descriptor, each atomically (:func:`sweep.files.write_file`):
        the variables' shards, then (``target`` checked again) the block's manifest (their
        digests and fingerprints, ``done``'s digest), then ``done``. A writer paused
        meanwhile while another `sweep run` replaced the store writes into the removed
        directory: StoreError, nothing reaches the new store.
        """
        directory = _open_store_directory(target.path)
        try:
            target.check()
            metadata = read_bounded("zarr.json", MAX_METADATA_BYTES, dir_fd=directory)
            if _metadata_attrs(metadata).get("spec_hash") != target.spec_hash:
                raise StoreError(f"the store {target.path!r} no longer holds this task's sweep; nothing written")
            files = self._encode(metadata, origin)
            done_key = next(key for key in files if key.startswith(f"{DONE}/"))
            written = {}
            for key, data in files.items():
                if key != done_key:
                    write_file(key, data, directory)
                    written[key] = _fingerprint(os.stat(key, dir_fd=directory))
            target.check()
            manifest = {"spec_hash": target.spec_hash, "token": target.token,
                        "chunks": {key: _digest(data) for key, data in files.items()}, "files": written}
            write_file(_manifest_key(done_key.removeprefix(f"{DONE}/")), json.dumps(manifest).encode(), directory)
            write_file(done_key, files[done_key], directory)
        except FileNotFoundError:
            raise StoreError(f"the store {target.path!r} was replaced or removed while this task wrote to it; "
                             "nothing written") from None
        finally:
            os.close(directory)

    def _encode(self, metadata: bytes, origin: tuple[int, ...]) -> dict[str, bytes]:
        """The chunk files of this block at ``origin`` ({key: bytes}, keys relative to
        the store), encoded by zarr in memory from the store's consolidated ``metadata``
        (concurrently on zarr's event loop: one round trip, not one per variable)."""
        import zarr
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync  # runs a coroutine on zarr's own event loop

        files = {"zarr.json": default_buffer_prototype().buffer.from_bytes(metadata)}
        sync(self._encode_async(zarr.storage.MemoryStore(files), origin))
        return {key: buffer.to_bytes() for key, buffer in files.items() if key != "zarr.json"}

    async def _encode_async(self, memory, origin: tuple[int, ...]) -> None:
        import asyncio

        import zarr.api.asynchronous as zarr_async

        group = await zarr_async.open_group(memory, mode="r+", zarr_format=3, use_consolidated=True)
        region = tuple(slice(o, o + n) for o, n in zip(origin, self.arrays[DONE].shape))
        targets = {name: (await group.getitem(name)).with_config({"write_empty_chunks": True})
                   for name in self.arrays}
        await asyncio.gather(*(targets[name].setitem(region, values.astype(str) if values.dtype == object else values)
                               for name, values in self.arrays.items()))


# ---------------------------------------------------------------- helpers

def plural(count: int, noun: str) -> str:
    """"1 run", "3 runs"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def byte_size(count: int) -> str:
    """"4 GiB", "2.50 GiB", "400 MiB", "512 B"."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if count >= size:
            value = count / size
            return f"{value:.0f} {unit}" if value == round(value) else f"{value:.2f} {unit}"
    return f"{count} B"


def write_layout(path: Path, spec: SweepSpec, chunks: tuple[int, ...], history: list[dict[str, Any]], *,
                 sweep_format: str = FORMAT, inner: dict[str, tuple[int, ...]] | None = None) -> None:
    """Write the metadata and coordinates of ``spec``'s store at ``path`` (a new directory),
    blocks of shape ``chunks`` along the grid dims, with ``history`` (:func:`history_entry`
    s, oldest first) in its root attributes, and consolidate the metadata.

    Format /4 (FORMAT): each variable's block is one shard, whose inner chunks (along the
    grid dims; whole along the extra dims) are ``inner[name]`` if given (a grown store
    keeps its variables' inner chunks), else :func:`inner_chunks`. Format /3 (the layout
    of a /3 store that grows or is repaired): each block is one chunk.
    """
    import zarr
    from zarr.codecs import ZstdCodec

    layout = layout_for(spec)
    compressors = ZstdCodec(level=0, checksum=True)
    every_chunk = {"write_empty_chunks": True}
    # /4: chunk files side by side in their array's folder ("c.2.0"), no folder per index
    keys = {"chunk_key_encoding": {"name": "default", "separator": "."}} if sweep_format == FORMAT else {}
    root = zarr.open_group(str(path), mode="w-", zarr_format=3, attributes={
        "sweep_format": sweep_format,
        "spec": spec.normalised(),
        "spec_hash": spec.hash,
        "versions": _versions(),
        "git_revision": _git_revision(),
        "blas_kernels": blas_kernels(),
        "history": history,
    })
    for dim, values in spec.grid.items():
        coord = _coordinate_array(values)
        root.create_array(dim, shape=coord.shape, dtype=_zarr_dtype(coord.dtype), chunks=coord.shape,
                          dimension_names=(dim,), attributes={"long_name": f"swept run parameter {dim}"},
                          fill_value=_coordinate_fill(coord.dtype), compressors=compressors,
                          config=every_chunk, **keys)[:] = coord
    for dim in layout.extra_dims.values():
        if dim.values is not None:
            coord = np.asarray(dim.values)
            root.create_array(dim.name, shape=coord.shape, dtype=coord.dtype, chunks=coord.shape,
                              fill_value=_coordinate_fill(coord.dtype) if coord.dtype.kind != "i" else -1,
                              dimension_names=(dim.name,), attributes=dict(dim.attrs), compressors=compressors,
                              config=every_chunk, **keys)[:] = coord
    for variable in layout.variables:
        extra = layout.extra_shape(variable)
        attributes = variable.all_attrs()
        if variable.name == DONE:  # the store's identity, also where a damaged root cannot lose it
            attributes |= {"sweep_format": sweep_format, "spec_hash": spec.hash}
        if sweep_format == FORMAT:
            read_unit = (inner or {}).get(variable.name) or inner_chunks(chunks, layout.run_bytes(variable))
            blocking = {"shards": tuple(chunks) + extra, "chunks": tuple(read_unit) + extra}
        else:
            blocking = {"chunks": tuple(chunks) + extra}
        root.create_array(variable.name, shape=layout.shape + extra, dtype=_zarr_dtype(np.dtype(
                              object if variable.dtype == "str" else variable.dtype)),
                          **blocking, fill_value=variable.fill, compressors=compressors,
                          dimension_names=layout.dims + variable.dims, attributes=attributes, **keys)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))
    coordinates = [name for name in [*spec.grid, *layout.extra_dims] if name in root]
    keys = [f"{name}/{root[name].metadata.encode_chunk_key((0,))}" for name in coordinates]
    manifest = {"spec_hash": spec.hash, "token": None, "chunks": {key: _digest((path / key).read_bytes()) for key in keys}}
    (path / MANIFESTS).mkdir()
    (path / MANIFESTS / f"{COORDINATES_MANIFEST}.json").write_text(json.dumps(manifest))


def inner_chunks(block: tuple[int, ...], run_bytes: int) -> tuple[int, ...]:
    """The inner chunks (read units) of a shard of ``block`` runs along the grid dims, for
    a variable of ``run_bytes`` per run: about INNER_CHUNK_BYTES each (at least one
    run), filled from the last grid dim backwards, each a divisor of the block along its
    dim (zarr's sharding codec tiles a shard with whole inner chunks)."""
    runs = max(1, INNER_CHUNK_BYTES // max(1, run_bytes))
    inner = [1] * len(block)
    for axis in reversed(range(len(block))):
        inner[axis] = max(d for d in _divisors(block[axis]) if d <= runs)
        runs //= inner[axis]
        if inner[axis] < block[axis]:
            break
    return tuple(inner)


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in small]


def _open_store_directory(path: str) -> int:
    try:
        return open_directory(path)
    except OSError as error:
        raise StoreError(f"cannot open the store {path!r} to write: {error.strerror}") from None


def _metadata_attrs(metadata: bytes) -> dict[str, Any]:
    """The attributes in a root ``zarr.json``'s bytes ({} if unreadable)."""
    try:
        attrs = json.loads(metadata).get("attributes")
    except (ValueError, AttributeError):
        return {}
    return attrs if isinstance(attrs, dict) else {}


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()


def _manifest_key(done_chunk_key: str) -> str:
    """The manifest of the block whose ``done`` chunk is ``done_chunk_key`` ("c.2.0.0", or
    a /3 store's "c/2/0/0"): "manifests/2.0.0.json"."""
    return f"{MANIFESTS}/{done_chunk_key[2:].replace('/', '.')}.json"


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
    """Decode ``blocks`` of ``array`` in slabs of about SCAN_SLAB_BYTES along the first
    grid dim (block by block where a row of blocks is larger, or a slab fails); record
    failing blocks in ``damaged``. Holds one slab (or block) in memory at a time."""
    row_bytes = max(1, array.dtype.itemsize * int(np.prod(array.shape[1:])) * chunks[0])
    if row_bytes > SCAN_SLAB_BYTES:
        groups = [(block.region, [block]) for block in blocks]
    else:
        rows_per_slab = chunks[0] * (SCAN_SLAB_BYTES // row_bytes)
        by_slab: dict[int, list[Block]] = {}
        for block in blocks:
            by_slab.setdefault(block.origin[0] // rows_per_slab, []).append(block)
        groups = [((slice(slab * rows_per_slab, (slab + 1) * rows_per_slab),), members)
                  for slab, members in by_slab.items()]
    for region, members in groups:
        try:
            array[region]
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


def files_below(folder: Path, prefix: str = "") -> dict[str, int]:
    """The files below ``folder`` and their sizes, by path relative to it ("zarr.json",
    "c.0.1", a /3 store's "c/0/1", ...; {} if it is missing)."""
    files = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return files
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            files.update(files_below(Path(entry.path), f"{prefix}{entry.name}/"))
        else:
            try:
                files[prefix + entry.name] = entry.stat(follow_symlinks=False).st_size
            except OSError:  # removed meanwhile
                pass
    return files


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
    """The JSON in ``path``, or None if it is missing, unreadable or too large."""
    try:
        return json.loads(read_bounded(path, MAX_METADATA_BYTES))
    except (OSError, ValueError):
        return None


def _open_group(path: str | Path, mode: str):
    """The store's root group; StoreError if ``path`` is not a sweep store, DamagedStore
    if it is one whose metadata cannot be read."""
    import zarr

    root = Path(path) / "zarr.json"
    metadata = _read_json(root)
    attrs = metadata.get("attributes") if isinstance(metadata, dict) else None
    if not isinstance(attrs, dict) or attrs.get("sweep_format") not in READABLE_FORMATS:
        marker = _read_json(Path(path) / DONE / "zarr.json")
        marker = marker.get("attributes", {}) if isinstance(marker, dict) else {}
        if isinstance(marker, dict) and marker.get("sweep_format") in RESUMABLE_FORMATS:
            raise DamagedStore(f"the sweep store {str(path)!r} is damaged: its root metadata {str(root)!r} is "
                               f"{'unreadable' if root.exists() else 'missing'}; `sweep run` with its spec rebuilds "
                               "it (finished runs are kept), `sweep run --overwrite` starts it again",
                               marker.get("spec_hash"))
        if not root.is_file():
            raise StoreError(f"{str(path)!r} is not a sweep store (no zarr.json)")
        if metadata is None:
            raise StoreError(f"{str(path)!r} is not a sweep store (its zarr.json is not readable JSON)")
        raise StoreError(f"{str(path)!r} is a Zarr group but not a sweep store (sweep_format "
                         f"{attrs.get('sweep_format') if isinstance(attrs, dict) else None!r}, expected {FORMAT!r})")
    if not isinstance(metadata.get("consolidated_metadata"), dict):
        raise DamagedStore(f"the sweep store {str(path)!r} is incomplete: its creation was interrupted (no "
                           "consolidated metadata) and it holds no finished run; `sweep run --overwrite` starts "
                           "it again", attrs.get("spec_hash") if attrs.get("sweep_format") in RESUMABLE_FORMATS else None)
    try:
        return zarr.open_group(str(path), mode=mode, zarr_format=3, use_consolidated=True)
    except Exception as error:  # zarr raises many kinds on inconsistent metadata
        raise DamagedStore(f"the sweep store {str(path)!r} is damaged: its metadata cannot be read "
                           f"({_reason(error)})", attrs.get("spec_hash")) from None


def root_attrs(path: str | Path) -> dict[str, Any]:
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
