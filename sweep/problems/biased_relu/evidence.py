"""The ``biased_relu`` theory held against a store (THEORY.md §6.3): the N^{-1/2} rate of the
moment learner, the growth of a neuron's error with its bias like 1/phi(b) (and where it
does not hold), the zero-bias ablation.

Each function takes the Dataset of :func:`analysis.stats.open_results` and returns small
computed numbers; the figures (:mod:`.figures`) and the report (:mod:`.report`) show them.
Slopes are fitted on the seed medians (pooled over the other swept dims, a fixed effect
per group, :func:`analysis.stats.scaling_slopes`) and, for the share of seeds, seed by seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from scipy.stats import quantile_test

from analysis import stats
from analysis.plotting import MIN_BAND_SEEDS, QUARTILES, parameter_values
from analysis.stats import PowerLaw, power_law
from kernels.hermite import normal_pdf

ERROR = "err_w_sign_agnostic"  # the error the rate and bias figures fit (directions, up to the sign symmetry)
# THEORY.md §6.3: parameter errors ~ N^{-1/2}, so the squared test error ~ N^{-1}.
RATES = {ERROR: -0.5, "moment_err_2": -0.5, "test_rel_l2": -1.0}
BAND = 0.125                   # a fitted slope "near" its rate: within +-BAND, i.e. nearer it than the rates
ALTERNATIVE = 0.25             # ... that differ from it by ALTERNATIVE (N^-1/4 and N^-3/4 for N^-1/2)
LOCAL = 0.5                    # the rate is local: fitted on grid points whose seed-median ERROR is below this
BIAS_BIN = 0.25                # width of the |b| bins of the per-neuron bias law
MIN_INTERVAL = MIN_BAND_SEEDS  # no interval (and no test) from fewer values than this
RECOVERED = 0.3                # a neuron's direction counts as recovered below this error


def loaded(ds: xr.Dataset, *names: str) -> xr.Dataset:
    """The variables ``names`` and ``done`` in memory (the stores are small; NumPy-backed
    reductions are far faster than Dask graphs of tiny chunks)."""
    return ds[[*names, "done"]].load()


def learners(ds: xr.Dataset) -> list[str]:
    return [str(v) for v in parameter_values(ds, "learner")]


def at_learner(ds: xr.Dataset, learner: str) -> xr.Dataset:
    """The runs of one learner (the store itself when the learner is fixed)."""
    return ds.sel(learner=learner) if "learner" in ds.dims else ds


def finite(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``ds[name]`` as float where the run is done and the value finite, else NaN."""
    values = ds[name].astype(np.float64)
    return values.where(ds["done"] & np.isfinite(values))


def counted(ds: xr.Dataset, name: str) -> xr.DataArray:
    """:func:`finite` and > 0 (what a log axis or a log-log fit can use), else NaN."""
    values = finite(ds, name)
    return values.where(values > 0)


def recovered_share(ds: xr.Dataset) -> xr.DataArray:
    """Per run: the share of teacher neurons whose direction error (neuron_err_w) is below
    RECOVERED; NaN for runs not done."""
    errors = ds["neuron_err_w"]
    share = (errors < RECOVERED).sum("neuron") / errors.notnull().sum("neuron")
    return share.where(ds["done"])


@dataclass(frozen=True)
class Rate:
    """The log-log slope in N of one learner's error: pooled seed medians with a bootstrap
    interval, and the share of (seed, other dims) series whose own slope is within BAND of
    the expected rate (RATES). ``local``: fitted only on the grid points in the local
    regime (seed-median ERROR < LOCAL), else on every N."""

    learner: str
    variable: str
    local: bool
    slope: float
    lo: float
    hi: float
    share_in_band: float
    series: int

    @property
    def expected(self) -> float:
        return RATES[self.variable]

    @property
    def band(self) -> tuple[float, float]:
        return (self.expected - BAND, self.expected + BAND)

    @property
    def alternatives(self) -> tuple[float, float]:
        """The rates ALTERNATIVE away from the expected one, which the interval must exclude."""
        return (self.expected - ALTERNATIVE, self.expected + ALTERNATIVE)

    def verdict(self) -> bool | None:
        """True when the interval contains the expected rate and excludes both alternatives
        (and the slope is within BAND of it); False when the interval excludes the expected
        rate; None when it contains an alternative too (the store cannot tell them apart)."""
        if not self.lo <= self.expected <= self.hi:
            return False
        if any(self.lo <= rate <= self.hi for rate in self.alternatives):
            return None
        return bool(self.band[0] <= self.slope <= self.band[1])

    @property
    def fitted_on(self) -> str:
        return f"median {ERROR} < {LOCAL}" if self.local else "every N"


