"""analysis.joint_fit on hand-built rows, and the separable study's joint law
(sweep/problems/separable: bounds.study_fits, report.study) on hand-made stores whose
E_clean follows a planted law."""
from __future__ import annotations

import numpy as np
import pytest

from analysis import open_results
from analysis.joint_fit import joint_power_law
from sweep.problems.separable.bounds import study_fits
from sweep.problems.separable.report import study
from tests.synthetic_results import synthetic_results, write_store

PARAMS = {"dataset": "linear_teacher", "d": 2, "n": 40, "n_test": 10}


def test_an_exact_law_in_two_variables_is_recovered_with_r2_one():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 10.0, size=(30, 3))
    x[:, 2] = 4.0  # held fixed over the rows: its law is in the constant, the parameter left out
    medians = 3.0 * x[:, 0] ** -2.0 * x[:, 1] ** 0.5
    resampled = medians[:, None] * np.exp(rng.normal(0, 0.01, size=(30, 200)))
    fit = joint_power_law("y", ("a", "b", "c"), x, medians, resampled)
    assert fit.parameters == ("a", "b")
    np.testing.assert_allclose(fit.exponents, [-2.0, 0.5], atol=1e-12)
    assert fit.r2 == pytest.approx(1.0) and fit.rows == 30
    assert all(lo < b < hi for b, lo, hi in zip(fit.exponents, fit.lo, fit.hi))
    assert all(hi - lo < 0.05 for lo, hi in zip(fit.lo, fit.hi))


def test_noise_lowers_r2_and_rows_that_do_not_count_are_skipped():
    rng = np.random.default_rng(1)
    x = rng.uniform(1.0, 100.0, size=(40, 1))
    medians = x[:, 0] ** -1.0 * np.exp(rng.normal(0, 0.5, size=40))
    medians[:3] = [np.nan, 0.0, -1.0]  # not reached / not counted
    fit = joint_power_law("y", ("a",), x, medians, np.repeat(medians[:, None], 10, axis=1))
    assert fit.rows == 37 and 0.3 < fit.r2 < 0.99
    assert abs(fit.exponents[0] + 1.0) < 0.2


def test_too_few_rows_or_a_non_positive_x():
    assert joint_power_law("y", ("a",), np.array([[1.0], [2.0]]), np.array([1.0, 2.0]), np.ones((2, 3))) is None
    with pytest.raises(ValueError, match="positive and finite"):
        joint_power_law("y", ("a",), np.array([[0.0], [2.0], [3.0]]), np.ones(3), np.ones((3, 3)))


def _study(tmp_path):
    """Two one-at-a-time stores around (alpha, width) = (0.2, 8): E_clean = 2e4 alpha^-1 width^-1/2."""
    def law(seed, alpha, width):
        return 2e4 / alpha / np.sqrt(width) + 0 * seed

    seeds = list(range(5))
    alpha = synthetic_results({"seed": seeds, "alpha": [0.1, 0.2, 0.4]}, {**PARAMS, "width": 8},
                              lambda seed, alpha: law(seed, alpha, 8), name="thm41_scaling_alpha")
    width = synthetic_results({"seed": seeds, "width": [4, 8, 16, 32]}, {**PARAMS, "alpha": 0.2},
                              lambda seed, width: law(seed, 0.2, width), name="thm41_scaling_width")
    return {"thm41_scaling_alpha": open_results(write_store(alpha, tmp_path / "alpha.zarr")),
            "thm41_scaling_width": open_results(write_store(width, tmp_path / "width.zarr"))}


def test_the_study_s_joint_law_is_the_planted_one(tmp_path):
    stores = _study(tmp_path)
    fits = {fit.variable: fit for fit in study_fits(list(stores.values()))["linear_teacher"]}
    clean = fits["epochs_clean"]
    assert clean.parameters == ("alpha", "width") and clean.rows == 7
    np.testing.assert_allclose(clean.exponents, [-1.0, -0.5], atol=2e-4)  # E_clean is stored as an integer
    # synthetic_results: epochs_bound = 1000 E_clean at the first seed, so the same law
    np.testing.assert_allclose(fits["epochs_bound"].exponents, [-1.0, -0.5], atol=2e-4)
    text = study({**stores, "fig1_boundaries": stores["thm41_scaling_alpha"]})  # not a study store: left out
    assert "Over the grid points of 2 stores (`thm41_scaling_alpha`, `thm41_scaling_width`)" in text
    assert "| linear_teacher | E_clean | 7 | 1.000 | -1.000 [-1.000, -1.000] | -0.500 [-0.500, -0.500] |" in text
