"""The ``separable`` problem's theory held against a store (THEORY.md §2).

Theorem 4.1 bounds E_clean by ``epochs_bound`` (worst case over inits) and by
``epochs_bound_instance`` (from the run's own W0) for every run: :func:`check_bound`
counts the runs above either (there must be none). :func:`seed_summary` and
:func:`scaling_slopes` compare how the measured epochs and the bound scale with the
swept parameters (THEORY.md §2: e.g. alpha^-2 and, for small init, width^-1 for the
bound). Thin selections over the generic statistics of :mod:`analysis.stats`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from analysis import stats
from analysis.plotting import parameter_values
from sweep.problems.results import STATUS
from sweep.problems.separable.params import BOUNDED_OPTIMIZERS

MEASURED = "epochs_clean"
BOUNDS = ("epochs_bound", "epochs_bound_instance")
FITTED = ("epochs_clean", "epochs_conv", "epochs_bound")   # the epoch counts whose seed medians are fitted
SUMMARISED = FITTED + ("ratio",)                            # ratio = epochs_clean / epochs_bound (<= 1)
SCALING_PARAMETERS = ("alpha", "width", "init_scale", "eps", "margin")


def summarised_values(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Per-run values of each name in SUMMARISED, NaN where the run does not count."""
    values = {name: stats.counted(ds, name) for name in FITTED}
    values["ratio"] = values[MEASURED] / values["epochs_bound"]
    return values


def seed_summary(ds: xr.Dataset) -> xr.Dataset:
    """Median, bootstrap interval and count over seeds of every SUMMARISED name, per grid point."""
    return stats.seed_summary(summarised_values(ds))


def check_bound(ds: xr.Dataset) -> stats.BoundCheck:
    """Runs whose E_clean exceeds the worst-case or the instance bound (THEORY.md §2)."""
    return stats.check_upper_bounds(ds, MEASURED, BOUNDS)


@dataclass(frozen=True)
class BoundCoverage:
    """Why finished runs were or were not held against Theorem 4.1 (THEORY.md §2).

    ``finished``: runs done, diverged or at max_epochs; of these, ``unbounded_optimizer``
    use an optimiser the theorem is not about (full-batch GD), ``relu`` have alpha = 0 (no
    bound), ``no_margin`` are bounded SGD runs whose SVM margin could not be computed (the
    bound is NaN), ``not_clean`` are bounded SGD runs with a bound that never reached
    E_clean, ``infinite`` have a bound beyond the float range (it holds trivially).
    """

    finished: int
    unbounded_optimizer: int
    relu: int
    no_margin: int
    not_clean: int
    infinite: int


def bound_coverage(ds: xr.Dataset) -> BoundCoverage:
    """Count the runs of each kind of :class:`BoundCoverage`."""
    codes = [STATUS[name] for name in ("done", "diverged", "max_epochs")]
    finished = ds[stats.DONE] & ds[stats.STATUS].isin(codes)
    bounded_optimizer = _per_run(ds, "optimizer", lambda name: str(name) in BOUNDED_OPTIMIZERS)
    relu = _per_run(ds, "alpha", lambda alpha: float(alpha) == 0.0)
    candidate = finished & bounded_optimizer & ~relu
    bound = ds[BOUNDS[0]]
    counts = xr.Dataset({
        "finished": finished.sum(),
        "unbounded_optimizer": (finished & ~bounded_optimizer).sum(),
        "relu": (finished & bounded_optimizer & relu).sum(),
        "no_margin": (candidate & ds["margin_s"].isnull()).sum(),
        "not_clean": (candidate & bound.notnull() & ~(ds[MEASURED] > 0)).sum(),
        "infinite": (candidate & np.isinf(bound) & (ds[MEASURED] > 0)).sum(),
    }).compute()
    return BoundCoverage(**{name: int(value) for name, value in counts.data_vars.items()})


def _per_run(ds: xr.Dataset, name: str, test) -> xr.DataArray:
    """``test(value)`` of a run parameter, broadcast over the grid (a grid dim or one fixed value)."""
    if name in ds.dims:
        return xr.DataArray([bool(test(value)) for value in ds[name].values], dims=[name], coords={name: ds[name]})
    return xr.DataArray(bool(test(parameter_values(ds, name)[0])))


def scaling_parameters(ds: xr.Dataset) -> tuple[str, ...]:
    return stats.scaling_parameters(ds, SCALING_PARAMETERS)


def scaling_slopes(ds: xr.Dataset) -> list[stats.Slope]:
    """Log-log slopes of the seed medians of the FITTED epoch counts in each swept scaling parameter."""
    values = summarised_values(ds)
    return stats.scaling_slopes(ds, {name: values[name] for name in FITTED}, scaling_parameters(ds))
