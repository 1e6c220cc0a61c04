"""Statistics over a results store, for any problem: seed medians with bootstrap
intervals, shares of seeds with Wilson intervals, a run-by-run upper-bound check, log-log
scaling slopes (over a grid, or one power law drawn on a figure), status counts.

Everything works lazily on the Dask-backed Dataset of :func:`open_results`:
reductions are built with xarray operations and only their small results (one number
per grid point, or per fitted slope) are computed. A problem's report picks which of
its variables go in (its variable table is the only list of names).

Conventions:

- :func:`counted` keeps a run's value only where the run finished (``done``) and the
  value is > 0: an epoch, step or iteration count of -1 means "not reached", and such
  runs are skipped by every median (``_n`` says how many runs counted).
- Intervals are percentile bootstrap intervals over seeds (:data:`CONFIDENCE`):
  :data:`N_BOOTSTRAP` resamples of the seeds with replacement, drawn once from
  ``default_rng(BOOTSTRAP_SEED)`` and shared by every grid point, so the results are
  deterministic and the slopes' resamples are coherent across the grid.
"""
from __future__ import annotations

import copy
import functools
import json
import math
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import numpy as np
import xarray as xr

SEED_DIM = "seed"
BOOTSTRAP_DIM = "bootstrap"
DONE, STATUS = "done", "status"
N_BOOTSTRAP = 1000
BOOTSTRAP_SEED = 20210301
CONFIDENCE = 0.95
ANALYSIS_CHUNK_VALUES = 1 << 20  # values of one variable in one Dask chunk of open_results at most (8 MiB of float64)
ANALYSIS_PACK_VALUES = 1 << 16  # grid points are packed into one chunk up to this many values
MAX_OFFENDERS = 20  # runs above a bound listed by grid point in a BoundCheck
Summary = TypeVar("Summary")


# ---------------------------------------------------------------- reading a store

def open_results(path: str | Path) -> xr.Dataset:
    """Open a results store lazily (Dask-backed); nothing is loaded until computed. Each
    variable's Dask chunks are :func:`analysis_chunks`: a reduction over seed reads each
    stored file once, in few tasks, with a bounded number of values in memory at a time."""
    ds = xr.open_zarr(path, chunks=None)
    grid = grid_dims(ds)
    return ds.assign({name: array.chunk(analysis_chunks(array, grid)) for name, array in ds.data_vars.items()})


