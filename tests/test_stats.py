"""analysis.stats, through the separable problem's selections, on hand-made stores whose
answers are known (THEORY.md §2)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from analysis import open_results
from sweep.problems.separable.bounds import check_bound, exponents, scaling_slopes, seed_summary
from tests.synthetic_results import synthetic_results, write_store

PARAMS = {"dataset": "linear_teacher", "d": 2}


def test_planted_power_laws_are_recovered_with_intervals(tmp_path):
    grid = {"seed": list(range(6)), "width": [4, 8, 16], "alpha": [0.05, 0.1, 0.2], "init_scale": [0.01]}
    noise = np.random.default_rng(1).lognormal(0.0, 0.05, size=(6, 3, 3, 1))
    ds = synthetic_results(grid, PARAMS, lambda seed, width, alpha, init_scale: 1e3 * alpha ** -2.0 / width * noise)
    slopes = {(s.variable, s.parameter): s for s in scaling_slopes(open_results(write_store(ds, tmp_path / "s.zarr")))}

    assert set(slopes) == {(v, p) for v in ("epochs_clean", "epochs_conv", "epochs_bound", "epochs_bound_potential", "violating_steps")
                           for p in ("alpha", "width")}
    for parameter, planted in (("alpha", -2.0), ("width", -1.0)):
        fit = slopes[("epochs_clean", parameter)]
        assert fit.slope == pytest.approx(planted, abs=0.05)
        assert fit.lo <= fit.slope <= fit.hi and fit.hi - fit.lo < 0.2
        assert slopes[("epochs_bound", parameter)].slope == pytest.approx(planted, abs=0.1)


def test_medians_and_intervals_skip_runs_not_reached_or_not_done(tmp_path):
    grid = {"seed": [0, 1, 2, 3, 4], "width": [4, 8]}
    ds = synthetic_results(grid, PARAMS, lambda seed, width: np.array([10, 20, 30, 40, 50])[seed] * (width // 4))
    ds["epochs_clean"][3, 0] = -1        # not reached
    ds["done"][4, 0] = False             # not run
    summary = seed_summary(open_results(write_store(ds, tmp_path / "s.zarr")))

    first, second = summary.sel(width=4), summary.sel(width=8)
    assert float(first["epochs_clean_median"]) == 20.0 and int(first["epochs_clean_n"]) == 3
    assert 10.0 <= float(first["epochs_clean_lo"]) <= 20.0 <= float(first["epochs_clean_hi"]) <= 30.0
    assert float(second["epochs_clean_median"]) == 60.0 and int(second["epochs_clean_n"]) == 5
    assert float(first["ratio_median"]) == pytest.approx(20.0 / 10e3)  # bound = 1e3 * E_clean at seed 0
    again = seed_summary(open_results(tmp_path / "s.zarr"))
    assert again.equals(summary)  # the bootstrap is deterministic


def test_one_run_above_the_bound_is_counted_and_located(tmp_path):
    grid = {"seed": [0, 1, 2], "alpha": [0.1, 0.2]}
    ds = synthetic_results(grid, PARAMS, lambda seed, alpha: 100 + 0 * seed * alpha)
    ds["epochs_clean"][2, 1] = 10 ** 6   # above both bounds (1e5 and 5e4)
    ds["epochs_clean"][1, 0] = 7 * 10 ** 4  # above the instance bound only
    ds["epochs_clean"][0, 0] = 10 ** 7
    ds["done"][0, 0] = False              # ... but not run: not counted
    check = check_bound(open_results(write_store(ds, tmp_path / "s.zarr")))

    assert (check.checked, check.above["epochs_bound"], check.above["epochs_bound_instance"]) == (5, 1, 2)
    assert not check.holds
    assert {"seed": 2, "alpha": 0.2} in check.offenders and {"seed": 1, "alpha": 0.1} in check.offenders


def test_a_clean_store_passes_the_bound_check(tmp_path):
    ds = synthetic_results({"seed": [0, 1], "width": [2, 4]}, PARAMS, lambda seed, width: 10 * width + seed)
    check = check_bound(open_results(write_store(ds, tmp_path / "s.zarr")))
    assert check.holds and check.checked == 4


def _wilson_formula(k: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval written out (Wilson 1927), the reference for interior shares."""
    share = k / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_intervals_for_every_seed_count_contain_the_share_and_end_at_0_and_1():
    """Every k of every seed count 1..100: 0 <= lo <= k/n <= hi <= 1 (so an error bar is
    never negative), hi = 1 exactly at k = n, lo = 0 exactly at k = 0, the written-out
    formula inside; NaN without trials."""
    from statistics import NormalDist

    from analysis.stats import wilson_interval

    z = NormalDist().inv_cdf(0.975)
    for n in range(1, 101):
        k = np.arange(n + 1)
        lo, hi = wilson_interval(k, np.full(n + 1, n))
        share = k / n
        assert np.all(share - lo >= 0) and np.all(hi - share >= 0), n
        assert lo[0] == 0.0 and hi[-1] == 1.0, n
        assert np.all(lo >= 0) and np.all(hi <= 1), n
        for j in range(1, n):
            assert (lo[j], hi[j]) == pytest.approx(_wilson_formula(j, n, z), abs=1e-12)
    assert wilson_interval(3, 10) == pytest.approx(_wilson_formula(3, 10, z), abs=1e-12)
    lo, hi = wilson_interval(np.array([0, 2]), np.array([0, 4]))
    assert np.isnan(lo[0]) and np.isnan(hi[0]) and hi[1] == pytest.approx(_wilson_formula(2, 4, z)[1])


