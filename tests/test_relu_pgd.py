"""The ``relu_pgd`` problem (THEORY.md §6.1): parameters, data, per-run measures, one run,
the linear-rate property at large n, and a sweep through the engine into a report."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sweep.check import _same
from sweep.problems import get_problem, run_one
from sweep.problems.parameters import ParamError
from sweep.problems.relu_pgd.data import make_instance
from sweep.problems.relu_pgd.params import ReluPGDParams
from sweep.problems.relu_pgd.run import run, run_many
from sweep.problems.relu_pgd.theory import contraction_factor, first_success, inside_envelope, n0_hat
from sweep.spec import SpecError, parse_spec

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- parameters

@pytest.mark.parametrize("changes, message", [
    ({"s": 30, "d": 20}, "parameter 's' must be <= d = 20, got 30"),
    ({"s": 0}, "parameter 's' must be >= 1: the teacher needs a non-zero, got 0"),
    ({"s": 0, "constraint": "l1"}, "parameter 's' must be >= 1: the teacher needs a non-zero (the l1 radius "
                                   "||w*||_1 would be 0), got 0"),
    ({"s": -2}, "parameter 's' must be >= 1"),
    ({"constraint": "l2"}, "parameter 'constraint' must be one of ['l0', 'l1', 'none'], got 'l2'"),
    ({"mu0": 0.0}, "parameter 'mu0' must be a finite number > 0, got 0.0"),
    ({"mu": -1.0}, "parameter 'mu' must be a finite number > 0, got -1.0"),
    ({"mu": math.inf}, "parameter 'mu' must be a finite number > 0, got inf"),
    ({"relu_slope_at_zero": 1.5}, "parameter 'relu_slope_at_zero' must be in [0, 1], got 1.5"),
    ({"iterations": 0}, "parameter 'iterations' must be >= 1, got 0"),
    ({"dtype": "float16"}, "parameter 'dtype' must be 'float64' or 'float32', got 'float16'"),
    ({"seed": -1}, "parameter 'seed' must be a seed in [0, 2**63), got -1"),
])
def test_bad_parameters_name_the_field_and_the_value(changes, message):
    with pytest.raises(ParamError) as error:
        ReluPGDParams.from_mapping(changes)
    assert str(error.value).startswith(message)


def test_a_spec_with_a_bad_value_names_its_key():
    spec = {"name": "x", "problem": "relu_pgd", "params": {"d": 10}, "grid": {"s": [5, 11]}}
    with pytest.raises(SpecError, match=r"spec grid\.s: parameter 's' must be <= d = 10, got 11"):
        parse_spec(spec)


# ---------------------------------------------------------------- teacher and data

def test_teacher_and_data_follow_the_theory_and_are_reproducible():
    p = ReluPGDParams(d=300, n=50, s=7, n_test=20, seed=3, data_seed=1)
    a, b = make_instance(p), make_instance(p)
    for name in ("w_star", "X", "y", "X_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert np.count_nonzero(a.w_star) == 7 and np.linalg.norm(a.w_star) == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_array_equal(a.y, np.maximum(a.X @ a.w_star, 0.0))
    other = make_instance(ReluPGDParams(d=300, n=50, s=7, n_test=20, seed=4, data_seed=1))
    assert not np.array_equal(other.X, a.X) and not np.array_equal(other.w_star, a.w_star)


@pytest.mark.parametrize("d, s, seed, data_seed", [(300, 7, 3, 1), (4, 2, 2**40 + 7, 0), (12000, 400, 0, 2**33)])
def test_the_data_are_drawn_from_numpys_streams(d, s, seed, data_seed):
    """The module's recipe in NumPy's Generators (the kernel that draws them is not used)."""
    p = ReluPGDParams(d=d, n=9, s=s, n_test=5, seed=seed, data_seed=data_seed)
    teacher = np.random.default_rng([data_seed, seed, 0])
    w_star = np.zeros(d)
    support = teacher.choice(d, size=s, replace=False)
    w_star[support] = teacher.standard_normal(s)
    w_star /= np.linalg.norm(w_star)
    X = np.random.default_rng([data_seed, seed, 1]).standard_normal((9, d))
    data = make_instance(p)
    np.testing.assert_array_equal(data.w_star, w_star)
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.X_test, np.random.default_rng([data_seed, seed, 2]).standard_normal((5, d)))
    np.testing.assert_allclose(data.y, np.maximum(X @ w_star, 0.0), rtol=1e-14, atol=1e-300)


def test_run_many_gives_each_run_what_run_gives_it():
    """One batch of runs that differ in everything but their shapes: constraints, steps,
    relu'(0), seeds (one of two words), one diverging (mu = 20); float32 in another."""
    for dtype in ("float64", "float32"):
        group = [ReluPGDParams(d=30, s=4, n=25, n_test=9, iterations=15, dtype=dtype, seed=seed, data_seed=2**35,
                               constraint=constraint, mu=mu, relu_slope_at_zero=slope)
                 for seed, constraint, mu, slope in [(0, "l0", 1.0, 0.5), (1, "l1", 0.5, 1.0), (2**40, "none", 1.0, 0.5),
                                                     (3, "none", 20.0, 0.5), (4, "l1", 1.0, 0.0)]]
        together = run_many(group)
        assert [result.status for result in together][3] == "diverged"
        assert all(_same(run(p), result) for p, result in zip(group, together))


