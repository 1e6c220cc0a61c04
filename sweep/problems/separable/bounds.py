"""The ``separable`` problem's theory held against a store (THEORY.md §2, §2.1).

Every run is held against each of THEOREMS: E_clean against Theorem 4.1's
``epochs_bound`` (worst case over inits) and ``epochs_bound_instance`` (from the run's own
W0), and against the certified potential bounds ``epochs_bound_potential`` and
``epochs_bound_potential_instance``; the violating steps of the run against
``violating_steps_bound``. :func:`check_bound` counts the runs above each (there must be
none), :func:`bound_coverage` why the others were not held, :func:`tightness` how far
above the measurements the bounds sit (RATIOS). :func:`seed_summary` and
:func:`scaling_slopes` compare how the measured epochs and the bounds scale with the
swept parameters (THEORY.md §2: alpha^-2 and, for small init, width^-1 for the bound).
Thin selections over the generic statistics of :mod:`analysis.stats`. A store written
before a variable existed simply lacks it: what needs it is left out (:func:`stored`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from analysis import joint_fit, stats
from analysis.plotting import parameter_values
from sweep.problems.results import STATUS
from sweep.problems.separable.params import BOUNDED_OPTIMIZERS

MEASURED = "epochs_clean"


@dataclass(frozen=True)
class Theorem:
    """A proved upper bound that every run must obey: ``measured`` <= each of ``bounds``
    (the worst case over starts first, then the run's own start, if any). ``name``: the
    report's words for it (its check is "<name> check (<source>)"), ``bound``: for its
    bound; ``zero_counts``: the measured count can be 0 (stats.counted)."""

    name: str
    bound: str
    source: str
    measured: str
    bounds: tuple[str, ...]
    zero_counts: bool = False

    @property
    def variables(self) -> tuple[str, ...]:
        return (self.measured, *self.bounds)


THEOREMS = (
    Theorem("Theorem 4.1", "the Theorem 4.1 bound", "THEORY.md §2", MEASURED, ("epochs_bound", "epochs_bound_instance")),
    Theorem("Potential bound", "the potential bound", "THEORY.md §2.1, BOUND.md Theorem 2(b)", MEASURED,
            ("epochs_bound_potential", "epochs_bound_potential_instance")),
    Theorem("Violating-steps bound", "the violating-steps bound", "THEORY.md §2.1, BOUND.md Theorem 2(a)",
            "violating_steps_run", ("violating_steps_bound",), zero_counts=True),
)
# The epoch counts whose seed medians are fitted; ratio = epochs_clean / epochs_bound (<= 1).
FITTED = ("epochs_clean", "epochs_conv", "epochs_bound", "epochs_bound_potential", "violating_steps")
SUMMARISED = FITTED + ("ratio",)
SCALING_PARAMETERS = ("alpha", "width", "eps", "lr", "v", "margin", "n", "init_scale")  # the bound's variables
DATA_SETS = "data_seed"  # resampled whole by the slopes' bootstrap where swept
# The exponent table's columns: (variable, its words), measured first, then the bounds.
EXPONENT_COLUMNS = (("epochs_clean", "E_clean"), ("epochs_conv", "E_conv"), ("violating_steps", "V"),
                    ("epochs_bound_potential", "potential bound (§2.1)"), ("epochs_bound", "Theorem 4.1 bound (§2)"))
# The tightness ratios numerator / denominator over the runs where both are finite and > 0.
RATIOS = (("epochs_bound", MEASURED), ("epochs_bound_instance", MEASURED), ("epochs_bound_potential", MEASURED),
          ("epochs_bound_potential_instance", MEASURED), ("violating_steps_bound", "violating_steps_run"),
          ("violating_steps", MEASURED), ("epochs_bound", "epochs_bound_potential"))


def stored(ds: xr.Dataset, names) -> tuple[str, ...]:
    """The ``names`` the store has (a store written before a variable existed lacks it)."""
    return tuple(name for name in names if name in ds)


def summarised_values(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Per-run values of each name in SUMMARISED the store has, NaN where the run does not count."""
    values = {name: stats.counted(ds, name) for name in stored(ds, FITTED)}
    values["ratio"] = values[MEASURED] / values["epochs_bound"]
    return values


@stats.once_per_dataset
def seed_summary(ds: xr.Dataset) -> xr.Dataset:
    """Median, bootstrap interval and count over seeds of every SUMMARISED name, per grid point
    (once per Dataset: the report's table, summary.csv and figures share it)."""
    return stats.seed_summary(summarised_values(ds))


def check_bound(ds: xr.Dataset, theorem: Theorem = THEOREMS[0]) -> stats.BoundCheck:
    """Runs whose measured value exceeds one of the theorem's bounds (the worst-case or
    the instance one; THEORY.md §2, §2.1). The store must hold ``theorem.variables``."""
    return stats.check_upper_bounds(ds, theorem.measured, theorem.bounds, theorem.zero_counts)


@dataclass(frozen=True)
class Tightness:
    """numerator / denominator over the ``runs`` where both are finite and > 0."""

    numerator: str
    denominator: str
    runs: int
    min: float
    median: float
    max: float


def tightness(ds: xr.Dataset) -> list[Tightness]:
    """Each ratio of RATIOS the store has, over the runs that count (THEORY.md §2.1: the
    bounds' distance above the measurements, and §2's over the potential bound)."""
    found = []
    for numerator, denominator in RATIOS:
        if not stored(ds, (numerator, denominator)) == (numerator, denominator):
            continue
        ratio = (stats.counted(ds, numerator) / stats.counted(ds, denominator)).values.ravel()
        ratio = ratio[np.isfinite(ratio)]
        if ratio.size:
            found.append(Tightness(numerator, denominator, int(ratio.size), float(ratio.min()),
                                   float(np.median(ratio)), float(ratio.max())))
    return found


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


def bound_coverage(ds: xr.Dataset, theorem: Theorem = THEOREMS[0]) -> BoundCoverage:
    """Count the runs of each kind of :class:`BoundCoverage` for ``theorem`` (``not_clean``:
    runs whose measured value is not reached)."""
    codes = [STATUS[name] for name in ("done", "diverged", "max_epochs")]
    finished = ds[stats.DONE] & ds[stats.STATUS].isin(codes)
    bounded_optimizer = _per_run(ds, "optimizer", lambda name: str(name) in BOUNDED_OPTIMIZERS)
    relu = _per_run(ds, "alpha", lambda alpha: float(alpha) == 0.0)
    candidate = finished & bounded_optimizer & ~relu
    bound = ds[theorem.bounds[0]]
    measured = ds[theorem.measured]
    reached = (measured >= 0) if theorem.zero_counts else (measured > 0)
    counts = xr.Dataset({
        "finished": finished.sum(),
        "unbounded_optimizer": (finished & ~bounded_optimizer).sum(),
        "relu": (finished & bounded_optimizer & relu).sum(),
        "no_margin": (candidate & ds["margin_s"].isnull()).sum(),
        "not_clean": (candidate & bound.notnull() & ~reached).sum(),
        "infinite": (candidate & np.isinf(bound) & reached).sum(),
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
    """Log-log slopes of the seed medians of the FITTED epoch counts in each swept scaling
    parameter; the bootstrap resamples the seeds and, where ``data_seed`` is swept, whole data sets."""
    values = summarised_values(ds)
    units = DATA_SETS if DATA_SETS in stats.point_dims(ds) and ds.sizes[DATA_SETS] > 1 else None
    return stats.scaling_slopes(ds, {name: values[name] for name in stored(ds, FITTED)}, scaling_parameters(ds),
                                units)


@stats.once_per_dataset
def exponents(ds: xr.Dataset) -> dict[tuple[str, str], dict[str, stats.Slope]]:
    """(data set, parameter) -> {variable: its :func:`scaling_slopes` slope}: the measured
    exponents beside the bounds' (THEORY.md §2, §2.1), fitted per data set where ``dataset``
    is swept (one law per data distribution), else over the whole store ("all")."""
    if "dataset" in stats.point_dims(ds) and ds.sizes["dataset"] > 1:
        parts = [(str(name), ds.isel(dataset=[i])) for i, name in enumerate(ds["dataset"].values)]
    else:
        parts = [("all", ds)]
    table: dict[tuple[str, str], dict[str, stats.Slope]] = {}
    for label, part in parts:
        for slope in scaling_slopes(part):
            table.setdefault((label, slope.parameter), {})[slope.variable] = slope
    return table


def _row_values(ds: xr.Dataset, medians: xr.DataArray, name: str) -> np.ndarray:
    """The value of the run parameter ``name`` at every row (grid point) of ``medians``:
    its coordinate where it is a dim, else the spec's fixed value; NaN where not a number."""
    if name in medians.dims:
        values = medians[name].broadcast_like(medians).values.ravel()
    else:
        values = np.full(medians.size, parameter_values(ds, name)[0], dtype=object)
    return np.array([v if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else np.nan
                     for v in values], dtype=np.float64)


def study_fits(stores: list[xr.Dataset]) -> dict[str, list[joint_fit.JointFit]]:
    """Per data set (``dataset``): the joint power law log(median) = c + sum_j b_j log(x_j)
    of each FITTED variable over the grid points of all ``stores`` (a study that sweeps the
    bound's variables one at a time around a reference point), in the SCALING_PARAMETERS
    that vary over them (THEORY.md §2, §2.1). The interval resamples the seeds
    (:func:`analysis.stats.bootstrap_medians`, one pattern of resampled seed indices for
    every store). Parameters that are not numbers in some store are left out."""
    rows: dict[str, dict[str, list]] = {}
    for ds in stores:
        values = summarised_values(ds)
        for name in stored(ds, FITTED):
            per_run = stats.with_seed_dim(values[name])
            medians = stats.median_over_seeds(per_run).compute()
            resampled = stats.bootstrap_medians(per_run).compute()
            point = tuple(medians.dims)
            x = np.column_stack([_row_values(ds, medians, p) for p in SCALING_PARAMETERS])
            data_sets = ([str(v) for v in medians["dataset"].broadcast_like(medians).values.ravel()]
                         if "dataset" in point else [str(parameter_values(ds, "dataset")[0])] * medians.size)
            boot = resampled.transpose(*point, stats.BOOTSTRAP_DIM).values.reshape(medians.size, -1)
            for data_set in sorted(set(data_sets)):
                at = np.array([d == data_set for d in data_sets])
                part = rows.setdefault(data_set, {}).setdefault(name, [[], [], []])
                part[0].append(x[at]), part[1].append(medians.values.ravel()[at]), part[2].append(boot[at])
    found: dict[str, list[joint_fit.JointFit]] = {}
    for data_set, by_name in rows.items():
        for name, (x, medians, boot) in by_name.items():
            x = np.concatenate(x)
            numeric = [j for j in range(x.shape[1]) if np.all(np.isfinite(x[:, j]) & (x[:, j] > 0))]
            fit = joint_fit.joint_power_law(name, tuple(SCALING_PARAMETERS[j] for j in numeric), x[:, numeric],
                                            np.concatenate(medians), np.concatenate(boot))
            if fit is not None:
                found.setdefault(data_set, []).append(fit)
    return found
