"""Statistics of a results store: seed medians, the Theorem 4.1 check, scaling slopes.

Everything here works lazily on the Dask-backed Dataset of :func:`open_results`:
reductions are built with xarray operations and only their small results (one
number per grid point, or per fitted slope) are computed.

Conventions (THEORY.md §2):

- A run's epoch count counts only when the run was executed (``done``) and the
  count was reached (> 0; -1 means "not reached"). Otherwise it is NaN and every
  median skips it, so a median describes the runs that reached eps; ``n_reached``
  says how many they were.
- Intervals are percentile bootstrap intervals over seeds (:data:`CONFIDENCE`):
  :data:`N_BOOTSTRAP` resamples of the seeds with replacement, drawn once from
  ``default_rng(BOOTSTRAP_SEED)`` and shared by every grid point, so the results
  are deterministic and the slopes' resamples are coherent across the grid.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

SEED_DIM = "seed"
EPOCH_DIM = "epoch"
BOOTSTRAP_DIM = "bootstrap"
N_BOOTSTRAP = 1000
BOOTSTRAP_SEED = 20210301
CONFIDENCE = 0.95
_BOOTSTRAP_BATCH = 100  # resamples evaluated at once (caps the memory of one block)

FITTED = ("epochs_clean", "epochs_conv", "epochs_bound")   # variables whose slopes are fitted
SUMMARISED = FITTED + ("ratio",)                            # ratio = epochs_clean / epochs_bound
SCALING_PARAMETERS = ("alpha", "width", "init_scale", "eps", "margin")
MAX_OFFENDERS = 20  # runs above the bound listed by name in a BoundCheck


# ---------------------------------------------------------------- reading a store

def open_results(path: str | Path) -> xr.Dataset:
    """Open a results store lazily (Dask-backed); nothing is loaded until computed."""
    return xr.open_zarr(path)


def spec_of(ds: xr.Dataset) -> dict[str, Any]:
    """The sweep spec {name, params, grid} stored in ``ds.attrs["spec"]`` (JSON or dict)."""
    spec = ds.attrs.get("spec", {})
    return json.loads(spec) if isinstance(spec, str) else dict(spec)


def grid_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The grid's dims in spec order (the dims of every scalar variable)."""
    return tuple(ds["epochs_clean"].dims)


def point_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The grid's dims without ``seed``: one grid point per combination."""
    return tuple(d for d in grid_dims(ds) if d != SEED_DIM)


def counted_epochs(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``ds[name]`` as float where the run is done and the count reached (> 0), else NaN."""
    values = ds[name]
    return values.where(ds["done"] & (values > 0)).astype(np.float64)


def seed_values(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Per-run values of a SUMMARISED or FITTED variable, NaN where the run does not count.

    ``ratio`` is epochs_clean / epochs_bound (THEORY.md §2: must stay <= 1).
    """
    if name == "ratio":
        return counted_epochs(ds, "epochs_clean") / counted_epochs(ds, "epochs_bound")
    return counted_epochs(ds, name)


# ---------------------------------------------------------------- medians over seeds

def bootstrap_medians(values: xr.DataArray) -> xr.DataArray:
    """Medians of N_BOOTSTRAP seed resamples: ``values`` with ``seed`` replaced by ``bootstrap``.

    NaNs are skipped inside each resample; a resample of only NaNs gives NaN. Lazy.
    """
    values = _with_seed_dim(values)
    n_seeds = values.sizes[SEED_DIM]
    picks = np.random.default_rng(BOOTSTRAP_SEED).integers(0, n_seeds, size=(N_BOOTSTRAP, n_seeds))

    def medians_of_resamples(block: np.ndarray) -> np.ndarray:
        out = np.empty(block.shape[:-1] + (N_BOOTSTRAP,))
        for start in range(0, N_BOOTSTRAP, _BOOTSTRAP_BATCH):
            batch = picks[start:start + _BOOTSTRAP_BATCH]
            out[..., start:start + len(batch)] = _nanmedian(block[..., batch])
        return out

    return xr.apply_ufunc(
        medians_of_resamples, values,
        input_core_dims=[[SEED_DIM]], output_core_dims=[[BOOTSTRAP_DIM]],
        dask="parallelized", output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {BOOTSTRAP_DIM: N_BOOTSTRAP}, "allow_rechunk": True},
    )