def test_a_larger_n_adds_points_to_the_same_sample():
    small, large = (make_instance(ReluPGDParams(d=40, n=n, s=4)) for n in (30, 90))
    np.testing.assert_array_equal(large.X[:30], small.X)
    np.testing.assert_array_equal(large.w_star, small.w_star)


def test_float32_data_is_the_float64_draw_rounded():
    p = ReluPGDParams(d=20, n=30, s=4)
    wide, narrow = make_instance(p), make_instance(p.replace(dtype="float32"))
    assert narrow.X.dtype == np.float32 and narrow.y.dtype == np.float32
    np.testing.assert_array_equal(narrow.X, wide.X.astype(np.float32))


# ---------------------------------------------------------------- per-run measures (THEORY.md §6.1)

def test_n0_hat():
    assert n0_hat(1000, 20, "l0") == pytest.approx(2 * 20 * math.log(50))
    assert n0_hat(1000, 20, "l1") == n0_hat(1000, 20, "l0")
    assert n0_hat(100, 100, "l0") == 100.0
    assert n0_hat(1000, 20, "none") == 1000.0


def test_measures_of_hand_built_curves():
    t = np.arange(41)
    geometric = 0.3 ** t
    assert contraction_factor(geometric) == pytest.approx(0.3, rel=1e-12)
    assert first_success(geometric) == int(np.ceil(np.log(1e-6) / np.log(0.3)))  # 0.3^12 = 5.3e-7
    assert inside_envelope(geometric)
    slow = 0.6 ** t
    assert not inside_envelope(slow) and first_success(slow) == 28
    on_the_line = 0.5 ** t
    assert inside_envelope(on_the_line)
    # rel_err_t in (1e-6, 1e-1) only at t = 2 .. 4: the fit uses those three points.
    floored = np.array([1.0, 0.2, 0.05, 1e-3, 1e-5, 1e-7, 1e-8, 1e-8])
    assert contraction_factor(floored) == pytest.approx(math.exp(np.polyfit([2, 3, 4], np.log([0.05, 1e-3, 1e-5]), 1)[0]))
    assert math.isnan(contraction_factor(np.ones(41)))
    assert first_success(np.ones(41)) == -1


# ---------------------------------------------------------------- one run

def test_a_run_records_every_variable_and_recovers_at_large_n():
    p = ReluPGDParams(d=200, s=5, n=600, n_test=300, iterations=30)
    result = run(p)
    values = result.values
    assert result.status == "done"
    layout = get_problem("relu_pgd").layout(lambda name: (getattr(p, name),))
    assert set(values) == {v.name for v in layout.variables}
    assert values["rel_err"].shape == (31,) and values["rel_err"][0] == 1.0
    assert values["success"] and values["envelope_ok"]
    assert values["t_success"] == first_success(values["rel_err"]) > 0
    assert values["rel_err_final"] == values["rel_err"][-1] < 1e-6
    assert values["support_overlap"][-1] == 1.0 and values["support_overlap"][0] == 0.0
    assert values["test_rel_err"] < 1e-10
    assert values["n0_hat"] == pytest.approx(2 * 5 * math.log(40))
    assert values["n_over_n0"] == pytest.approx(600 / values["n0_hat"])
    assert 0 < values["contraction"] < 0.5
    assert values["loss"][0] == pytest.approx(np.mean(make_instance(p).y ** 2))
    assert run(p).values["rel_err"].tobytes() == values["rel_err"].tobytes()  # deterministic