def rates(ds: xr.Dataset, variable: str = ERROR, local: bool = True) -> list[Rate]:
    """The slope in N of ``variable`` (a key of RATES) for every learner of the store whose
    runs have it, fitted where at least two N of a series count ([] without an N sweep).

    With ``local``, only grid points whose seed-median direction error is below LOCAL
    count: the N^{-1/2} rate is that of a perturbation, and above LOCAL the largest
    direction error is of order 1 (it saturates at sqrt 2). The points are selected on
    the medians, so a point just below LOCAL by chance can flatten the slope a little.
    """
    if "N" not in ds.dims or ds.sizes["N"] < 2 or variable not in ds:
        return []
    store = loaded(ds, variable, ERROR)
    out = []
    for learner in learners(ds):
        runs = at_learner(store, learner)
        values = counted(runs, variable)
        if local:
            values = values.where(stats.median_over_seeds(counted(runs, ERROR)) < LOCAL)
        per_seed = seed_slopes(values, "N")
        series = int(np.sum(np.isfinite(per_seed)))
        if series == 0:
            continue
        [slope] = stats.scaling_slopes(runs, {variable: values}, ("N",))
        inside = np.sum(np.abs(per_seed - RATES[variable]) <= BAND)
        out.append(Rate(learner, variable, local, slope.slope, slope.lo, slope.hi, float(inside / series), series))
    return out


def seed_slopes(values: xr.DataArray, along: str) -> np.ndarray:
    """Least-squares slope of log(values) in log(along) for every series (every
    combination of the other dims, seed included); NaN where fewer than two values count."""
    values = values.transpose(..., along).compute()
    log_x = np.log(values[along].values.astype(np.float64))
    slopes = []
    for log_y in np.log(values.values.reshape(-1, values.sizes[along])):
        ok = np.isfinite(log_y)
        slopes.append(np.polyfit(log_x[ok], log_y[ok], 1)[0] if ok.sum() >= 2 else np.nan)
    return np.array(slopes)


@dataclass(frozen=True)
class BiasBins:
    """A learner's per-neuron direction error (neuron_err_w) against the neuron's own |b|, in
    bins of BIAS_BIN pooled over the runs (every beta and seed): per bin its ``edges``, the
    ``neurons`` in it, their median |b| (``bias``), the median error with its interquartile
    range (``q25``, ``q75``) and the 95% distribution-free interval of that median (``lo``,
    ``hi``: SciPy's ``quantile_test``, neurons taken as independent; NaN with fewer than
    MIN_INTERVAL neurons), and ``per_run``: each run's median error in each bin (runs, bins)."""

    learner: str
    edges: np.ndarray
    neurons: np.ndarray
    bias: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    per_run: np.ndarray

    @property
    def testable(self) -> np.ndarray:
        """Bins with >= MIN_INTERVAL neurons whose median error is in the local regime (< LOCAL)."""
        return (self.neurons >= MIN_INTERVAL) & (self.median < LOCAL)


@dataclass(frozen=True)
class BiasLaw:
    """err = c / phi(|b|)^k per neuron (THEORY.md §6.3: a neuron's moments scale with phi(b)):
    ``scan`` fits k (with its bootstrap interval over runs, :func:`analysis.stats.power_law`)
    on the testable bins from each bin edge on; the law holds from ``holds_from``, the
    smallest edge whose fit's interval contains k = 1 (None: nowhere), with c fitted at k = 1
    there (on every testable bin when it holds nowhere)."""

    bins: BiasBins
    scan: tuple[tuple[float, PowerLaw], ...]
    holds_from: float | None
    c: float

    def __call__(self, bias) -> np.ndarray:
        return self.c / normal_pdf(np.asarray(bias, np.float64))

    def fit(self, edge: float | None) -> PowerLaw | None:
        return dict(self.scan).get(edge)


def bias_law_point(ds: xr.Dataset) -> dict:
    """The swept dims other than beta, seed and learner held at their last value (the largest
    N): the law is read at one setting, not pooled over N."""
    return {dim: ds[dim].values[-1] for dim in stats.point_dims(ds) if dim not in ("beta", "learner")}


