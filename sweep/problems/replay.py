"""What a problem's replay returns (``Problem.replay``): the run's RunResult and its
trajectory as an ``xarray.Dataset``, and the helper that lays out what a run records
along training as such a Dataset."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import xarray as xr

from sweep.problems.results import RunResult
from sweep.problems.schema import Variable


@dataclass(frozen=True)
class Replay:
    """One run again: ``result`` equal to what ``Problem.run`` returns for its params, and
    ``trajectory``, the run's states and measures along training."""

    result: RunResult
    trajectory: xr.Dataset


def recorded_along(result: RunResult, variables: Iterable[Variable], coords: Mapping[str, np.ndarray]) -> xr.Dataset:
    """The values ``result`` holds of ``variables`` (those it has) as a Dataset on their
    dims, each dim of ``coords`` labelled by its leading values (a curve cut at the run's
    last step gets the first steps)."""
    arrays = {}
    for variable in variables:
        if variable.name not in result.values:
            continue
        value = np.asarray(result.values[variable.name])
        labels = {dim: np.asarray(coords[dim])[:size] for dim, size in zip(variable.dims, value.shape) if dim in coords}
        arrays[variable.name] = xr.DataArray(value, dims=variable.dims, coords=labels, attrs=variable.all_attrs())
    return xr.Dataset(arrays)
