"""Replaying one stored run: ``sweep replay STORE --at seed=3,width=16`` and
:func:`replay_run` behind it.

The run's parameters are the store's (its spec: fixed parameters and the grid values at
the run's point); the problem's own replay (``Problem.replay``) trains it again and
returns its RunResult and its full trajectory. Every variable the run returns (its
scalars, curves and arrays, and its status) is compared with what the store holds:

- bit for bit where this process runs the OpenBLAS kernels that wrote the store (its
  ``blas_kernels`` attribute, :mod:`sweep.provenance`): runs are deterministic;
- elsewhere (other kernels, or a store that does not say), integers, flags and text
  still bit for bit, floats to a relative REPLAY_RTOL: values that pass through BLAS
  (loss passes, the SVM solver) change in their last bits with the kernels' summation
  order, a few ulps (tests/test_store_equivalence.py); REPLAY_RTOL is a thousand times that.

Bad ``--at`` input (a dim the grid does not have, a value not on it, a run missing or not
finished) is a :class:`ReplayError`, one line naming the field and the value.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

from sweep.messages import did_you_mean, short_repr
from sweep.problems.replay import Replay
from sweep.problems.results import STATUS
from sweep.reading import stored_spec
from sweep.spec import SpecError, SweepSpec, read_yaml
from sweep.store import DONE, ERROR, STATUS_VARIABLE, layout_for, open_store

REPLAY_RTOL = 1e-12
STATUS_NAMES = {code: name for name, code in STATUS.items()}


class ReplayError(ValueError):
    """A run cannot be replayed as asked; the one-line message names the field and the value."""


class RunNotReproduced(AssertionError):
    """The replayed run differs from the stored one; ``replayed`` holds what was computed."""

    def __init__(self, message: str, replayed: "Replayed"):
        super().__init__(message)
        self.replayed = replayed


@dataclass(frozen=True)
class Replayed:
    """A replayed run: where it is (``at``, dim -> value), its trajectory, how it was
    compared (``exact``: bit for bit) and each variable that differs (one line each)."""

    at: dict[str, Any]
    trajectory: xr.Dataset
    exact: bool
    differences: list[str]

    @property
    def reproduced(self) -> bool:
        return not self.differences

    @property
    def comparison(self) -> str:
        return "bit for bit" if self.exact else f"floats to rtol {REPLAY_RTOL:g} (other BLAS kernels than the store's)"


def parse_at(text: str) -> dict[str, Any]:
    """``"seed=3,width=16"`` -> {"seed": 3, "width": 16} (each value read as YAML)."""
    at: dict[str, Any] = {}
    for item in text.split(","):
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise ReplayError(f"--at {short_repr(item)}: expected DIM=VALUE (e.g. seed=3,width=16)")
        if key in at:
            raise ReplayError(f"--at {key}: given twice")
        try:
            at[key] = read_yaml(value.strip(), f"--at {key}")
        except SpecError as error:
            raise ReplayError(str(error)) from None
    return at


def run_index(spec: SweepSpec, at: Mapping[str, Any]) -> tuple[int, ...]:
    """The grid index of the run at ``at`` (dim -> value; a dim with one value may be left out)."""
    for key, value in at.items():
        if key not in spec.grid:
            where = (f"a fixed parameter of this sweep ({short_repr(spec.fixed[key])} for every run)"
                     if key in spec.fixed else f"not a parameter of problem {spec.problem.name!r}"
                     f"{did_you_mean(key, spec.dims)}")
            raise ReplayError(f"--at {key}={short_repr(value)}: {key!r} is not a grid dim of the store, it is {where}; "
                              f"grid dims: {list(spec.dims)}")
    index = []
    for key, values in spec.grid.items():
        if key not in at:
            if len(values) > 1:
                raise ReplayError(f"--at: no value for the grid dim {key!r} (its values: {short_repr(list(values))})")
            index.append(0)
            continue
        try:
            value = spec.problem.params.coerce(key, at[key])
        except ValueError as error:
            raise ReplayError(f"--at {key}={short_repr(at[key])}: {error}") from None
        if value not in values:
            raise ReplayError(f"--at {key}={short_repr(at[key])}: not a value of the grid dim {key!r} "
                              f"(its values: {short_repr(list(values))})")
        index.append(values.index(value))
    return tuple(index)


def replay(source: str | Path | xr.Dataset, at: str | Mapping[str, Any]) -> Replayed:
    """Replay the stored run at ``at`` ("seed=3,width=16" or a mapping) of the store
    ``source`` (a path or its Dataset) and compare it with the store (module docstring).

    ReplayError for a run that cannot be replayed (bad ``at``, not finished, failed, a
    problem without a replay).
    """
    from sweep.provenance import blas_kernels

    ds = source if isinstance(source, xr.Dataset) else open_store(source)
    at = parse_at(at) if isinstance(at, str) else dict(at)
    spec = stored_spec(ds)
    index = run_index(spec, at)
    point = {key: values[i] for (key, values), i in zip(spec.grid.items(), index)}
    where = ",".join(f"{key}={value}" for key, value in point.items())
    run = ds.isel(dict(zip(spec.dims, index)))
    if not bool(run[DONE].values):
        raise ReplayError(f"--at {where}: that run is not finished (not run yet, or being run); nothing to compare")
    status = STATUS_NAMES[int(run[STATUS_VARIABLE].values)]
    if status == "failed":
        raise ReplayError(f"--at {where}: that run failed ({run[ERROR].values.item()}); there is nothing to reproduce")
    replayer = spec.problem.replayer()
    if replayer is None:
        raise ReplayError(f"problem {spec.problem.name!r} declares no replay (Problem.replay)")
    params = spec.params_at(index)
    replayed = replayer(params)
    if not (isinstance(replayed, Replay) and isinstance(replayed.trajectory, xr.Dataset)):
        raise TypeError(f"problem {spec.problem.name!r}: its replay returned {short_repr(replayed)}, not a "
                        "sweep.problems.replay.Replay with an xarray.Dataset trajectory")
    exact = ds.attrs.get("blas_kernels") == blas_kernels()
    fills = {variable.name: variable for variable in layout_for(spec).variables}
    differences = [] if replayed.result.status == status else [
        f"status: stored {status}, replayed {replayed.result.status}"]
    for name, value in replayed.result.values.items():
        stored = np.asarray(run[name].values)
        mismatch = _difference(stored, _as_stored(value, stored, fills[name].fill), exact)
        if mismatch:
            differences.append(f"{name}: {mismatch}")
    trajectory = replayed.trajectory.copy()
    trajectory.attrs = {"problem": spec.problem.name, "at": point, "params": _plain(params.__dict__),
                        "spec_hash": ds.attrs.get("spec_hash"), "reproduced": not differences,
                        "compared": "bit for bit" if exact else f"rtol {REPLAY_RTOL:g}"}
    return Replayed(point, trajectory, exact, differences)


def replay_run(source: str | Path | xr.Dataset, at: str | Mapping[str, Any], *, strict: bool = True) -> xr.Dataset:
    """The trajectory of the stored run at ``at`` (see :func:`replay`). With ``strict``, a
    run that does not reproduce the stored values raises RunNotReproduced (naming each
    variable that differs; its ``replayed`` keeps the trajectory)."""
    replayed = replay(source, at)
    if strict and not replayed.reproduced:
        raise RunNotReproduced(f"the run at {replayed.at} does not reproduce the store ({replayed.comparison}): "
                               + "; ".join(replayed.differences), replayed)
    return replayed.trajectory


def _as_stored(value: Any, stored: np.ndarray, fill: Any) -> np.ndarray:
    """A run's value as the store holds it: in the stored dtype, in the leading corner of
    the stored shape, the rest fill (sweep.store.BlockResults.record)."""
    value = np.asarray(value)
    out = np.full(stored.shape, fill, dtype=stored.dtype)
    out[tuple(slice(0, size) for size in value.shape)] = value
    return out


def _difference(stored: np.ndarray, replayed: np.ndarray, exact: bool) -> str | None:
    """None when equal (NaN equal to NaN; floats to REPLAY_RTOL unless ``exact``), else
    where and by how much they differ."""
    floats = stored.dtype.kind in "fc"
    if floats and not exact:
        same = np.isclose(replayed, stored, rtol=REPLAY_RTOL, atol=0, equal_nan=True) | (replayed == stored)
    elif floats:
        same = (replayed == stored) | (np.isnan(stored) & np.isnan(replayed))
    else:
        same = replayed == stored
    same = np.asarray(same)
    if same.all():
        return None
    if stored.ndim == 0:
        return f"stored {stored.item()!r}, replayed {replayed.item()!r}"
    first = tuple(int(i) for i in np.argwhere(~same)[0])
    return (f"{int((~same).sum())} of {same.size} values differ, first at {first}: stored {stored[first]!r}, "
            f"replayed {replayed[first]!r}")


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as attribute values (tuples as lists)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
