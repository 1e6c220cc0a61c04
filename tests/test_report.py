"""sweep.report.write_report and the separable figures on small hand-made stores."""
from __future__ import annotations

import contextlib
import json
import warnings

import matplotlib.image
import numpy as np
import pytest

from analysis import open_results
from analysis.checks import OBSERVATION, THEOREM
from analysis.plotting import DPI, PANEL_SIZE, parameter_values
from sweep.problems import get_problem
from sweep.problems.separable.bounds import THEOREMS
from sweep.problems.separable.report import bound_check
from sweep.problems.separable.figures import (bound_tightness, epochs_vs_parameters, fig2_linear_regime, fig7_clustering,
                                              fig8_par_share, fig9_outlier, runs_against_bounds, scaling_laws)
from sweep.report import Report, with_defaults, write_report
from tests.synthetic_results import synthetic_results, write_store



@contextlib.contextmanager
def no_warnings():
    """A report and its figures raise no warning at all (NumPy's all-NaN slices included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield

PLANAR = {"dataset": "linear_teacher", "d": 2, "n": 40, "n_test": 10, "save_weights": True}
GRID = {"seed": [0, 1], "init_scale": [0.001, 1.0], "alpha": [0.1, 0.2]}
PANELS = {"epochs_vs_parameters": (1, 2), "ratio_heatmap": (1, 1), "fig1_boundaries": (2, 2)}  # rows, columns


def planar_store(tmp_path, plant_violation=False):
    ds = synthetic_results(GRID, PLANAR, lambda seed, init_scale, alpha: 50 + seed + 0 * init_scale / alpha)
    if plant_violation:
        ds["epochs_clean"][1, 0, 1] = 10 ** 7
    return write_store(ds, tmp_path / "store.zarr")


def test_write_report_writes_every_supported_figure_at_its_size(tmp_path):
    with no_warnings():
        report = write_report(planar_store(tmp_path), tmp_path / "report")
    written = report.paths
    # The bound holds; Fig. 1's claim (a bent boundary at large init) does not hold on the
    # synthetic weights, which all lie along e_1: an observation, so the report is not violated.
    assert [(check.holds, check.kind) for check in report.checks] == [(True, THEOREM)] * 3 + [(False, OBSERVATION)]
    assert not report.violated

    expected = ({f"{name}.{ext}" for name in (*PANELS, "scaling_laws", "runs_against_bounds", "bound_tightness") for ext in ("png", "svg")}
                | {"summary.csv", "report.md"})
    assert {path.name for path in written} == expected
    assert all(path.stat().st_size > 0 for path in written)
    for name, (rows, columns) in PANELS.items():
        image = matplotlib.image.imread(tmp_path / "report" / f"{name}.png")
        assert image.shape[:2] == (round(rows * PANEL_SIZE[1] * DPI), round(columns * PANEL_SIZE[0] * DPI))
        assert image.std() > 0  # not blank
    report = (tmp_path / "report" / "report.md").read_text()
    assert "0 of 8 runs exceed the Theorem 4.1 bound" in report and "WARNING" not in report
    assert "**0 of 8 runs exceed the potential bound** (worst-case and instance-specific" in report
    assert "**0 of 8 runs exceed the violating-steps bound** (worst-case; violating_steps_run of every" in report
    # E_clean 50..51, the potential bound 500 (5000 / 100, seed 0): ratios 500/51 .. 500/50
    assert "| epochs_bound_potential / epochs_clean | 8 | 9.8 | 9.9 | 10 |" in report
    assert "| epochs_bound / epochs_bound_potential | 8 | 100 | 100 | 100 |" in report
    assert "**Fig. 1 holds on 4 of 8 runs**" in report
    assert all(f"![]({name}.png)" in report for name in PANELS)
    assert "| data set | parameter | E_clean | E_conv | V | potential bound (§2.1) | Theorem 4.1 bound (§2) |" in report
    assert "| all | alpha | " in report  # the exponent table


def test_the_bound_figures_show_every_run_and_a_run_above_its_bound(tmp_path):
    store = open_results(planar_store(tmp_path, plant_violation=True))
    fig = runs_against_bounds.__wrapped__(store)
    assert "Theorem 4.1: 1 of 8 runs above; Potential bound: 1 of 8 runs above" in fig._suptitle.get_text()
    theorem41 = fig.axes[0]
    worst_case = next(marks for marks in theorem41.collections
                      if marks.get_label() == "a run against its bound at the worst-case start")
    measured, bound = worst_case.get_offsets().T
    assert len(measured) == 8 and np.sum(measured > bound) == 1  # the planted run, under the line y = x
    assert np.max(measured) == 10 ** 7
    hist = bound_tightness.__wrapped__(store)
    # on E_clean's panel, the planted run's bound / measured < 1: left of the line at 1
    outline = hist.axes[0].patches[0].get_xy()  # Theorem 4.1's bound at the worst-case start
    assert np.any((outline[:, 0] < 1) & (outline[:, 1] >= 1))
    clean = bound_tightness.__wrapped__(open_results(planar_store(tmp_path / "clean")))
    outline = clean.axes[0].patches[0].get_xy()
    assert not np.any((outline[:, 0] < 1) & (outline[:, 1] >= 1))


def test_the_scaling_laws_figure_normalises_at_the_reference_point_and_names_the_fitted_exponents(tmp_path):
    # E_clean = 400 / alpha (exponent -1), the bounds proportional to it (synthetic_results)
    store = open_results(write_store(synthetic_results(GRID, PLANAR, lambda seed, init_scale, alpha: 40 / alpha + 0 * seed),
                                     tmp_path / "law.zarr"))
    fig = scaling_laws.__wrapped__(store)
    alpha_panel = next(ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel() == "Leaky-ReLU slope α")
    curves = {line.get_label().split(":")[0]: line for line in alpha_panel.lines}
    x, y = curves["E_clean"].get_data()
    np.testing.assert_allclose(x, [0.1, 0.2])
    np.testing.assert_allclose(y, [2.0, 1.0])  # divided by its value at the reference point alpha = 0.2
    assert "E_clean: exponent -1.00 [-1.00, -1.00]" in [line.get_label() for line in alpha_panel.lines]
    assert "Theorem 4.1 bound (§2): exponent -1.00 [-1.00, -1.00]" in [line.get_label() for line in alpha_panel.lines]


def test_report_warns_loudly_about_a_run_above_the_bound(tmp_path):
    store = open_results(planar_store(tmp_path, plant_violation=True))
    check = bound_check(store)
    assert Report([], [check], "8 of 8 runs finished").violated
    assert "# WARNING: 1 of 8 runs exceed the Theorem 4.1 bound" in check.markdown
    assert "{'seed': 1, 'init_scale': 0.001, 'alpha': 0.2}" in check.markdown
    potential = bound_check(store, THEOREMS[1])
    assert Report([], [potential], "8 of 8 runs finished").violated
    assert "# WARNING: 1 of 8 runs exceed the potential bound (1 the instance-specific one)" in potential.markdown


def test_report_warns_about_more_violating_steps_than_their_bound(tmp_path):
    ds = synthetic_results(GRID, PLANAR, lambda seed, init_scale, alpha: 50 + seed + 0 * init_scale / alpha)
    ds["violating_steps_run"][0, 1, 0] = 10 ** 6
    ds["violating_steps"][1, 1, 1] = 0  # V = 0 counts (E_clean = 1)
    check = bound_check(open_results(write_store(ds, tmp_path / "store.zarr")), THEOREMS[2])
    assert Report([], [check], "8 of 8 runs finished").violated
    assert "# WARNING: 1 of 8 runs exceed the violating-steps bound" in check.markdown
    assert "{'seed': 0, 'init_scale': 1.0, 'alpha': 0.1}" in check.markdown


def test_a_store_without_the_potential_bounds_says_so(tmp_path):
    ds = synthetic_results(GRID, PLANAR, lambda seed, init_scale, alpha: 50 + seed + 0 * init_scale / alpha)
    ds = ds.drop_vars(["epochs_bound_potential", "epochs_bound_potential_instance", "violating_steps",
                       "violating_steps_run", "violating_steps_bound"])
    with no_warnings():
        report = write_report(write_store(ds, tmp_path / "old.zarr"), tmp_path / "report")
    assert [check.holds for check in report.checks[:3]] == [True, None, None] and not report.violated
    text = (tmp_path / "report" / "report.md").read_text()
    assert ("**Not checked** — the store was written before epochs_bound_potential, epochs_bound_potential_instance "
            "were recorded") in text
    assert "| epochs_bound / epochs_clean | 8 |" in text and "| epochs_bound_potential /" not in text


@pytest.mark.parametrize("figure, dataset", [(fig2_linear_regime, "mnist_0_1"), (fig8_par_share, "gaussians"),
                                             (fig9_outlier, "gaussians_outlier")])
def test_curve_figures_need_their_data_set(tmp_path, figure, dataset):
    grid = {"seed": [0, 1], "width": [4, 8]}
    for name, wanted in ((dataset, True), ("linear_teacher", False)):
        ds = synthetic_results(grid, {"dataset": name, "d": 5}, lambda seed, width: 10 + seed + width)
        store = open_results(write_store(ds, tmp_path / f"{name}.zarr"))
        written = figure(store, tmp_path / name)
        assert bool(written) == wanted
        assert all(path.stat().st_size > 0 for path in written)


def status_store(tmp_path, name, status, epochs_clean=-1, params=None, margin_nan=()):
    """The planar store with every run given ``status`` and ``epochs_clean``; ``margin_nan``:
    flat run indices whose SVM margin (and so both bounds) is NaN."""
    ds = synthetic_results(GRID, {**PLANAR, **(params or {})}, lambda seed, init_scale, alpha: 50 + seed)
    ds["status"][:] = status
    if epochs_clean != "keep":
        ds["epochs_clean"][:] = epochs_clean
    for index in margin_nan:
        at = np.unravel_index(index, ds["margin_s"].shape)
        for variable in ("margin_s", "epochs_bound", "epochs_bound_instance", "epochs_bound_potential",
                         "epochs_bound_potential_instance", "violating_steps_bound"):
            ds[variable].values[at] = np.nan
    return write_store(ds, tmp_path / f"{name}.zarr")


def test_report_says_the_bound_was_not_checked_when_no_run_reached_e_clean(tmp_path):
    with no_warnings():
        report = write_report(status_store(tmp_path, "stalled", status=2), tmp_path / "report")
    bound = report.checks[0]
    assert bound.holds is None and not report.violated
    text = (tmp_path / "report" / "report.md").read_text()
    assert "**Not checked** — no run reached E_clean" in text
    assert "8/8 runs never reached E_clean" in text
    assert "| max_epochs | 8 |" in text and "0 of 0" not in text
    assert text.index("## Runs") < text.index("## Theorem 4.1 check")  # status counts first
    assert "epochs_vs_parameters.png" not in text  # nothing to plot against the bound


def test_runs_without_a_margin_are_counted_apart(tmp_path):
    store = open_results(status_store(tmp_path, "no_margin", status=0, epochs_clean="keep", margin_nan=(0, 5)))
    check = bound_check(store)
    assert check.holds is True
    assert "0 of 6 runs exceed the Theorem 4.1 bound" in check.markdown
    assert "2/8 runs have no bound because their SVM margin could not be computed" in check.markdown


def test_full_batch_gd_is_not_held_against_the_sgd_theorem(tmp_path):
    # As train_one records GD runs: no E_clean (an SGD notion) and no bound.
    ds = open_results(status_store(tmp_path, "gd", status=0, params={"optimizer": "gd"})).load()
    for name in ("epochs_bound", "epochs_bound_instance", "epochs_bound_potential", "epochs_bound_potential_instance",
                 "violating_steps_bound"):
        ds[name][:] = np.nan
    ds["violating_steps"][:] = -1
    ds["violating_steps_run"][:] = -1
    store = open_results(write_store(ds, tmp_path / "gd_unbounded.zarr"))
    check = bound_check(store)
    assert check.holds is None
    assert "**Not checked** — Theorem 4.1 is about SGD and every run (8/8) uses full-batch GD" in check.markdown
    assert "**Not checked** — Violating-steps bound is about SGD" in bound_check(store, THEOREMS[2]).markdown


def test_curve_legends_are_words(tmp_path):
    ds = synthetic_results({"seed": [0, 1], "dataset": ["mnist_0_1", "mnist_3_5"]}, {"d": 5},
                           lambda seed, dataset: 10 + seed)
    store = open_results(write_store(ds, tmp_path / "mnist.zarr"))
    with no_warnings():
        paths = fig2_linear_regime(store, tmp_path / "figures")
    svg = next(path for path in paths if path.suffix == ".svg").read_text()
    assert "linear_frac" not in svg and "outside" in svg and "median over 2 seeds" in svg
    assert "thin lines: each of the" in svg


def test_no_clustering_figure_for_width_one_and_no_bound_figure_without_e_clean(tmp_path):
    ds = synthetic_results({"seed": [0, 1], "alpha": [0.1, 0.2]}, {"dataset": "gaussians", "d": 5, "width": 1},
                           lambda seed, alpha: 10 + seed)
    assert fig7_clustering(open_results(write_store(ds, tmp_path / "width1.zarr")), tmp_path / "a") == []
    ds = synthetic_results({"seed": [0, 1], "alpha": [0.1, 0.2]}, {"dataset": "gaussians", "d": 5},
                           lambda seed, alpha: -1 + 0 * seed)
    assert epochs_vs_parameters(open_results(write_store(ds, tmp_path / "stalled.zarr")), tmp_path / "b") == []


def test_a_store_written_before_a_parameter_existed_reports_with_its_default(tmp_path):
    ds = synthetic_results({"seed": [0, 1]}, {}, lambda seed: 10 + seed)
    spec = json.loads(ds.attrs["spec"])
    del spec["params"]["save_weight_history"]  # as in a store written before that parameter existed
    ds.attrs["spec"] = json.dumps(spec)
    store = open_results(write_store(ds, tmp_path / "old.zarr"))
    with pytest.raises(KeyError, match="save_weight_history"):
        parameter_values(store, "save_weight_history")
    completed = with_defaults(store, get_problem("separable"))
    assert parameter_values(completed, "save_weight_history") == [False]
    assert parameter_values(completed, "width") == [16] and parameter_values(completed, "seed") == [0, 1]
    assert write_report(tmp_path / "old.zarr", tmp_path / "report").paths[-1].name == "report.md"


def test_distinct_marks_drop_only_marks_on_one_spot_in_one_colour():
    """distinct_marks on a hand-built scatter: a mark repeated on one spot (same cell, same
    colour) is drawn once, at its first index; the same spot in another colour, marks a
    cell apart and a run marked to keep are all drawn; the order is kept."""
    from analysis.plotting import distinct_marks

    x = np.array([1.0, 1.0, 1.0, 10.0, 1.0 + 1e-9, 100.0, 100.0])
    y = np.array([5.0, 5.0, 5.0, 50.0, 5.0, 1.0, 1.0])
    colour = np.array([0.1, 0.1, 0.2, 0.1, 0.1, 0.3, 0.3])
    assert distinct_marks(x, y, colour, cells=100).tolist() == [0, 2, 3, 5]
    assert distinct_marks(x, y, cells=100).tolist() == [0, 3, 5]
    keep = np.zeros(7, bool)
    keep[[4, 6]] = True
    assert distinct_marks(x, y, colour, keep=keep, cells=100).tolist() == [0, 2, 3, 4, 5, 6]
    assert distinct_marks(np.geomspace(1, 1e3, 50), np.geomspace(1, 1e3, 50), cells=100).tolist() == list(range(50))
    assert distinct_marks(np.array([]), np.array([])).size == 0
