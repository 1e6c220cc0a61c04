"""The engine's batched runs (Problem.run_many): a store does not depend on how runs were
grouped, a failing batch falls back to one run at a time, a run whose batch_key raises
fails with that error, and a few runs are pinned."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from kernels.orders import seeded_orders
from sweep.engine import run_sweep
from sweep.problems.results import STATUS
from sweep.problems.separable.run import train_many, train_one
from sweep.spec import parse_spec
from sweep.store import ERROR, open_store
from sweep.tasks import choose_chunks
from tests.test_run import SMALL, digest
from tests.store_contents import stored_runs

SPEC = parse_spec({
    "name": "groups",
    "params": {"n": 30, "n_test": 20, "d": 3, "max_epochs": 60, "record_metrics": True, "save_weights": True},
    "grid": {"data_seed": [0, 1], "seed": [0, 1, 2, 3, 4], "width": [2, 5], "alpha": [0.1, 0.4],
             "dtype": ["float64", "float32"]},
})


def without_run_many(spec):
    return dataclasses.replace(spec, problem=dataclasses.replace(spec.problem, run_many=None, batch_key=None))


results = stored_runs


def test_stores_do_not_depend_on_grouping(tmp_path):
    """Batched (groups of one data set, width and dtype) or one run at a time, in tasks of
    other shapes (chunks along seed and alpha, or along width, alpha and dtype): the same
    store but for wall_time, which is a run's share of its batched call."""
    assert (choose_chunks(SPEC), choose_chunks(without_run_many(SPEC))) == ((1, 5, 1, 2, 1), (1, 1, 2, 2, 2))
    run_sweep(SPEC, tmp_path / "batched.zarr")
    run_sweep(without_run_many(SPEC), tmp_path / "one_by_one.zarr")
    xr.testing.assert_identical(results(tmp_path / "batched.zarr"), results(tmp_path / "one_by_one.zarr"))
    wall = open_store(tmp_path / "batched.zarr")["wall_time"].values
    assert np.all(wall > 0) and np.unique(wall).size < wall.size  # the runs of a batched call share its time


def test_train_many_equals_train_one_in_any_order_and_company():
    params = [dict(SMALL, seed=s, alpha=a, width=w) for s in (0, 1, 2) for a in (0.2, 0.4) for w in (2, 3)]
    alone = [digest(train_one(p)) for p in params]
    assert [digest(r) for r in train_many(params)] == alone
    assert [digest(r) for r in train_many(params[::-1])] == alone[::-1]
    assert [digest(r) for r in train_many(params[:5])] == alone[:5]


def broken_run_many(params_list):
    raise RuntimeError("batched call failed")


def test_a_failing_batch_runs_one_by_one(tmp_path):
    """run_many raising sends its runs through run one at a time: the same store, and a
    run that fails on its own is recorded as failed with its message."""
    run_sweep(SPEC, tmp_path / "reference.zarr")
    broken = dataclasses.replace(SPEC, problem=dataclasses.replace(
        SPEC.problem, run_many="tests.test_batched_engine:broken_run_many"))
    run_sweep(broken, tmp_path / "fallback.zarr")
    xr.testing.assert_identical(results(tmp_path / "reference.zarr"), results(tmp_path / "fallback.zarr"))

    corners = parse_spec({"name": "corners", "params": {"n": 30, "n_test": 5000, "d": 5, "max_epochs": 20},
                          "grid": {"dataset": ["linear_teacher", "mnist_0_1"], "seed": [0, 1]}})
    summary = run_sweep(corners, tmp_path / "corners.zarr")
    assert summary.statuses["failed"] == 2
    ds = open_store(tmp_path / "corners.zarr").load()
    assert (ds.sel(dataset="mnist_0_1")["status"] == STATUS["failed"]).all()
    assert all("ParamError" in str(message) for message in ds.sel(dataset="mnist_0_1")[ERROR].values)


def key_unless_wide(params):
    if params.width > 2:
        raise KeyError("no key for wide networks")
    return params.batch_key()


def test_a_run_whose_batch_key_raises_fails_with_that_error(tmp_path):
    """batch_key's error is the run's failure (not swallowed into runs that never batch);
    the other runs train batched as before."""
    spec = parse_spec({"name": "keys", "params": {"n": 30, "n_test": 20, "d": 3, "max_epochs": 60},
                       "grid": {"seed": [0, 1, 2], "width": [2, 5]}})
    run_sweep(spec, tmp_path / "reference.zarr")
    summary = run_sweep(dataclasses.replace(spec, problem=dataclasses.replace(spec.problem, batch_key=key_unless_wide)),
                        tmp_path / "keys.zarr")
    assert summary.statuses["failed"] == 3
    ds = open_store(tmp_path / "keys.zarr").load()
    assert (ds.sel(width=5)["status"] == STATUS["failed"]).all()
    assert all(message == "the problem's batch_key raised KeyError: 'no key for wide networks'"
               for message in ds.sel(width=5)[ERROR].values)
    xr.testing.assert_identical(results(tmp_path / "keys.zarr").sel(width=[2]),
                                results(tmp_path / "reference.zarr").sel(width=[2]))


@pytest.mark.parametrize("change,expected", [
    # (status, E_clean, E_conv, epochs_run, final_loss): pinned when the orders moved into the kernels
    (dict(), ("done", 263, 30, 263, 0.007295182847463623)),
    (dict(dtype="float32", seed=11), ("done", 262, 30, 262, 0.0073245682137424665)),
    (dict(d=40, width=16, seed=5, max_epochs=200), ("done", 70, 10, 70, 0.007207238008379871)),  # per-run layout
])
def test_pinned_runs(change, expected):
    """A few runs as they came out when the visiting orders moved into the kernels (store
    format 2): a change here changes every SGD store. The orders of seed 3 are pinned too."""
    values = train_one(dict(SMALL, **change)).values
    status, clean, conv, epochs, loss = expected
    assert train_one(dict(SMALL, **change)).status == status
    assert (values["epochs_clean"], values["epochs_conv"], values["epochs_run"]) == (clean, conv, epochs)
    assert values["final_loss"] == pytest.approx(loss, rel=1e-9)
    assert seeded_orders(3, 2, 10).tolist() == [[5, 4, 2, 3, 1, 0, 9, 8, 7, 6], [2, 7, 9, 4, 0, 5, 1, 8, 3, 6]]