def test_a_planted_power_law_is_recovered_with_an_interval_that_excludes_other_rates():
    """Seeds scattered (log-normal, 10%) around 3 x^(-1/2): the fitted exponent within 0.05,
    its interval around -1/2 and away from -1/4; the amplitude at the fixed theory exponent
    within 5%; NaN and non-positive values skipped."""
    from analysis.stats import power_law

    x = np.array([2.0, 3.0, 5.0, 8.0, 12.0, 25.0])
    noise = np.random.default_rng(3).lognormal(0.0, 0.1, size=(20, x.size))
    per_seed = 3.0 * x ** -0.5 * noise
    per_seed[0, 0], per_seed[1, 0], per_seed[2, 1] = np.nan, -1.0, 0.0
    law = power_law(x, per_seed)
    assert law.exponent == pytest.approx(-0.5, abs=0.05)
    assert law.contains(-0.5) and not law.contains(-0.25) and law.hi - law.lo < 0.2
    assert law.amplitude_for(-0.5) == pytest.approx(3.0, rel=0.05)
    assert law(4.0) == pytest.approx(law.amplitude * 4.0 ** law.exponent)
    exact = power_law(x, np.tile(2.0 * x ** 1.5, (3, 1)))
    assert (exact.exponent, exact.lo, exact.hi, exact.amplitude) == pytest.approx((1.5, 1.5, 1.5, 2.0))
    assert power_law(x[:2], np.array([[1.0, np.nan]])) is None


def test_power_law_along_a_grid_dim_holds_the_others_and_names_the_free_ones():
    """A planted E = 7 alpha^-2 width^-1 (runs not done or at -1 left out): against alpha at
    width 4, exponent -2 and amplitude 7/4 exactly; width left free is named."""
    from analysis.stats import power_law_along

    alpha, width, seeds = np.array([0.05, 0.1, 0.2, 0.4]), np.array([1, 4]), np.arange(3)
    epochs = 7.0 * alpha[None, :, None] ** -2.0 / width[None, None, :] * np.ones((3, 1, 1))
    done = np.ones(epochs.shape, bool)
    done[0, 0, 1], epochs[1, 1, 1] = False, -1
    coords = {"seed": seeds, "alpha": alpha, "width": width}
    ds = xr.Dataset({"epochs_clean": (("seed", "alpha", "width"), epochs),
                     "done": (("seed", "alpha", "width"), done)}, coords=coords)
    law = power_law_along(ds, "epochs_clean", "alpha", {"width": 4})
    assert (law.exponent, law.lo, law.hi, law.amplitude) == pytest.approx((-2.0, -2.0, -2.0, 7.0 / 4))
    assert list(law.x) == list(alpha)
    with pytest.raises(ValueError, match="'width'"):
        power_law_along(ds, "epochs_clean", "alpha")


