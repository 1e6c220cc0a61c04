"""analysis.report.write_report and the separable figures on small hand-made stores."""
from __future__ import annotations

import matplotlib.image
import pytest

from analysis import open_results
from analysis.plotting import DPI, PANEL_SIZE
from analysis.report import write_report
from sweep.problems.separable.figures import fig2_linear_regime, fig8_par_share, fig9_outlier
from tests.synthetic_results import synthetic_results, write_store

PLANAR = {"dataset": "linear_teacher", "d": 2, "n": 40, "n_test": 10, "save_weights": True}
GRID = {"seed": [0, 1], "init_scale": [0.001, 1.0], "alpha": [0.1, 0.2]}
PANELS = {"epochs_vs_parameters": 2, "ratio_heatmap": 1, "fig1_boundaries": 2, "fig7_clustering": 2}


def planar_store(tmp_path, plant_violation=False):
    ds = synthetic_results(GRID, PLANAR, lambda seed, init_scale, alpha: 50 + seed + 0 * init_scale / alpha)
    if plant_violation:
        ds["epochs_clean"][1, 0, 1] = 10 ** 7
    return write_store(ds, tmp_path / "store.zarr")


def test_write_report_writes_every_supported_figure_at_its_size(tmp_path):
    report = write_report(planar_store(tmp_path), tmp_path / "report")
    written = report.paths
    assert [check.holds for check in report.checks] == [True] and not report.violated

    expected = {f"{name}.{ext}" for name in PANELS for ext in ("png", "svg")} | {"summary.csv", "report.md"}
    assert {path.name for path in written} == expected
    assert all(path.stat().st_size > 0 for path in written)
    for name, panels in PANELS.items():
        image = matplotlib.image.imread(tmp_path / "report" / f"{name}.png")
        assert image.shape[:2] == (round(PANEL_SIZE[1] * DPI), round(panels * PANEL_SIZE[0] * DPI))
        assert image.std() > 0  # not blank
    report = (tmp_path / "report" / "report.md").read_text()
    assert "0 of 8 runs exceed the Theorem 4.1 bound" in report and "WARNING" not in report
    assert all(f"![]({name}.png)" in report for name in PANELS)
    assert "| alpha | epochs_clean |" in report  # the slopes table


def test_report_warns_loudly_about_a_run_above_the_bound(tmp_path):
    assert write_report(planar_store(tmp_path, plant_violation=True), tmp_path / "report").violated
    report = (tmp_path / "report" / "report.md").read_text()
    assert "# WARNING: 1 of 8 runs exceed the Theorem 4.1 bound" in report
    assert "{'seed': 1, 'init_scale': 0.001, 'alpha': 0.2}" in report


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