def bias_bins(ds: xr.Dataset, learner: str = "moments") -> BiasBins | None:
    """:class:`BiasBins` of ``learner``'s runs at :func:`bias_law_point`, or None without
    them or without a beta sweep."""
    if (learner not in learners(ds) or not {"teacher_b", "neuron_err_w"} <= set(ds.data_vars)
            or "beta" not in ds.dims or ds.sizes["beta"] < 2):
        return None
    runs = at_learner(loaded(ds, "teacher_b", "neuron_err_w"), learner)
    runs = runs.sel(bias_law_point(ds))
    neurons = runs.sizes["neuron"]
    bias = np.abs(runs["teacher_b"].where(runs["done"]).transpose(..., "neuron").values.reshape(-1, neurons))
    error = finite(runs, "neuron_err_w").transpose(..., "neuron").values.reshape(-1, neurons)
    ok = np.isfinite(bias) & np.isfinite(error)
    if not ok.any():
        return None
    edges = np.arange(0.0, bias[ok].max() + BIAS_BIN, BIAS_BIN)
    index = np.clip(np.digitize(bias, edges) - 1, 0, edges.size - 2)
    columns = edges.size - 1
    per_run = np.full((bias.shape[0], columns), np.nan)
    summary = np.full((6, columns), np.nan)
    counts = np.zeros(columns, int)
    for column in range(columns):
        inside = ok & (index == column)
        counts[column] = inside.sum()
        if not counts[column]:
            continue
        for run in np.flatnonzero(inside.any(axis=1)):
            per_run[run, column] = np.median(error[run, inside[run]])
        values = error[inside]
        summary[:4, column] = (np.median(bias[inside]), np.median(values), *np.quantile(values, QUARTILES))
        if counts[column] >= MIN_INTERVAL:
            interval = quantile_test(values, q=np.median(values), p=0.5).confidence_interval(stats.CONFIDENCE)
            summary[4:, column] = interval.low, interval.high
    return BiasBins(learner, edges, counts, *summary, per_run)


def bias_law(ds: xr.Dataset, learner: str = "moments") -> BiasLaw | None:
    """The 1/phi(|b|) law of ``learner``'s per-neuron errors (:class:`BiasLaw`), or None with
    fewer than two testable bins."""
    bins = bias_bins(ds, learner)
    if bins is None or bins.testable.sum() < 2:
        return None
    growth = 1.0 / normal_pdf(bins.bias)
    scan = []
    for start in np.flatnonzero(bins.testable):
        use = bins.testable & (np.arange(bins.median.size) >= start)
        law = power_law(growth[use], bins.per_run[:, use]) if use.sum() >= 2 else None
        if law is not None:
            scan.append((float(bins.edges[start]), law))
    holds_from = next((edge for edge, law in scan if law.contains(1.0)), None)
    law = dict(scan)[holds_from] if holds_from is not None else scan[0][1]
    return BiasLaw(bins, tuple(scan), holds_from, law.amplitude_for(1.0))


@dataclass(frozen=True)
class ZeroBias:
    """At the largest N: how many seeds recover the b = 0 neuron (direction error < RECOVERED)
    with the pencil and with T_3 alone, and the other neurons with each."""

    neuron: int
    N: float
    seeds: int
    pencil: int
    t3_only: int
    others_pencil: int
    others_t3_only: int
    others: int


def zero_bias_neuron(ds: xr.Dataset) -> int | None:
    """The teacher neuron whose bias the spec fixes to 0 (``bias_values``), or None."""
    values = parameter_values(ds, "bias_values")
    if len(values) != 1 or 0.0 not in values[0]:
        return None
    return list(values[0]).index(0.0)


def zero_bias(ds: xr.Dataset) -> ZeroBias | None:
    """The zero-bias ablation at the largest N of the moment learner's runs, or None."""
    neuron = zero_bias_neuron(ds)
    if neuron is None or "moments" not in learners(ds) or "neuron_err_w_t3_only" not in ds:
        return None
    runs = at_learner(loaded(ds, "neuron_err_w", "neuron_err_w_t3_only"), "moments")
    if "N" in runs.dims:
        runs = runs.sel(N=runs["N"].values.max())
    done = runs["done"].values.reshape(-1)
    pencil = runs["neuron_err_w"].transpose(..., "neuron").values.reshape(done.size, -1)[done]
    t3 = runs["neuron_err_w_t3_only"].transpose(..., "neuron").values.reshape(done.size, -1)[done]
    others = np.isfinite(pencil) & (np.arange(pencil.shape[1]) != neuron)
    return ZeroBias(neuron, float(ds["N"].values.max()) if "N" in ds.dims else float(parameter_values(ds, "N")[0]),
                    int(done.sum()), int(np.sum(pencil[:, neuron] < RECOVERED)), int(np.sum(t3[:, neuron] < RECOVERED)),
                    int(np.sum((pencil < RECOVERED) & others)), int(np.sum((t3 < RECOVERED) & others)),
                    int(others.sum()))