def analysis_chunks(array: xr.DataArray, grid: tuple[str, ...]) -> dict[str, int]:
    """Dask chunks for reading ``array`` (grid dims ``grid``): its other dims whole; every
    seed of a grid point if they fit ANALYSIS_CHUNK_VALUES values (else as many whole
    stored units, zarr shards or chunks, as fit); then whole stored units along the other
    grid dims, the innermost first, up to ANALYSIS_PACK_VALUES values (a selection of one
    point reads its whole chunk)."""
    stored = array.encoding.get("shards") or array.encoding.get("chunks") or array.shape
    units = dict(zip(array.dims, stored))
    per_run = math.prod(size for dim, size in array.sizes.items() if dim not in grid)
    chunks = {dim: -1 for dim in array.dims if dim not in grid}
    room = max(1, ANALYSIS_CHUNK_VALUES // per_run)
    for dim in [SEED_DIM, *reversed(grid)]:
        if dim not in array.dims or dim in chunks:
            continue
        size = array.sizes[dim]
        unit = min(units[dim], size)
        chunks[dim] = min(size, max(unit, room // unit * unit))
        room = max(1, (room if dim != SEED_DIM else ANALYSIS_PACK_VALUES // per_run) // chunks[dim])
    return chunks


def spec_of(ds: xr.Dataset) -> dict[str, Any]:
    """The sweep spec {name, problem, params, grid} stored in ``ds.attrs["spec"]`` (JSON or dict)."""
    spec = ds.attrs.get("spec", {})
    return json.loads(spec) if isinstance(spec, str) else dict(spec)


def grid_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The grid's dims in spec order (the dims of ``done``)."""
    return tuple(ds[DONE].dims)


def point_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The grid's dims without ``seed``: one grid point per combination."""
    return tuple(d for d in grid_dims(ds) if d != SEED_DIM)


def counted(ds: xr.Dataset, name: str, zero_counts: bool = False) -> xr.DataArray:
    """``ds[name]`` as float where the run is done and the value is > 0 (>= 0 with
    ``zero_counts``: a count that can be 0, -1 still "not reached"), else NaN."""
    values = ds[name]
    return values.where(ds[DONE] & ((values >= 0) if zero_counts else (values > 0))).astype(np.float64)


def once_per_dataset(compute: Callable[[xr.Dataset], Summary]) -> Callable[[xr.Dataset], Summary]:
    """``compute(ds)`` (a small summary of the whole store, e.g. a per-point table) computed
    once for each Dataset object while it lives, and handed out as a (shallow) copy: a report asks
    for it from its checks, sections, summary and figures, and reads the store once."""
    computed: dict[int, Any] = {}

    @functools.wraps(compute)
    def once(ds: xr.Dataset) -> Summary:
        key = id(ds)
        if key not in computed:
            computed[key] = compute(ds)
            weakref.finalize(ds, computed.pop, key, None)
        return copy.copy(computed[key])

    return once


def status_counts(ds: xr.Dataset) -> dict[str, int]:
    """Runs by status name (from the CF flags of ``status``), plus ``not_run``; computed."""
    status = ds[STATUS].where(ds[DONE], -1).values
    meanings = ds[STATUS].attrs["flag_meanings"].split()
    return {name: int(np.sum(status == code)) for name, code in zip(meanings, ds[STATUS].attrs["flag_values"])}


# ---------------------------------------------------------------- medians over seeds

def bootstrap_medians(values: xr.DataArray) -> xr.DataArray:
    """Medians of N_BOOTSTRAP seed resamples: ``values`` with ``seed`` replaced by ``bootstrap``.

    NaNs are skipped inside each resample; a resample of only NaNs gives NaN. Lazy.
    """
    values = with_seed_dim(values)
    return xr.apply_ufunc(
        resampled_medians, values, kwargs={"picks": seed_resamples(values.sizes[SEED_DIM])},
        input_core_dims=[[SEED_DIM]], output_core_dims=[[BOOTSTRAP_DIM]],
        dask="parallelized", output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {BOOTSTRAP_DIM: N_BOOTSTRAP}, "allow_rechunk": True},
    )


def seed_resamples(n_seeds: int) -> np.ndarray:
    """The N_BOOTSTRAP resamples of the seeds, (N_BOOTSTRAP, n_seeds) indices with
    replacement from ``default_rng(BOOTSTRAP_SEED)``: the same pattern at every grid point."""
    return np.random.default_rng(BOOTSTRAP_SEED).integers(0, n_seeds, size=(N_BOOTSTRAP, n_seeds))


def resampled_medians(values: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """``nanmedian(values[..., row])`` for each row of ``picks`` (resamples of indices into
    the last axis, (resamples, n)): shape ``values.shape[:-1] + (resamples,)``, the same
    numbers as :func:`nanmedian`, by :func:`kernels.resampling.resampled_medians` (each
    slice sorted once; no resample is built)."""
    from kernels import resampling  # Numba: not imported by the light commands (status, show)

    n = values.shape[-1]
    flat = np.ascontiguousarray(values.reshape(-1, n), dtype=np.float64)
    out = np.empty((flat.shape[0], len(picks)))
    resampling.resampled_medians(flat, np.ascontiguousarray(picks, dtype=np.int64), out)
    return out.reshape(values.shape[:-1] + (len(picks),))


def seed_summary(values: Mapping[str, xr.DataArray]) -> xr.Dataset:
    """Per grid point (all dims but seed): median, bootstrap interval and count over seeds.

    For each ``name: per-run values`` (NaN where a run does not count) the result holds
    ``{name}_median``, ``{name}_lo``, ``{name}_hi`` (the CONFIDENCE interval) and
    ``{name}_n`` (runs that count). Computed (small: one value per grid point).
    """
    lo_q, hi_q = (1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2
    out = {}
    for name, per_run in values.items():
        per_run = with_seed_dim(per_run)
        boot = bootstrap_medians(per_run)
        out[f"{name}_median"] = median_over_seeds(per_run)
        out[f"{name}_lo"] = _nanquantile(boot, lo_q)
        out[f"{name}_hi"] = _nanquantile(boot, hi_q)
        out[f"{name}_n"] = per_run.notnull().sum(SEED_DIM)
    return xr.Dataset(out).compute()


def with_seed_dim(values: xr.DataArray) -> xr.DataArray:
    """A store whose spec fixes the seed has no seed dim: treat it as one seed."""
    return values if SEED_DIM in values.dims else values.expand_dims(SEED_DIM, axis=-1)


def median_over_seeds(values: xr.DataArray) -> xr.DataArray:
    """The NaN-skipping median over ``seed`` (NaN where every seed is NaN). Lazy."""
    return xr.apply_ufunc(
        nanmedian, with_seed_dim(values), input_core_dims=[[SEED_DIM]],
        dask="parallelized", output_dtypes=[np.float64], dask_gufunc_kwargs={"allow_rechunk": True},
    )


def nanquantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.nanquantile(values, q, axis=-1)`` with the quantiles last (shape
    ``values.shape[:-1] + q.shape``), NaN for an all-NaN slice and without NumPy's
    warning, by :func:`kernels.resampling.nanquantiles` (np.nanquantile loops in Python
    over slices that hold a NaN)."""
    from kernels import resampling  # Numba: not imported by the light commands (status, show)

    n, q = values.shape[-1], np.atleast_1d(np.asarray(q, np.float64))
    flat = np.ascontiguousarray(values.reshape(-1, n), dtype=np.float64)
    out = np.empty((flat.shape[0], len(q)))
    resampling.nanquantiles(flat, q, out)
    return out.reshape(values.shape[:-1] + q.shape)


def _nanquantile(boot: xr.DataArray, q: float) -> xr.DataArray:
    def quantile(block: np.ndarray) -> np.ndarray:
        return nanquantiles(block, np.array([q]))[..., 0]

    return xr.apply_ufunc(quantile, boot, input_core_dims=[[BOOTSTRAP_DIM]],
                          dask="parallelized", output_dtypes=[np.float64])


def nanmedian(values: np.ndarray) -> np.ndarray:
    """The median over the last axis, skipping NaN; NaN where all are NaN (np.nanmedian's
    numbers, by one sort of the whole array: np.nanmedian loops in Python over slices of
    more than 600 values, and warns on all-NaN ones)."""
    ordered = np.sort(values, axis=-1)  # NaN last
    if ordered.shape[-1] == 0:
        return np.full(ordered.shape[:-1], np.nan)
    finite = ordered.shape[-1] - np.isnan(ordered).sum(axis=-1)

    def kth(k: np.ndarray) -> np.ndarray:
        return np.take_along_axis(ordered, np.maximum(k, 0)[..., None], axis=-1)[..., 0]

    low, high = kth((finite - 1) // 2), kth(finite // 2)
    return np.where(finite > 0, np.where(finite % 2 == 1, low, (low + high) / 2), np.nan)


def over_last_axis(reduce, values: np.ndarray) -> np.ndarray:
    """``reduce`` (a NaN-skipping reduction over the last axis), NaN where a slice is all
    NaN, without numpy's all-NaN warning (silencing it with warnings.catch_warnings is not
    thread-safe, and dask runs these in threads)."""
    empty = np.isnan(values).all(axis=-1)
    return np.where(empty, np.nan, reduce(np.where(empty[..., None], 0.0, values)))


# ---------------------------------------------------------------- shares of seeds

def wilson_interval(successes, trials, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval (lo, hi) of the binomial share successes / trials, element
    by element (SciPy's ``binomtest(...).proportion_ci(method="wilson")``): inside [0, 1],
    lo <= share <= hi, hi = 1 exactly when every trial succeeds and lo = 0 when none does;
    NaN where trials = 0."""
    from scipy.stats import binomtest

    k, m = np.broadcast_arrays(np.asarray(successes), np.asarray(trials))
    lo, hi = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    for index in np.ndindex(k.shape):
        if m[index] <= 0:
            continue
        interval = binomtest(int(k[index]), int(m[index])).proportion_ci(confidence, method="wilson")
        lo[index], hi[index] = interval.low, interval.high
    return lo, hi


# ---------------------------------------------------------------- upper bounds, run by run

@dataclass(frozen=True)
class BoundCheck:
    """Runs whose measured value exceeds a proven upper bound (there must be none).

    ``checked``: runs where the value counts (:func:`counted`) and the first bound is
    finite; ``above``: per bound name, how many of them exceed it; ``offenders``: grid
    coordinates of up to MAX_OFFENDERS runs above any bound; ``unbounded``: runs where
    the value counts but the first bound is NaN (it could not be computed).
    """

    checked: int
    above: dict[str, int]
    offenders: tuple[dict[str, Any], ...]
    unbounded: int

    @property
    def holds(self) -> bool:
        return not any(self.above.values())


def check_upper_bounds(ds: xr.Dataset, value: str, bounds: tuple[str, ...], zero_counts: bool = False) -> BoundCheck:
    """Count the runs whose ``value`` exceeds each of ``bounds`` (variables on the grid);
    ``zero_counts`` as for :func:`counted`."""
    measured = counted(ds, value, zero_counts)
    checked = measured.notnull() & np.isfinite(ds[bounds[0]])
    flags = {name: checked & np.isfinite(ds[name]) & (measured > ds[name]) for name in bounds}
    any_above = xr.zeros_like(checked)
    for above in flags.values():
        any_above = any_above | above
    computed = xr.Dataset({
        "checked": checked.sum(), "unbounded": (measured.notnull() & ds[bounds[0]].isnull()).sum(),
        "any": any_above, **{f"above_{name}": above.sum() for name, above in flags.items()},
    }).compute()
    offending = computed["any"]
    offenders = tuple(
        {dim: offending[dim].values[i].item() for dim, i in zip(offending.dims, index)}
        for index in np.argwhere(offending.values.reshape(offending.shape))[:MAX_OFFENDERS]
    )
    return BoundCheck(int(computed["checked"]), {name: int(computed[f"above_{name}"]) for name in bounds},
                      offenders, int(computed["unbounded"]))


# ---------------------------------------------------------------- scaling slopes

@dataclass(frozen=True)
class Slope:
    """d log(median) / d log(parameter), with its bootstrap interval over seeds."""

    variable: str
    parameter: str   # a grid dim
    slope: float
    lo: float
    hi: float


def scaling_parameters(ds: xr.Dataset, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """The ``candidates`` that are grid dims with at least two positive values."""
    return tuple(p for p in candidates if p in ds.dims and int((ds[p] > 0).sum()) >= 2)


def slope_sums(log_y: np.ndarray, log_x: np.ndarray, axis: int, weights: np.ndarray | float = 1.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of the pooled within-group least-squares slope of
    ``log_y`` against ``log_x`` (the values along ``axis``, 1-D), one pair per index of the
    first axis (e.g. a resample), summed over every other axis.

    A group is a line along ``axis`` (the other axes fixed): it is centred on its own means
    (a fixed effect per group), so that other swept parameters do not bias the common
    slope; ``weights`` (broadcast against ``log_y``, e.g. how often a resample drew each
    data set; constant along ``axis``) weight each group's terms. Entries of ``log_y``
    that are not finite are skipped (their ``log_x`` too). The slope is numerator /
    denominator where the denominator is > 0. By :func:`kernels.slopes.pooled_slope_sums`."""
    from kernels import slopes  # Numba: not imported by the light commands (status, show)

    fits, length = log_y.shape[0], log_y.shape[axis]
    lines = np.ascontiguousarray(np.moveaxis(log_y, axis, -1).reshape(fits, -1, length), dtype=np.float64)
    per_group = np.moveaxis(np.broadcast_to(weights, log_y.shape), axis, -1)[..., 0]
    out = np.zeros((fits, 2))
    slopes.pooled_slope_sums(lines, np.ascontiguousarray(log_x, dtype=np.float64).reshape(length),
                             np.ascontiguousarray(per_group.reshape(fits, -1), dtype=np.float64), out)
    return out[:, 0], out[:, 1]


def _slope(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(numerator), np.nan), where=denominator > 0)


def _log_positive(values: np.ndarray) -> np.ndarray:
    return np.log(np.where(values > 0, values, np.nan))


def scaling_slopes(ds: xr.Dataset, values: Mapping[str, xr.DataArray], parameters: tuple[str, ...],
                   units: str | None = None) -> list[Slope]:
    """Slopes of the seed-median of each of ``values`` (per-run values, NaN where a run
    does not count) in each of ``parameters`` (swept, see :func:`scaling_parameters`): the
    :func:`slope_sums` slope of log(median) against log(parameter) over the grid points
    where the parameter is > 0, the groups being the combinations of the other point dims.

    The interval is the CONFIDENCE percentile interval of the slopes fitted to the
    bootstrap medians (:func:`seed_resamples`); with ``units`` (a point dim that is not a
    parameter, e.g. ``data_seed``) each resample also draws that dim's values with
    replacement, whole (every data set with all its seeds), from ``default_rng(BOOTSTRAP_SEED + 1)``.

    The store is read once, in slices along the point dims that are not ``parameters``
    (each slice holds whole groups of every parameter, at most ANALYSIS_CHUNK_VALUES runs
    where the groups allow), and the resamples go in batches of at most
    ANALYSIS_CHUNK_VALUES medians: memory is bounded by one slice, whatever the store's size.
    ValueError when ``units`` is one of ``parameters``.
    """
    if units in parameters:
        raise ValueError(f"scaling_slopes: the resampled units {units!r} are also a fitted parameter")
    outer = tuple(dim for dim in point_dims(ds) if dim not in parameters)
    per_run = xr.Dataset(dict(zip(values, xr.broadcast(*(with_seed_dim(v) for v in values.values())))))
    per_run = per_run.transpose(*outer, *parameters, SEED_DIM)
    picks = seed_resamples(per_run.sizes[SEED_DIM])
    weights = None if units is None else unit_weights(ds[units])
    positive = [np.asarray(per_run[p].values, np.float64) > 0 for p in parameters]
    log_x = [np.log(np.asarray(per_run[p].values, np.float64)[keep]) for p, keep in zip(parameters, positive)]
    sums = np.zeros((len(values), len(parameters), 2, 1 + N_BOOTSTRAP))  # numerator, denominator; point, resamples
    for selection in _whole_group_slices(per_run, outer):
        block = per_run.isel(selection).compute()
        unit_axis = outer.index(units) if units else None
        for v, name in enumerate(values):
            runs = block[name].values
            _add_slope_sums(sums[v, :, :, :1], nanmedian(runs)[None], log_x, positive, len(outer), 1.0)
            batch = max(1, ANALYSIS_CHUNK_VALUES // max(1, runs[..., 0].size))
            for start in range(0, N_BOOTSTRAP, batch):
                boot = np.moveaxis(resampled_medians(runs, picks[start:start + batch]), -1, 0)
                weight = 1.0
                if units:
                    drawn = weights.isel({BOOTSTRAP_DIM: slice(start, start + batch)}).sel({units: block[units].values})
                    shape = [1] * boot.ndim
                    shape[0], shape[1 + unit_axis] = drawn.shape
                    weight = drawn.values.reshape(shape)
                _add_slope_sums(sums[v, :, :, 1 + start:1 + start + len(boot)], boot, log_x, positive, len(outer),
                                weight)
    lo_q, hi_q = (1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2
    slopes = []
    for v, variable in enumerate(values):
        for j, parameter in enumerate(parameters):
            fitted = _slope(sums[v, j, 0], sums[v, j, 1])
            lo, hi = nanquantiles(fitted[1:], np.array([lo_q, hi_q]))
            slopes.append(Slope(variable, parameter, float(fitted[0]), float(lo), float(hi)))
    return slopes


def _add_slope_sums(into: np.ndarray, medians: np.ndarray, log_x: list[np.ndarray], positive: list[np.ndarray],
                    first: int, weight: np.ndarray | float) -> None:
    """Add, for each parameter j (the axis ``1 + first + j`` of ``medians``, (resamples,
    outer dims..., parameters...)), the :func:`slope_sums` of log(medians) at its
    positive values into ``into[j]`` ((2, resamples): numerator, denominator)."""
    log_y = _log_positive(medians)
    for j, (x, keep) in enumerate(zip(log_x, positive)):
        numerator, denominator = slope_sums(np.compress(keep, log_y, 1 + first + j), x, 1 + first + j, weight)
        into[j, 0] += numerator
        into[j, 1] += denominator


def _whole_group_slices(runs: xr.Dataset, outer: tuple[str, ...]) -> list[dict[str, slice]]:
    """isel selections along the dims ``outer`` (the first dims of ``runs``) that cover
    them, each of at most ANALYSIS_CHUNK_VALUES values of a variable where one point of
    ``outer`` holds fewer: the innermost dims whole as far as they fit, the next in steps."""
    inner = math.prod(size for dim, size in runs.sizes.items() if dim not in outer)
    room = max(1, ANALYSIS_CHUNK_VALUES // max(1, inner))
    sizes = [runs.sizes[dim] for dim in outer]
    whole = len(outer)
    while whole > 0 and math.prod(sizes[whole - 1:]) <= room:
        whole -= 1
    if whole == 0:
        return [{}]
    step = max(1, room // math.prod(sizes[whole:]))
    selections = []
    for index in np.ndindex(*sizes[:whole - 1]):
        for start in range(0, sizes[whole - 1], step):
            selection = {dim: slice(i, i + 1) for dim, i in zip(outer, index)}
            selection[outer[whole - 1]] = slice(start, start + step)
            selections.append(selection)
    return selections


def unit_weights(units: xr.DataArray) -> xr.DataArray:
    """How often each value of the dim ``units`` is drawn in each of N_BOOTSTRAP resamples
    with replacement (``bootstrap`` x that dim; each row sums to its size): resampling whole
    units as weights of their groups in :func:`slope_sums`."""
    dim, size = units.dims[0], units.size
    picks = np.random.default_rng(BOOTSTRAP_SEED + 1).integers(0, size, size=(N_BOOTSTRAP, size))
    counts = np.stack([np.bincount(row, minlength=size) for row in picks]).astype(np.float64)
    return xr.DataArray(counts, dims=(BOOTSTRAP_DIM, dim), coords={dim: units.values})


@dataclass(frozen=True)
class PowerLaw:
    """median over seeds of y = amplitude * x ** exponent, fitted by least squares on log-log
    axes to the seed medians at the points ``x`` (``medians``), with the CONFIDENCE bootstrap
    interval [lo, hi] of the exponent over seeds (resampled as in :func:`bootstrap_medians`)."""

    exponent: float
    lo: float
    hi: float
    amplitude: float
    x: np.ndarray
    medians: np.ndarray

    def __call__(self, x) -> np.ndarray:
        return self.amplitude * np.asarray(x, np.float64) ** self.exponent

    def amplitude_for(self, exponent: float) -> float:
        """The least-squares amplitude of the law with its exponent fixed (a theory's rate)."""
        return float(np.exp(np.mean(np.log(self.medians) - exponent * np.log(self.x))))

    def contains(self, exponent: float) -> bool:
        return bool(self.lo <= exponent <= self.hi)


def power_law(x: np.ndarray, per_seed: np.ndarray) -> PowerLaw | None:
    """The power law through the seed medians of ``per_seed`` (seeds, x), NaN or values <= 0
    skipped, fitted on the x > 0 with a positive median; None with fewer than two such x."""
    x = np.asarray(x, np.float64)
    values = np.where(np.asarray(per_seed, np.float64) > 0, per_seed, np.nan).T  # (x, seeds)
    medians = nanmedian(values)
    use = (x > 0) & np.isfinite(medians)
    if use.sum() < 2:
        return None
    x, medians, values = x[use], medians[use], values[use]
    log_x = np.log(x)[None]
    exponent = float(_slope(*slope_sums(np.log(medians)[None], log_x, 1))[0])
    resampled = resampled_medians(values, seed_resamples(values.shape[1])).T  # (resamples, x)
    lo, hi = nanquantiles(_slope(*slope_sums(_log_positive(resampled), log_x, 1)),
                          np.array([(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2]))
    amplitude = float(np.exp(np.mean(np.log(medians) - exponent * np.log(x))))
    return PowerLaw(exponent, float(lo), float(hi), amplitude, x, medians)


def power_law_along(ds: xr.Dataset, name: str, parameter: str, held: Mapping[str, Any] | None = None
                    ) -> PowerLaw | None:
    """:func:`power_law` of the runs' ``name`` (those that count, :func:`counted`) against the
    grid dim ``parameter``, over the seeds, the other point dims held at ``held`` (each one
    not held must have a single value); e.g. E_clean against alpha (BOUND.md Prop. 7).
    ValueError naming a point dim that is neither held nor single."""
    values = with_seed_dim(counted(ds, name)).sel(dict(held or {}))
    free = [dim for dim in values.dims if dim not in (SEED_DIM, parameter) and values.sizes[dim] > 1]
    if free:
        raise ValueError(f"power_law_along: the dims {free} are neither held nor {parameter!r}")
    per_seed = values.squeeze([dim for dim in values.dims if dim not in (SEED_DIM, parameter)], drop=True)
    return power_law(values[parameter].values, per_seed.transpose(SEED_DIM, parameter).values)
