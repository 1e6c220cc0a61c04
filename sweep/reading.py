"""Reading a store for analysis, also while a `sweep run` is still writing it: its spec
as a :class:`~sweep.spec.SweepSpec`, and its finished runs only.

A store being written has finished blocks (``done`` True, written after every other
chunk of the block) and blocks not yet run or being written. :func:`finished_only` reads
``done`` once and shows every variable at its fill (README, "Variables") wherever that
``done`` is False, so a report or the accessor sees the finished runs only, all of them
complete, whatever a writer does meanwhile. Nothing here reads or touches the store's
lock.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from analysis.stats import DONE, grid_dims, spec_of
from sweep.spec import SweepSpec, spec_from_normalised


def stored_spec(ds: xr.Dataset) -> SweepSpec:
    """The sweep the store holds (its ``spec`` attribute), parameters added since at their
    defaults. SpecError if the code no longer accepts one of its values (no run's
    parameters are built: the store's `sweep run` checked them)."""
    return spec_from_normalised(spec_of(ds), every_point=False)


def in_value_order(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every numeric grid dim in ascending order of its values (lazy): a grown
    store holds each dim's new values after its old ones (README, "Growing a sweep"),
    and curves and fits read a dim in order."""
    dims = [dim for dim in grid_dims(ds) if ds[dim].dtype.kind in "iuf" and not ds.indexes[dim].is_monotonic_increasing]
    return ds.sortby(dims) if dims else ds


def finished_only(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``done`` read now (in memory) and every variable at its fill where that
    ``done`` is False (lazy otherwise)."""
    from sweep.store import layout_for

    done = ds[DONE].load()
    fills = {variable.name: variable.fill for variable in layout_for(stored_spec(ds)).variables}
    out = ds.copy()
    for name, array in ds.data_vars.items():
        if name != DONE and name in fills and set(done.dims) <= set(array.dims):
            out[name] = array.where(done, np.asarray(fills[name], dtype=array.dtype))
    out[DONE] = done
    return out


def progress(ds: xr.Dataset) -> str:
    """'N of M runs finished'."""
    done = ds[DONE].values
    return f"{int(done.sum()):,} of {done.size:,} runs finished"