def test_exponents_per_data_law_resample_whole_data_sets(tmp_path):
    """E_clean = 100 alpha^(-2 + c) with c = -1, -0.5, 0.5, 1 on the four data sets of the
    linear teacher (the same for every seed) and exactly alpha^-1 / width on Gaussians: the
    pooled linear-teacher exponent is -2, its interval (whole data sets resampled) spreads
    over the data sets' own exponents; the Gaussian one is -1 with a zero-width interval."""
    grid = {"dataset": ["linear_teacher", "gaussians"], "data_seed": [0, 1, 2, 3], "seed": [0, 1, 2],
            "alpha": [0.05, 0.1, 0.2, 0.4]}
    offset = np.array([-1.0, -0.5, 0.5, 1.0])

    def law(dataset, data_seed, seed, alpha):
        return np.where(dataset == "linear_teacher", 1e4 * alpha ** (-2.0 + offset[data_seed]), 1e3 / alpha)

    ds = open_results(write_store(synthetic_results(grid, PARAMS, law), tmp_path / "s.zarr"))
    table = exponents(ds)
    assert set(table) == {("linear_teacher", "alpha"), ("gaussians", "alpha")}
    teacher, gauss = table[("linear_teacher", "alpha")]["epochs_clean"], table[("gaussians", "alpha")]["epochs_clean"]
    assert teacher.slope == pytest.approx(-2.0, abs=0.02) and teacher.lo < -2.4 and teacher.hi > -1.6
    assert teacher.lo >= -3.0 and teacher.hi <= -1.0
    assert (gauss.slope, gauss.lo, gauss.hi) == pytest.approx((-1.0, -1.0, -1.0), abs=0.02)


def _reference_median(values: np.ndarray) -> float:
    """The median of the finite entries of one 1-d slice, by sorting them (NaN if none)."""
    finite = np.sort(values[~np.isnan(values)])
    if finite.size == 0:
        return np.nan
    middle = finite.size // 2
    return float(finite[middle]) if finite.size % 2 else float((finite[middle - 1] + finite[middle]) / 2)


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_nanquantiles_equal_numpy_slice_by_slice(n):
    """nanquantiles (one kernel call over every slice) gives np.nanquantile's numbers for
    each slice, at the interval's quantiles, the ends and the median: ties, infinities,
    NaNs included; NaN for an all-NaN slice."""
    from analysis.stats import nanquantiles

    rng = np.random.default_rng(n)
    values = rng.integers(0, 5, size=(3, 4, n)).astype(np.float64) / 4
    values[rng.random(values.shape) < 0.3] = np.nan
    values[0, 0] = np.nan
    values[1, 2] = rng.lognormal(size=n)
    values[2, 3, 0] = np.inf
    q = np.array([0.0, 0.025, 0.25, 0.5, 0.975, 1.0])
    expected = np.full((3, 4, len(q)), np.nan)
    with np.errstate(invalid="ignore"):  # numpy's own inf - inf at the slice with an infinity
        for index in np.ndindex(3, 4):
            if not np.isnan(values[index]).all():
                expected[index] = np.nanquantile(values[index], q)
    np.testing.assert_allclose(nanquantiles(values, q), expected, rtol=1e-15, atol=0)
    assert np.isnan(nanquantiles(values, q)[0, 0]).all()


