"""The ``separable`` problem's theory held against a store (THEORY.md §2).

Theorem 4.1 bounds E_clean by ``epochs_bound`` (worst case over inits) and by
``epochs_bound_instance`` (from the run's own W0) for every run: :func:`check_bound`
counts the runs above either (there must be none). :func:`seed_summary` and
:func:`scaling_slopes` compare how the measured epochs and the bound scale with the
swept parameters (THEORY.md §2: e.g. alpha^-2 and, for small init, width^-1 for the
bound). Thin selections over the generic statistics of :mod:`analysis.stats`.
"""
from __future__ import annotations

import xarray as xr

from analysis import stats

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


def scaling_parameters(ds: xr.Dataset) -> tuple[str, ...]:
    return stats.scaling_parameters(ds, SCALING_PARAMETERS)


def scaling_slopes(ds: xr.Dataset) -> list[stats.Slope]:
    """Log-log slopes of the seed medians of the FITTED epoch counts in each swept scaling parameter."""
    values = summarised_values(ds)
    return stats.scaling_slopes(ds, {name: values[name] for name in FITTED}, scaling_parameters(ds))
