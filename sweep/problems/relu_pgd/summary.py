"""The ``relu_pgd`` runs of a store, summarised per grid point and held against THEORY.md §6.1.

- :func:`point_table`: per grid point (all grid dims but ``seed``), the share of seeds
  that succeed and that stay inside the 2^-t envelope, with Wilson intervals, and seed
  medians of the other measures;
- :func:`contraction_law`: the fitted contraction factor against n / n0_hat at one setting,
  as a power law fitted to the seed medians (THEORY.md §6.1's (n / n0)^-1/2, constant unknown);
- :func:`measured_constants`: along n, per setting (every other grid dim), the smallest
  n / n0_hat at which >= 95% of seeds succeed, and at which >= 95% stay inside the
  envelope: the constant c of the theorem as this store measures it (the paper gives none);
- :func:`transition_points`: per setting, the logistic in log n fitted to the success (and
  envelope) counts along n, with the n at 50% and 95% and their profile-likelihood
  intervals (:mod:`analysis.transition`); :func:`collapse`: per constraint, the constant c
  of n = c n0_hat that these points would share if the curves collapse across (d, s).

Only finished runs (``done``) count. :func:`point_table` reduces the store over seed with Dask;
the rest is pandas on its small per-point table.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from analysis.plotting import parameter_values, reference_point
from analysis.stats import (SEED_DIM, PowerLaw, median_over_seeds, once_per_dataset, over_last_axis, point_dims,
                            power_law, wilson_interval, with_seed_dim)
from analysis.tables import frame
from analysis.transition import logistic_transition
from sweep.problems.results import STATUS

FIT_SHARE = 0.5          # the contraction law is fitted on the n where at least this share of seeds has a factor
TARGET_SHARE = 0.95      # "most seeds": the share the measured constants ask for
CROSSINGS = (0.5, TARGET_SHARE)  # the shares at which transition_points places the transition
LARGE_SAMPLE_RATIO = 25  # n / n0_hat from which the report counts runs inside the envelope (tests: all, for l0)
THEOREM_SCHEDULE = {"relu_slope_at_zero": 0.5, "mu0": 2.0, "mu": 1.0}  # THEORY.md §6.1
SHARES = ("success", "envelope_ok")
MEDIANS = ("contraction", "t_success", "rel_err_final", "test_rel_err")
# Reference implementation of THEORY.md §6.1 (d = 1000, s = 20, l0, 20 trials, 40 steps).
REFERENCE = {"success": 3.2, "envelope_ok": 12.8}


def per_seed(ds: xr.Dataset, name: str, point: dict) -> np.ndarray:
    """``name`` at ``point`` as (seeds, ...) over the finished runs (others NaN)."""
    values = ds[name].where(ds["done"]).sel(point)
    return with_seed_dim(values).transpose("seed", ...).values.astype(np.float64)


def seeds_with_values(per_seed: np.ndarray) -> int:
    """Seeds (rows of ``per_seed``) with at least one finite value."""
    return int(np.isfinite(per_seed).any(axis=1).sum())


@once_per_dataset
def contraction_law(ds: xr.Dataset) -> tuple[dict, np.ndarray, np.ndarray, PowerLaw | None]:
    """At the setting ``held`` (every point dim but n at its middle value,
    :func:`analysis.plotting.reference_point`): ``held``, n / n0_hat per n, the contraction
    factor per (seed, n), and the power law fitted to its seed medians on the n where at
    least FIT_SHARE of the seeds have a factor (None with fewer than two such n). Once per
    Dataset (the report's text and its figure show the same fit)."""
    held = reference_point(ds, ("n",))
    ratios = np.array([over_last_axis(lambda values: np.nanmax(values, axis=-1),
                                      per_seed(ds, "n_over_n0", {**held, "n": n}).ravel())
                       for n in parameter_values(ds, "n")])
    factors = np.stack([per_seed(ds, "contraction", {**held, "n": n}) for n in parameter_values(ds, "n")], axis=1)
    fitted = np.mean(np.isfinite(factors), axis=0) >= FIT_SHARE
    return held, ratios, factors, power_law(ratios[fitted], factors[:, fitted])


@once_per_dataset
def point_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per grid point with a finished run: runs, ``{success, envelope_ok}_{count, share, lo,
    hi}``, diverged runs, n0_hat, n_over_n0 and the seed medians ``{name}_median`` of
    MEDIANS (t_success over the runs that succeed, the others over finite values). Sorted
    by the grid. Reduced over seed by Dask, chunk by chunk (the store is never in memory
    whole), once per Dataset."""
    dims = list(point_dims(ds))
    done = with_seed_dim(ds["done"])

    def finished(name: str) -> xr.DataArray:
        return with_seed_dim(ds[name]).where(done)

    t_success = finished("t_success")
    medians = {"t_success": t_success.where(t_success >= 0), **{name: finished(name) for name in MEDIANS if name != "t_success"}}
    columns = xr.Dataset({
        "runs": done.sum(SEED_DIM), "n0_hat": finished("n0_hat").max(SEED_DIM),
        "n_over_n0": finished("n_over_n0").max(SEED_DIM),
        "diverged": (done & (with_seed_dim(ds["status"]) == STATUS["diverged"])).sum(SEED_DIM),
        **{f"{name}_count": (done & with_seed_dim(ds[name])).sum(SEED_DIM) for name in SHARES},
        **{f"{name}_median": median_over_seeds(medians[name]) for name in MEDIANS},
    }).sortby(dims).compute()
    table = columns.to_dataframe(dim_order=dims).reset_index() if dims else frame(columns)
    table = table[table["runs"] > 0].reset_index(drop=True)
    if table.empty:
        return pd.DataFrame(columns=[*dims, "runs"])
    for name in SHARES:
        table[f"{name}_share"] = table[f"{name}_count"] / table["runs"]
        table[f"{name}_lo"], table[f"{name}_hi"] = wilson_interval(table[f"{name}_count"], table["runs"])
    return table


def measured_constants(table: pd.DataFrame, dims: tuple[str, ...]) -> pd.DataFrame:
    """Per setting (the grid point dims but ``n``): for each name in SHARES, the smallest
    n / n0_hat of the store at which >= TARGET_SHARE of the runs count
    (``{name}_from``, NaN if none), whether every larger n of the setting does too
    (``{name}_sustained``), and the points and fewest runs per point it rests on."""
    setting = [dim for dim in dims if dim != "n"]
    rows = []
    groups = table.groupby(setting, sort=True) if setting else [((), table)]
    for key, group in groups:
        group = group.sort_values("n_over_n0")
        row = dict(zip(setting, key if isinstance(key, tuple) else (key,)))
        row.update(points=len(group), min_runs=int(group["runs"].min()),
                   ratio_min=group["n_over_n0"].min(), ratio_max=group["n_over_n0"].max())
        for name in SHARES:
            reached = (group[f"{name}_share"] >= TARGET_SHARE).to_numpy()
            first = int(np.argmax(reached)) if reached.any() else None
            row[f"{name}_from"] = group["n_over_n0"].iloc[first] if first is not None else math.nan
            row[f"{name}_sustained"] = bool(first is not None and reached[first:].all())
        rows.append(row)
    return pd.DataFrame(rows)


def with_fixed(table: pd.DataFrame, ds: xr.Dataset, names) -> pd.DataFrame:
    """``table`` with a column for each of ``names`` that the store does not sweep (its
    value in the spec, or the default)."""
    return table.assign(**{name: parameter_values(ds, name)[0] for name in names if name not in table})


def theorem_schedule(table: pd.DataFrame, ds: xr.Dataset) -> pd.Series:
    """Which rows of ``table`` ran with the schedule of THEORY.md §6.1 (relu'(0) = 1/2,
    mu0 = 2, mu = 1) in float64 (2^-T is below float32's rounding for T > 24)."""
    table = with_fixed(table, ds, (*THEOREM_SCHEDULE, "dtype"))
    keep = table["dtype"] == "float64"
    for name, value in THEOREM_SCHEDULE.items():
        keep &= table[name] == value
    return keep


def crossing_column(name: str, share: float, part: str = "") -> str:
    """The column of :func:`transition_points` for ``name`` at ``share``: 'success_n50', 'success_n50_lo'."""
    return f"{name}_n{round(100 * share)}" + (f"_{part}" if part else "")


def transition_points(table: pd.DataFrame, dims: tuple[str, ...]) -> pd.DataFrame:
    """Per setting (the point dims of ``table`` but n; :func:`point_table`'s rows): n0_hat,
    the points along n, the fewest runs per point, and for each name in SHARES the logistic
    in log n fitted to its counts (:func:`analysis.transition.logistic_transition`): the n
    at each share of CROSSINGS with its interval (:func:`crossing_column`; NaN when the
    counts hold no transition: none or all succeed), ``{name}_separated`` and ``{name}_scale``.
    Empty when n is not swept."""
    if "n" not in dims:
        return pd.DataFrame()
    setting = [dim for dim in dims if dim != "n"]
    rows = []
    groups = table.groupby(setting, sort=True) if setting else [((), table)]
    for key, group in groups:
        row = dict(zip(setting, key if isinstance(key, tuple) else (key,)))
        row.update(n0_hat=float(group["n0_hat"].iloc[0]), points=len(group), min_runs=int(group["runs"].min()))
        for name in SHARES:
            fit = logistic_transition(group["n"], group[f"{name}_count"], group["runs"], CROSSINGS)
            for share in CROSSINGS:
                crossing = fit[share] if fit is not None else None
                for part, value in (("", "x"), ("lo", "lo"), ("hi", "hi")):
                    row[crossing_column(name, share, part)] = getattr(crossing, value) if crossing else math.nan
            row[f"{name}_separated"] = bool(fit is not None and fit.separated)
            row[f"{name}_scale"] = fit.scale if fit is not None else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def collapse(transitions: pd.DataFrame, name: str = "success") -> pd.DataFrame:
    """Per constraint and share of CROSSINGS: the settings whose crossing of ``name`` is
    bounded, the constant c of n = c n0_hat fitted to them (the geometric mean of
    n_q / n0_hat, least squares on log axes) and the smallest and largest n_q / n0_hat. If
    the curves collapse across (d, s) as THEORY.md §6.1's n0 scaling says, the ratios agree."""
    rows = []
    for constraint, group in transitions.groupby("constraint", sort=True):
        for share in CROSSINGS:
            bounded = group[(group[crossing_column(name, share, "lo")] > 0)
                            & np.isfinite(group[crossing_column(name, share, "hi")])]
            ratios = (bounded[crossing_column(name, share)] / bounded["n0_hat"]).to_numpy()
            rows.append({"constraint": constraint, "share": share, "settings": len(group), "bounded": len(bounded),
                         "c": float(np.exp(np.mean(np.log(ratios)))) if ratios.size else math.nan,
                         "ratio_min": float(ratios.min()) if ratios.size else math.nan,
                         "ratio_max": float(ratios.max()) if ratios.size else math.nan})
    return pd.DataFrame(rows)