@pytest.mark.parametrize("seeds", [1, 2, 7, 40, 650])  # np.nanmedian takes another path from 600 values on
def test_medians_and_bootstrap_medians_equal_a_slice_by_slice_reference(seeds):
    """nanmedian and resampled_medians (vectorised over slices and resamples) give, slice by
    slice and resample by resample, the median of the finite values: ties, infinities,
    NaNs and all-NaN slices and resamples included; bootstrap_medians does on Dask chunks."""
    from analysis.stats import BOOTSTRAP_SEED, N_BOOTSTRAP, bootstrap_medians, nanmedian, resampled_medians

    rng = np.random.default_rng(seeds)
    values = rng.integers(0, 5, size=(3, 4, seeds)).astype(np.float64) / 4  # many ties
    values[rng.random(values.shape) < 0.3] = np.nan
    values[0, 0] = np.nan
    values[1, 1, 0] = np.inf
    values[2, 3] = rng.normal(size=seeds)
    expected = np.array([[_reference_median(row) for row in block] for block in values])
    np.testing.assert_array_equal(nanmedian(values), expected)
    picks = rng.integers(0, seeds, size=(37, seeds))
    resampled = np.stack([[[_reference_median(row[pick]) for pick in picks] for row in block] for block in values])
    np.testing.assert_array_equal(resampled_medians(values, picks), resampled)
    assert np.isnan(resampled[0, 0]).all() and np.isfinite(resampled[2, 3]).all()

    lazy = xr.DataArray(values, dims=("a", "b", "seed")).chunk({"a": 1, "b": 2, "seed": max(1, seeds // 3)})
    booted = bootstrap_medians(lazy)
    assert booted.chunks is not None and booted.sizes["bootstrap"] == N_BOOTSTRAP
    picks = np.random.default_rng(BOOTSTRAP_SEED).integers(0, seeds, size=(N_BOOTSTRAP, seeds))
    np.testing.assert_array_equal(booted.values[2, 3], [_reference_median(values[2, 3][pick]) for pick in picks])


def _reference_pooled_slope(log_y: np.ndarray, log_x: np.ndarray, weights: np.ndarray) -> float:
    """The weighted pooled within-group slope, group by group: log_y (groups, x), NaN
    skipped; weights (groups,)."""
    numerator = denominator = 0.0
    for row, weight in zip(log_y, weights):
        use = np.isfinite(row)
        if not use.any():
            continue
        cx, cy = log_x[use] - log_x[use].mean(), row[use] - row[use].mean()
        numerator += weight * np.sum(cx * cy)
        denominator += weight * np.sum(cx * cx)
    return numerator / denominator if denominator > 0 else np.nan


def test_slope_sums_equal_a_group_by_group_reference():
    """slope_sums (one kernel pass over every fit and group) gives, fit by fit, the
    weighted pooled slope of plain NumPy group by group, along a middle axis; NaN and
    infinite entries skipped, a group without a finite entry and a constant-x fit (zero
    denominator) included."""
    from analysis.stats import slope_sums

    rng = np.random.default_rng(11)
    log_y = rng.normal(size=(6, 3, 5, 4))  # fits, groups, the fitted axis, more groups
    log_y[rng.random(log_y.shape) < 0.25] = np.nan
    log_y[0, 1, 2, 3] = np.inf
    log_y[1, 2, :, 0] = np.nan
    log_x = np.log([0.1, 0.2, 0.5, 1.0, 3.0])
    weights = rng.integers(0, 3, size=(6, 3, 1, 1)).astype(float)
    weights[:, 0] = 1.0  # every fit has a group of weight > 0
    numerator, denominator = slope_sums(log_y, log_x, 2, weights)
    for fit in range(6):
        lines = np.moveaxis(log_y[fit], 1, -1).reshape(-1, 5)
        per_group = np.broadcast_to(weights[fit, :, 0, :], (3, 4)).ravel()
        assert numerator[fit] / denominator[fit] == pytest.approx(
            _reference_pooled_slope(lines, log_x, per_group), rel=1e-12)
    flat_numerator, flat_denominator = slope_sums(log_y[:, :, :1], log_x[:1], 2)
    assert np.all(flat_numerator == 0) and np.all(flat_denominator == 0)


@pytest.mark.parametrize("chunk_values", [1 << 20, 7])
def test_scaling_slopes_equal_a_resample_by_resample_reference(chunk_values, monkeypatch):
    """scaling_slopes (the store read in whole-group slices, the resamples in batches)
    gives, for each parameter, the pooled slope of the seed medians and the percentile
    interval of the slopes of N_BOOTSTRAP resamples (seeds by seed_resamples, whole data
    sets weighted by unit_weights) computed resample by resample with plain loops; the same
    when every slice and batch is tiny (ANALYSIS_CHUNK_VALUES = 7). NaN runs, a
    non-positive value and a zero parameter value are skipped."""
    from analysis import stats

    monkeypatch.setattr(stats, "ANALYSIS_CHUNK_VALUES", chunk_values)
    rng = np.random.default_rng(5)
    alpha, width = np.array([0.0, 0.1, 0.2, 0.4]), np.array([2.0, 4.0, 8.0])
    shape = (3, 4, 3, 5)  # data_seed, alpha, width, seed
    values = (np.maximum(alpha, 0.05)[None, :, None, None] ** -1.5 / width[None, None, :, None]
              * rng.lognormal(0.0, 0.3, size=shape) * np.array([1.0, 2.0, 4.0])[:, None, None, None])
    values[rng.random(shape) < 0.2] = np.nan
    values[0, 1, 1, :] = np.nan          # a point with no run that counts
    values[1, 2, 0, 0] = -1.0            # not a positive value: NaN in the median's log
    coords = {"data_seed": [0, 1, 2], "alpha": alpha, "width": width, "seed": np.arange(5)}
    dims = ("data_seed", "alpha", "width", "seed")
    ds = xr.Dataset({"done": (dims, np.ones(shape, bool)), "y": (dims, values)}, coords=coords)
    slopes = {s.parameter: s for s in stats.scaling_slopes(ds, {"y": ds["y"].where(ds["y"] != -1.0)},
                                                           ("alpha", "width"), units="data_seed")}

    clean = np.where(values == -1.0, np.nan, values)
    picks = stats.seed_resamples(5)
    drawn = stats.unit_weights(ds["data_seed"]).values  # (resamples, data sets)

    def fit(medians, axis, x, weights):
        keep = x > 0
        groups = np.moveaxis(np.log(np.where(medians > 0, medians, np.nan)), axis, -1)[..., keep]
        per_group = np.broadcast_to(weights[:, None], groups.shape[:-1])
        return _reference_pooled_slope(groups.reshape(-1, keep.sum()), np.log(x[keep]), per_group.ravel())

    for axis, (name, x) in enumerate((("alpha", alpha), ("width", width)), start=1):
        point = fit(np.array([[[_reference_median(clean[i, a, w]) for w in range(3)] for a in range(4)]
                              for i in range(3)]), axis, x, np.ones(3))
        resampled = [fit(np.array([[[_reference_median(clean[i, a, w][pick]) for w in range(3)] for a in range(4)]
                                   for i in range(3)]), axis, x, weights) for pick, weights in zip(picks, drawn)]
        lo, hi = np.nanquantile(resampled, [0.025, 0.975])
        assert (slopes[name].slope, slopes[name].lo, slopes[name].hi) == pytest.approx((point, lo, hi), rel=1e-12)
    assert slopes["alpha"].slope == pytest.approx(-1.5, abs=0.3) and slopes["width"].slope == pytest.approx(-1, abs=0.3)
