"""The results store: one Zarr v3 group that opens as one ``xarray.Dataset``.

Layout (README, "The results store"): one dim per grid key (coordinate = its values,
in spec order), then the extra dims the problem declares (e.g. ``epoch``); the
problem's variables (its ``Problem.layout``) on the grid dims plus their extra dims,
and the engine's ``status``, ``wall_time``, ``error`` (message of a failed run) and
``done`` (bool). Every variable has an explicit fill value, so an unwritten chunk reads
as "no data" (NaN, -1, "" or False) rather than 0.

Protocol: :func:`create_store` lays out all the metadata and consolidates it once.
After that, writers only write chunk-aligned blocks of the grid with
:meth:`BlockResults.write`, which writes ``done`` last: a run counts as finished only
when its ``done`` is True; nothing is ever inferred from which chunks exist.
"""
from __future__ import annotations

import importlib.metadata
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sweep.problems.base import ENGINE_VARIABLES, STATUS, Dim, RunResult, Variable

if TYPE_CHECKING:
    from sweep.spec import SweepSpec

FORMAT = "linear-teachers-sweep/2"  # root attr: marks a directory as a sweep store; 2: SGD orders drawn in the kernels
DONE, ERROR, STATUS_VARIABLE, WALL_TIME = "done", "error", "status", "wall_time"
PACKAGES = ("linear-teachers", "numpy", "numba", "scipy", "zarr", "xarray", "dask", "distributed")


class StoreError(ValueError):
    """The store at a path cannot be used for the requested sweep; the message says why."""


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


def create_store(path: str | Path, spec: SweepSpec, chunks: tuple[int, ...]) -> None:
    """Write the whole layout of ``spec`` at ``path`` (replacing it), chunked ``chunks``
    along the grid dims, then consolidate the metadata (the only time it is)."""
    import zarr

    layout = layout_for(spec)
    root = zarr.open_group(str(path), mode="w", zarr_format=3, attributes={
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
                          fill_value=_coordinate_fill(coord.dtype))[:] = coord
    for dim in layout.extra_dims.values():
        if dim.values is not None:
            coord = np.asarray(dim.values)
            root.create_array(dim.name, shape=coord.shape, dtype=coord.dtype, chunks=coord.shape,
                              fill_value=_coordinate_fill(coord.dtype) if coord.dtype.kind != "i" else -1,
                              dimension_names=(dim.name,), attributes=dict(dim.attrs))[:] = coord
    for variable in layout.variables:
        extra = layout.extra_shape(variable)
        root.create_array(variable.name, shape=layout.shape + extra, dtype=_zarr_dtype(np.dtype(
                              object if variable.dtype == "str" else variable.dtype)),
                          chunks=tuple(chunks) + extra, fill_value=variable.fill,
                          dimension_names=layout.dims + variable.dims, attributes=variable.all_attrs())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def check_store(path: str | Path, spec: SweepSpec) -> None:
    """Raise StoreError unless ``path`` holds the store of exactly this spec."""
    attrs = _root_attrs(path)
    if attrs.get("spec_hash") != spec.hash:
        raise StoreError(
            f"the store {str(path)!r} holds a different sweep (spec {attrs.get('spec', {}).get('name')!r}, "
            f"hash {str(attrs.get('spec_hash'))[:12]}) than spec {spec.name!r} (hash {spec.hash[:12]}); "
            "use another --store path, or --overwrite to replace it")


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a sweep store (as opposed to a missing path or anything else)."""
    try:
        _root_attrs(path)
    except StoreError:
        return False
    return True


def grid_chunks(path: str | Path) -> tuple[int, ...]:
    """The chunk shape of the store along its grid dims."""
    return tuple(_open_group(path, "r")[DONE].chunks)


def read_done(path: str | Path) -> np.ndarray:
    """The ``done`` mask over the grid."""
    return _open_group(path, "r")[DONE][...]


def run_counts(path: str | Path) -> dict[str, int]:
    """Runs by outcome: total, each status name among finished runs, and remaining."""
    group = _open_group(path, "r")
    done, status = group[DONE][...], group[STATUS_VARIABLE][...]
    counts = {"total": int(done.size), "finished": int(done.sum())}
    counts.update({name: int(np.sum(done & (status == code))) for name, code in STATUS.items()})
    counts["remaining"] = counts["total"] - counts["finished"]
    return counts


def open_store(path: str | Path):
    """The store as an ``xarray.Dataset`` (lazy, dask-backed)."""
    import xarray as xr

    _open_group(path, "r")  # StoreError unless a sweep store
    return xr.open_zarr(str(path), consolidated=True)


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

    def write(self, path: str | Path, origin: tuple[int, ...]) -> None:
        """Write the block at grid offset ``origin``: every variable, then ``done`` last.

        The block must be chunk-aligned (it is then the only writer of its chunks). The
        variables are written concurrently on zarr's event loop (one round trip instead
        of one per variable: about half the time of a block's write); ``done`` is written
        only once all of them are."""
        from zarr.core.sync import sync  # runs a coroutine on zarr's own event loop

        sync(self._write_async(str(path), origin))

    async def _write_async(self, path: str, origin: tuple[int, ...]) -> None:
        import asyncio

        import zarr.api.asynchronous as zarr_async

        group = await zarr_async.open_group(path, mode="r+", zarr_format=3, use_consolidated=True)
        _check_format(path, group.attrs)
        region = tuple(slice(o, o + n) for o, n in zip(origin, self.arrays[DONE].shape))
        targets = {name: await group.getitem(name) for name in self.arrays}
        await asyncio.gather(*(targets[name].setitem(region, values.astype(str) if values.dtype == object else values)
                               for name, values in self.arrays.items() if name != DONE))
        await targets[DONE].setitem(region, self.arrays[DONE])


def _coordinate_array(values: tuple[Any, ...]) -> np.ndarray:
    array = np.asarray(values)
    return array.astype(object) if array.dtype.kind == "U" else array


def _zarr_dtype(dtype: np.dtype) -> Any:
    return str if dtype == object else dtype


def _coordinate_fill(dtype: np.dtype) -> Any:
    return {"O": "", "b": False, "f": np.nan}.get(dtype.kind, 0)


def _open_group(path: str | Path, mode: str):
    """The store's root group; StoreError if ``path`` is not a sweep store."""
    import zarr

    if not (Path(path) / "zarr.json").is_file():
        raise StoreError(f"{str(path)!r} is not a sweep store (no zarr.json)")
    group = zarr.open_group(str(path), mode=mode, zarr_format=3, use_consolidated=True)
    _check_format(path, group.attrs)
    return group


def _check_format(path: str | Path, attrs) -> None:
    """StoreError unless a group's ``attrs`` mark it as a sweep store."""
    if attrs.get("sweep_format") != FORMAT:
        raise StoreError(f"{str(path)!r} is a Zarr group but not a sweep store (sweep_format "
                         f"{attrs.get('sweep_format')!r}, expected {FORMAT!r})")


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