def test_relu_slope_zero_never_moves_and_is_not_a_success():
    result = run_one("relu_pgd", {"d": 100, "s": 5, "n": 400, "relu_slope_at_zero": 0.0, "iterations": 5})
    assert result.status == "max_epochs"
    np.testing.assert_array_equal(result.values["rel_err"], 1.0)
    assert result.values["test_rel_err"] == 1.0 and not result.values["success"]
    assert math.isnan(result.values["contraction"]) and result.values["t_success"] == -1


def test_a_blown_up_run_is_diverged_and_cut_there():
    result = run_one("relu_pgd", {"d": 20, "s": 20, "n": 50, "constraint": "none", "mu": 50.0, "iterations": 40})
    assert result.status == "diverged"
    steps = result.values["rel_err"].size - 1
    assert 1 < steps < 40
    assert not result.values["success"] and not result.values["envelope_ok"]


def test_float32_runs_recover_to_float32_precision():
    result = run_one("relu_pgd", {"d": 200, "s": 5, "n": 600, "dtype": "float32", "iterations": 30})
    assert result.values["success"] and result.values["rel_err_final"] > 1e-12


def test_float32_and_float64_runs_on_the_same_data_contract_alike():
    """The contraction fit stops above float32's floor (its iterates stall at rel_err ~ 2-3e-8):
    on the same data the two dtypes' factors agree within 2% relative, from n = 5 to 25 n0_hat
    (with the fit reaching 1e-12, float32 gave 0.70-0.89 where float64 gave 0.16-0.45)."""
    scale = n0_hat(400, 8, "l0")
    for ratio in (5, 12, 25):
        for seed in range(3):
            point = {"d": 400, "s": 8, "n": math.ceil(ratio * scale), "seed": seed, "n_test": 20}
            factors = [run_one("relu_pgd", {**point, "dtype": dtype}).values for dtype in ("float64", "float32")]
            assert factors[1]["rel_err_final"] > 1e-9  # float32 stalls far above 1e-12
            assert factors[0]["success"] and 0 < factors[0]["contraction"] < 0.7
            assert factors[1]["contraction"] == pytest.approx(factors[0]["contraction"], rel=0.02), (ratio, seed)


# ---------------------------------------------------------------- the linear rate (THEORY.md §6.1)

# (constraint, n / n0_hat): the theorem gives no constant; these are where every seed of
# the grid below stays inside 2^-t. l1 needs a larger one than l0: at 25 n0_hat 99 of 100
# seeds did at (d, s) = (300, 3) (one contracted by 0.55 per step); with K = R^d the
# steps t >= 1 contract like 1 - eigenvalues of a Wishart matrix of n/2 points in R^d
# (Marchenko-Pastur), within 1/2 only when n > ~40 d.
RATE_REGIMES = [("l0", 25), ("l1", 40)]
RATE_SETTINGS = [(200, 5), (300, 3), (500, 10)]


@pytest.mark.parametrize("constraint, ratio", RATE_REGIMES)
def test_every_seed_stays_inside_the_envelope_at_large_n(constraint, ratio):
    """||w_t - w*|| <= 2^-t ||w*|| for every t = 1..40 on every seed of a small grid, at
    n = ceil(ratio n0_hat), n < d included for l0 at (500, 10) (n0_hat = 78: n = 1957)."""
    for d, s in RATE_SETTINGS:
        n = math.ceil(ratio * n0_hat(d, s, constraint))
        for seed in range(6):
            result = run_one("relu_pgd", {"d": d, "s": s, "n": n, "constraint": constraint, "seed": seed,
                                          "n_test": 50})
            assert result.values["envelope_ok"], (d, s, n, seed, result.values["rel_err"])
            assert result.values["success"]


