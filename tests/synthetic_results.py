"""Hand-made results stores with the layout of the sweep engine's store, for the analysis tests.

:func:`synthetic_results` builds the Dataset in memory (every schema scalar over the
grid, the curves over grid + ``epoch``, optionally ``weights``); :func:`write_store`
writes it to a real zarr v3 store, as the sweep engine would.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import xarray as xr

from sweep.problems.schema import ENGINE_VARIABLES
from sweep.problems.separable.params import SeparableParams
from sweep.problems.separable.variables import CURVES, SCALARS, recorded_epochs


def synthetic_results(
    grid: Mapping[str, list],
    params: Mapping[str, Any],
    epochs_clean: Callable[..., np.ndarray],
    bound_factor: float = 1e3,
    max_epochs: int = 200,
    name: str = "synthetic",
) -> xr.Dataset:
    """A finished sweep whose E_clean is ``epochs_clean(**coords)`` (arrays broadcast over the grid).

    E_conv = E_clean + 1, epochs_bound = bound_factor * E_clean at the grid's first
    seed (so it does not vary with seed), the instance bound half of that; the potential
    bounds a hundredth of those; V = 3 (E_clean - 1) violating steps in the whole run
    too, their bound 100 V at the first seed plus 1000. Every run
    is done with status 0 (``done``). Curves decay as 1/epoch towards their "converged" value.
    With ``params["save_weights"]`` a weights variable (2 * max width, d) holds rows
    along +e_1 for the w-neurons and -e_1 for the u-neurons, NaN-padded.
    """
    dims = list(grid)
    coords = {dim: np.asarray(values) for dim, values in grid.items()}
    shape = tuple(len(values) for values in coords.values())
    mesh = dict(zip(dims, np.meshgrid(*coords.values(), indexing="ij")))
    clean = np.broadcast_to(epochs_clean(**mesh), shape).astype(np.int32)
    at_first_seed = np.take(clean, [0], axis=dims.index("seed")) if "seed" in dims else clean
    bound = np.broadcast_to(bound_factor * at_first_seed, shape).astype(np.float64)

    full = {v.name: np.full(shape, v.fill, dtype=v.dtype) for v in SCALARS + ENGINE_VARIABLES[:2]}
    full.update(epochs_clean=clean, epochs_conv=clean + 1, epochs_bound=bound,
                epochs_bound_instance=bound / 2, epochs_bound_potential=bound / 100,
                epochs_bound_potential_instance=bound / 200, violating_steps=3 * (clean - 1).astype(np.int64),
                violating_steps_run=3 * (clean - 1).astype(np.int64),
                violating_steps_bound=(3e2 * (at_first_seed - 1) + 1e3 + 0 * bound), epochs_run=clean + 1, final_loss=np.full(shape, 1e-3),
                train_acc=np.ones(shape), test_acc=np.full(shape, 0.98), margin_s=np.full(shape, 20.0),
                R_x=np.ones(shape), R_0=np.full(shape, 0.01), status=np.zeros(shape, np.int8),
                wall_time=np.full(shape, 0.1))
    attrs = {v.name: v.all_attrs() for v in SCALARS + ENGINE_VARIABLES}
    variables = {name: (dims, values, attrs[name]) for name, values in full.items()}
    variables["done"] = (dims, np.ones(shape, dtype=bool))

    epochs = recorded_epochs(max_epochs)
    decay = 1.0 / epochs
    curve_values = {v.name: decay for v in CURVES}
    curve_values.update(cluster_ratio=decay, max_angle=90 * decay, linear_frac_train=1 - decay,
                        linear_frac_test=1 - decay, disagree_w=np.floor(10 * decay),
                        disagree_u=np.floor(10 * decay), par_share_w=1 - decay, par_share_u=1 - decay)
    for curve_name, curve in curve_values.items():
        variables[curve_name] = (dims + ["epoch"], np.broadcast_to(curve, shape + epochs.shape).copy())

    if params.get("save_weights"):
        width = int(max(grid.get("width", [params.get("width", 16)])))
        d = int(params.get("d", 2))
        weights = np.full(shape + (2 * width, d), np.nan)
        weights[..., :width, :] = 0.0
        weights[..., width:, :] = 0.0
        weights[..., :width, 0] = 1.0 + 0.1 * np.arange(width)
        weights[..., width:, 0] = -1.0 - 0.1 * np.arange(width)
        variables["weights"] = (dims + ["neuron", "feature"], weights)

    fixed = {key: value for key, value in SeparableParams.defaults().items() if key not in grid}
    spec = {"name": name, "problem": "separable", "params": {**fixed, **params},
            "grid": {k: list(v) for k, v in grid.items()}}
    return xr.Dataset(variables, coords={**coords, "epoch": epochs}, attrs={"spec": json.dumps(spec)})


def write_store(ds: xr.Dataset, path: Path) -> Path:
    """Write ``ds`` as a zarr v3 store at ``path`` (chunked by seed, as a sweep would be)."""
    chunks = {"seed": 1} if "seed" in ds.dims else {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        ds.chunk(chunks).to_zarr(path, zarr_format=3, mode="w")
    return path