def seed_summary(ds: xr.Dataset) -> xr.Dataset:
    """Per grid point (all dims but seed): median, bootstrap interval and count over seeds.

    For each name in SUMMARISED the result holds ``{name}_median``, ``{name}_lo``,
    ``{name}_hi`` (the CONFIDENCE interval) and ``{name}_n`` (runs that count).
    Computed (small: one value per grid point).
    """
    lo_q, hi_q = (1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2
    out = {}
    for name in SUMMARISED:
        values = _with_seed_dim(seed_values(ds, name))
        boot = bootstrap_medians(values)
        out[f"{name}_median"] = _median_over_seeds(values)
        out[f"{name}_lo"] = _nanquantile(boot, lo_q)
        out[f"{name}_hi"] = _nanquantile(boot, hi_q)
        out[f"{name}_n"] = values.notnull().sum(SEED_DIM)
    return xr.Dataset(out).compute()


def _with_seed_dim(values: xr.DataArray) -> xr.DataArray:
    """A store whose spec fixes the seed has no seed dim: treat it as one seed."""
    return values if SEED_DIM in values.dims else values.expand_dims(SEED_DIM, axis=-1)


def _median_over_seeds(values: xr.DataArray) -> xr.DataArray:
    return xr.apply_ufunc(
        _nanmedian, values, input_core_dims=[[SEED_DIM]],
        dask="parallelized", output_dtypes=[np.float64], dask_gufunc_kwargs={"allow_rechunk": True},
    )


def _nanquantile(boot: xr.DataArray, q: float) -> xr.DataArray:
    def quantile(block: np.ndarray) -> np.ndarray:
        return _over_last_axis(lambda values: np.nanquantile(values, q, axis=-1), block)

    return xr.apply_ufunc(quantile, boot, input_core_dims=[[BOOTSTRAP_DIM]],
                          dask="parallelized", output_dtypes=[np.float64])


def _nanmedian(values: np.ndarray) -> np.ndarray:
    """The median over the last axis, skipping NaN; NaN where all are NaN."""
    return _over_last_axis(lambda finite: np.nanmedian(finite, axis=-1), values)


def _over_last_axis(reduce, values: np.ndarray) -> np.ndarray:
    """``reduce`` (a NaN-skipping reduction over the last axis), NaN where a slice is all
    NaN, without numpy's all-NaN warning (silencing it with warnings.catch_warnings is not
    thread-safe, and dask runs these in threads)."""
    empty = np.isnan(values).all(axis=-1)
    return np.where(empty, np.nan, reduce(np.where(empty[..., None], 0.0, values)))


# ---------------------------------------------------------------- the Theorem 4.1 check

@dataclass(frozen=True)
class BoundCheck:
    """Runs whose E_clean exceeds the Theorem 4.1 bound (THEORY.md §2: there must be none).

    ``checked``: runs with E_clean reached and a finite bound; ``above_bound`` and
    ``above_instance_bound``: how many of them have E_clean > epochs_bound and
    > epochs_bound_instance; ``offenders``: grid coordinates of up to MAX_OFFENDERS
    runs above either.
    """

    checked: int
    above_bound: int
    above_instance_bound: int
    offenders: tuple[dict[str, Any], ...]

    @property
    def holds(self) -> bool:
        return self.above_bound == 0 and self.above_instance_bound == 0


def check_bound(ds: xr.Dataset) -> BoundCheck:
    """Count the runs above the worst-case and the instance-specific bound (THEORY.md §2)."""
    clean = counted_epochs(ds, "epochs_clean")
    bound, instance = ds["epochs_bound"], ds["epochs_bound_instance"]
    checked = clean.notnull() & np.isfinite(bound)
    above = checked & (clean > bound)
    above_instance = checked & np.isfinite(instance) & (clean > instance)
    n_checked, n_above, n_above_instance, offending = xr.Dataset(
        {"c": checked.sum(), "a": above.sum(), "i": above_instance.sum(), "o": above | above_instance}
    ).compute().data_vars.values()
    flags = offending.values.reshape(offending.shape)
    offenders = tuple(
        {dim: offending[dim].values[i].item() for dim, i in zip(offending.dims, index)}
        for index in np.argwhere(flags)[:MAX_OFFENDERS]
    )
    return BoundCheck(int(n_checked), int(n_above), int(n_above_instance), offenders)


# ---------------------------------------------------------------- scaling slopes

@dataclass(frozen=True)
class Slope:
    """d log(median epochs) / d log(parameter), with its bootstrap interval over seeds."""

    variable: str    # one of FITTED
    parameter: str   # a grid dim in SCALING_PARAMETERS
    slope: float
    lo: float
    hi: float


def scaling_parameters(ds: xr.Dataset) -> tuple[str, ...]:
    """The SCALING_PARAMETERS that are grid dims with at least two positive values."""
    return tuple(p for p in SCALING_PARAMETERS
                 if p in ds.dims and int((ds[p] > 0).sum()) >= 2)


def loglog_slope(medians: xr.DataArray, parameter: str, over: tuple[str, ...]) -> xr.DataArray:
    """Pooled within-group least-squares slope of log(medians) against log(parameter).

    Groups are the combinations of the other dims in ``over``: each group is centred on
    its own means (a fixed effect per group), then one common slope is fitted, so other
    swept parameters do not bias it. Non-positive or NaN medians are skipped. Dims not in
    ``over`` (e.g. ``bootstrap``) are kept. Lazy.
    """
    positive = medians.sel({parameter: medians[parameter] > 0})
    log_y = np.log(positive.where(positive > 0))
    log_x = np.log(positive[parameter].astype(np.float64)).broadcast_like(log_y).where(log_y.notnull())
    centred_x = log_x - log_x.mean(parameter)
    centred_y = log_y - log_y.mean(parameter)
    spread = (centred_x ** 2).sum(over)
    return (centred_x * centred_y).sum(over) / spread.where(spread > 0)  # NaN, not 0/0, without data


def scaling_slopes(ds: xr.Dataset) -> list[Slope]:
    """Slopes of the seed-median of each FITTED variable in each of :func:`scaling_parameters`.

    The empirical epochs and the bound are fitted the same way (THEORY.md §2 predicts
    e.g. alpha^-2 and, for small init, width^-1 for the bound). The interval is the
    CONFIDENCE percentile interval of the slopes fitted to the bootstrap medians.
    """
    over = point_dims(ds)
    lo_q, hi_q = (1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2
    slopes = []
    for variable in FITTED:
        values = _with_seed_dim(seed_values(ds, variable))
        medians, boot = _median_over_seeds(values), bootstrap_medians(values)
        for parameter in scaling_parameters(ds):
            point = loglog_slope(medians, parameter, over)
            boot_slopes = loglog_slope(boot, parameter, over)
            point, lo, hi = xr.Dataset({
                "point": point, "lo": _nanquantile(boot_slopes, lo_q), "hi": _nanquantile(boot_slopes, hi_q),
            }).compute().data_vars.values()
            slopes.append(Slope(variable, parameter, float(point), float(lo), float(hi)))
    return slopes