def test_without_a_constraint_the_envelope_holds_from_about_40_d():
    for seed in range(6):
        values = run_one("relu_pgd", {"d": 30, "s": 30, "n": 60 * 30, "constraint": "none", "seed": seed,
                                      "n_test": 50}).values
        assert values["envelope_ok"] and values["success"]


def test_n_below_d_recovers_a_sparse_teacher():
    """n < d: hard thresholding recovers w* from 120 points in R^400 (n0_hat = 37.6)."""
    results = [run_one("relu_pgd", {"d": 400, "s": 3, "n": 120, "seed": seed, "n_test": 50}) for seed in range(5)]
    assert all(result.values["success"] for result in results)


# ---------------------------------------------------------------- through the engine

@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """10 seeds: at n = 500 all 10 succeed, where a hand-written Wilson bound fell just below 1
    and the phase figure's error bar went negative (issue 24)."""
    from sweep.engine import run_sweep

    spec = parse_spec({"name": "relu_pgd_test", "problem": "relu_pgd",
                       "params": {"d": 120, "s": 4, "iterations": 25, "n_test": 50},
                       "grid": {"constraint": ["l0", "l1"], "n": [30, 60, 120, 500],
                                "relu_slope_at_zero": [0.0, 0.5], "seed": list(range(10))}})
    path = tmp_path_factory.mktemp("relu_pgd") / "store.zarr"
    run_sweep(spec, path)
    return path


def test_report_checks_figures_and_summary(small_store, tmp_path):
    from sweep.report import write_report

    report = write_report(small_store, tmp_path)
    names = {path.name for path in report.paths}
    assert {"rate.png", "phase_success.png", "phase_envelope.png", "convention.png", "summary.csv",
            "report.md"} <= names
    holds = {check.title.split(" (")[0]: check.holds for check in report.checks}
    assert holds == {"relu'(0) = 0 keeps w at 0": True,
                     "First step = P_K((2/n) sum_i y_i x_i) when mu0 relu'(0) = 1": True,
                     "Linear rate: the measured constants": None}
    text = (tmp_path / "report.md").read_text()
    assert "this is not a pass/fail check" in text and "smallest n / n0_hat" in text
    assert "the theory's exponent -0.5 (derived, constant unknown) is" in text
    assert "## Transition points" in text and "| l0 | 0.5 | 27.21 | 10 |" in text
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 2 * 4 * 2


def test_the_checks_catch_a_wrong_first_step_and_a_moved_zero(small_store):
    from analysis.stats import open_results
    from sweep.problems.relu_pgd.report import first_step_check, stays_at_zero_check

    ds = open_results(small_store).load()
    tampered = ds.copy(deep=True)
    tampered["rel_err"].loc[{"relu_slope_at_zero": 0.0, "constraint": "l1", "n": 60, "seed": 1, "iteration": 3}] = 0.9
    tampered["rel_err"].loc[{"relu_slope_at_zero": 0.5, "iteration": 1}] *= 1.001
    assert stays_at_zero_check(ds).holds and first_step_check(ds).holds
    assert stays_at_zero_check(tampered).holds is False
    assert first_step_check(tampered).holds is False


def test_measured_constants_on_a_hand_built_table():
    import pandas as pd

    from sweep.problems.relu_pgd.summary import measured_constants

    table = pd.DataFrame({"d": [100] * 4, "n": [10, 20, 30, 40], "n_over_n0": [1.0, 2.0, 3.0, 4.0],
                          "runs": [20] * 4, "success_share": [0.5, 0.95, 0.9, 1.0],
                          "envelope_ok_share": [0.0, 0.1, 0.2, 0.3]})
    row = measured_constants(table, ("d", "n")).iloc[0]
    assert row["success_from"] == 2.0 and not row["success_sustained"]
    assert math.isnan(row["envelope_ok_from"]) and not row["envelope_ok_sustained"]


