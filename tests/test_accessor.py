"""The ``ds.sweep`` accessor (sweep/accessor.py) on a real store of every problem, and
`sweep report` and the accessor on a store that a `sweep run` is still writing: the
finished runs only, "N of M runs finished", the lock untouched."""
import os
import subprocess

import numpy as np
import pytest
import xarray as xr
import zarr

import sweep  # noqa: F401  (registers ds.sweep)
from sweep import problems
from sweep.report import write_report
from sweep.spec import load_spec
from sweep.tasks import choose_chunks
from tests.problem_stores import SPECS, last_run, write_store
from tests.test_engine import ROOT, held_sweep, start_held, sweep_command, wait_for_done


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stores")
    return {name: write_store(name, folder) for name in SPECS}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_accessor_on_every_problem_s_store(name, stores, tmp_path):
    ds = xr.open_zarr(stores[name])
    raw = zarr.open_group(str(stores[name]), mode="r")
    status, runs = raw["status"][...], raw["done"].size
    assert ds.sweep.problem.name == name and ds.sweep.progress == f"{runs} of {runs} runs finished"
    assert bool(ds.sweep.finished.all())
    meanings = raw["status"].attrs["flag_meanings"].split()
    counts = {meaning: int(np.sum(status == code)) for meaning, code in zip(meanings, raw["status"].attrs["flag_values"])}
    assert ds.sweep.status_counts() == counts
    report = write_report(stores[name], tmp_path / "report")  # what `sweep report` checks
    assert [check.summary for check in ds.sweep.checks()] == [check.summary for check in report.checks]
    assert len(ds.sweep.summary()) > 0
    frame = ds.sweep.to_frame()
    grid = SPECS[name]["grid"]
    assert len(frame) == runs and list(frame.columns[:len(grid)]) == list(grid)
    assert sorted(frame["status"].unique()) == sorted(meaning for meaning, count in counts.items() if count)
    scalar = next(column for column in frame.columns[len(grid) + 2:] if column != "wall_time")
    np.testing.assert_array_equal(frame[scalar].to_numpy(), raw[scalar][...].ravel())  # one row per run, C order
    assert ds.sweep.replay(last_run(name)).attrs["reproduced"]


def test_the_accessor_gives_the_bound_check_and_seed_summaries(stores):
    ds = xr.open_zarr(stores["separable"])
    frame = ds.sweep.to_frame()
    bounded = frame[(frame["epochs_clean"] > 0) & np.isfinite(frame["epochs_bound"])]
    above = int((bounded["epochs_clean"] > bounded["epochs_bound"]).sum())
    bound = ds.sweep.checks()[0]
    assert bound.summary.startswith(f"Theorem 4.1: {above} of {len(bounded)} runs exceed the bound (the runs that reached E_clean)")
    assert len(bounded) > 0 and bound.holds is True
    summary = ds.sweep.seed_summary("final_loss")
    expected = frame.groupby(["alpha", "optimizer"])["final_loss"].median()
    for (alpha, optimizer), median in expected.items():
        assert summary["final_loss_median"].sel(alpha=alpha, optimizer=optimizer).item() == median
        assert summary["final_loss_n"].sel(alpha=alpha, optimizer=optimizer).item() == 3


@pytest.fixture
def hungry(monkeypatch):
    monkeypatch.setitem(problems.PROBLEMS, "hungry", "tests.hungry_problem")


def test_report_and_accessor_on_a_store_being_written(tmp_path, hungry):
    """A local-cluster `sweep run` whose runs from seed 6 on wait for a file the test
    creates: once every block below seed 6 is finished (nothing else can finish), `sweep
    report` and the accessor read exactly those runs, say so, and leave the lock as it is;
    the sweep then finishes as if nobody had looked."""
    command, store, release = held_sweep(tmp_path)
    (chunk,) = choose_chunks(load_spec(tmp_path / "held.yaml"))
    finished = 6 // chunk * chunk  # the runs of the blocks without a waiting run
    lock = tmp_path / "s.zarr.lock"
    process = start_held(command, tmp_path)
    try:
        wait_for_done(store, at_least=finished)
        held = lock.read_bytes()
        report = subprocess.run(sweep_command("report", str(store), "--out", str(tmp_path / "report")),
                                capture_output=True, text=True, cwd=tmp_path,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert report.returncode == 0, report.stderr
        assert report.stdout.splitlines()[0] == f"{finished} of 16 runs finished"
        assert f"{finished} of 16 runs finished." in (tmp_path / "report" / "report.md").read_text()
        ds = xr.open_zarr(store)
        assert ds.sweep.progress == f"{finished} of 16 runs finished"
        assert ds.sweep.status_counts()["not_run"] == 16 - finished
        frame = ds.sweep.to_frame()
        np.testing.assert_array_equal(frame["value"][:finished], np.arange(finished) + 0.5)
        assert frame["value"][finished:].isna().all() and (frame["status"][finished:] == "not_run").all()
        assert lock.read_bytes() == held and process.poll() is None
    finally:
        release.write_text("")
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert xr.open_zarr(store).sweep.progress == "16 of 16 runs finished" and not lock.exists()


def test_the_accessor_fits_the_slopes_of_a_planted_power_law(tmp_path):
    """E_clean = round(1000 * (1 + seed / 10) * alpha^-2) on a hand-built store: the slope
    in alpha is -2 (to the rounding) and its interval contains it; init_scale has none."""
    from tests.synthetic_results import synthetic_results, write_store

    grid = {"seed": list(range(6)), "init_scale": [0.01, 1.0], "alpha": [0.05, 0.1, 0.2, 0.4]}
    ds = synthetic_results(grid, {"dataset": "linear_teacher", "d": 2, "n": 40, "n_test": 10},
                           lambda seed, init_scale, alpha: np.round(1000 * (1 + seed / 10) * alpha ** -2 + 0 * init_scale),
                           max_epochs=10 ** 7)
    slopes = {slope.parameter: slope for slope in xr.open_zarr(write_store(ds, tmp_path / "s.zarr")).sweep.slopes(
        "epochs_clean")}
    assert set(slopes) == {"init_scale", "alpha"}
    assert abs(slopes["alpha"].slope + 2) < 1e-3 and slopes["alpha"].lo <= -2 + 1e-3 and slopes["alpha"].hi >= -2 - 1e-3
    assert abs(slopes["init_scale"].slope) < 1e-9