def test_transition_points_and_their_collapse_on_a_hand_built_table():
    """Expected success counts of a logistic in log n crossing 50% at c n0_hat(d, s): c = 3 at
    every (d, s) for l0 (the curves collapse), c = d / 100 for l1 (they do not)."""
    import pandas as pd
    from scipy.special import expit

    from sweep.problems.relu_pgd.summary import collapse, transition_points
    from sweep.problems.relu_pgd.theory import n0_hat

    rows = []
    n = np.geomspace(20, 4000, 24).round()
    for constraint in ("l0", "l1"):
        for d in (200, 400):
            for s in (4, 8):
                scale = n0_hat(d, s, constraint)
                c = 3.0 if constraint == "l0" else d / 100
                share = expit((np.log(n) - np.log(c * scale)) / 0.25)
                rows += [{"constraint": constraint, "d": d, "s": s, "n": value, "n0_hat": scale, "runs": 40,
                          "success_count": 40 * p, "envelope_ok_count": 40 * p ** 2} for value, p in zip(n, share)]
    points = transition_points(pd.DataFrame(rows), ("constraint", "d", "s", "n"))
    assert len(points) == 8 and (points["points"] == 24).all() and (points["min_runs"] == 40).all()
    ratio = points["success_n50"] / points["n0_hat"]
    expected = np.where(points["constraint"] == "l0", 3.0, points["d"] / 100)
    np.testing.assert_allclose(ratio, expected, rtol=1e-4)
    np.testing.assert_allclose(points["success_n95"] / points["success_n50"], np.exp(0.25 * np.log(19)), rtol=1e-4)
    assert ((points["success_n50_lo"] < points["success_n50"]) & (points["success_n50"] < points["success_n50_hi"])).all()
    summary = collapse(points).set_index(["constraint", "share"])
    assert summary.loc[("l0", 0.5), "c"] == pytest.approx(3.0, rel=1e-4)
    assert summary.loc[("l0", 0.5), "ratio_max"] / summary.loc[("l0", 0.5), "ratio_min"] == pytest.approx(1, abs=1e-3)
    assert summary.loc[("l1", 0.5), "ratio_max"] / summary.loc[("l1", 0.5), "ratio_min"] == pytest.approx(2, rel=1e-3)


def test_presets_parse_and_are_the_problems():
    from sweep.spec import load_spec

    problem = get_problem("relu_pgd")
    assert problem.presets == ("relu_pgd_rate", "relu_pgd_phase", "relu_pgd_convention")
    for name in problem.presets:
        spec = load_spec(REPO / "presets" / f"{name}.yaml")
        assert spec.problem is problem and spec.name == name
        assert len(spec.grid.get("seed", ())) >= 20


def test_stores_read_as_xarray(small_store):
    ds = xr.open_zarr(small_store)
    assert ds["rel_err"].dims[-1] == "iteration" and ds.sizes["iteration"] == 26
    assert ds["success"].dtype == bool and ds["t_success"].dtype == np.int32


def test_the_report_never_holds_a_whole_variable(tmp_path, monkeypatch):
    """`sweep report` reads the store chunk by chunk (issue 27): with one grid point per Dask
    chunk (ANALYSIS_PACK_VALUES = 1), no task of the report returns more than one point's
    values of a variable; a float variable of the whole store (8 bytes a run, twice that
    bound here) in memory at once would be such a task (the finalize of a ``.values``)."""
    import dask
    from dask.callbacks import Callback

    from analysis import stats
    from sweep.engine import run_sweep
    from sweep.report import write_report

    seeds, steps = 50, 3
    spec = parse_spec({"name": "relu_pgd_chunks", "problem": "relu_pgd",
                       "params": {"d": 4, "iterations": steps, "n_test": 10},
                       "grid": {"n": [4, 6, 8, 10], "s": [1, 2], "seed": list(range(seeds))}})
    run_sweep(spec, tmp_path / "s.zarr")
    monkeypatch.setattr(stats, "ANALYSIS_PACK_VALUES", 1)
    results = []

    class ResultSizes(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            results.append(getattr(result, "nbytes", 0))

    with dask.config.set(scheduler="threads"), ResultSizes():
        report = write_report(tmp_path / "s.zarr", tmp_path / "report")
    point = seeds * (steps + 1) * 8  # a curve variable at one grid point
    whole = spec.size * 8
    assert report.progress == f"{spec.size} of {spec.size} runs finished" and point < whole
    assert results and max(results) <= point
