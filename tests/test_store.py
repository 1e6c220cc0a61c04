"""The results store (sweep/store.py) and the task blocks (sweep/tasks.py), without training."""
import numpy as np
import pytest
import zarr

from sweep import problems
from sweep.problems.base import STATUS, RunResult
from sweep.problems.separable.variables import CURVES, SCALARS, recorded_epochs
from sweep.spec import parse_spec
from sweep.store import (DONE, ERROR, BlockResults, StoreError, WriteTarget, check_store, create_store, grid_chunks, is_store,
                         layout_for, open_store, read_done, run_counts)
from sweep.tasks import MIN_TASKS, blocks_of, choose_chunks

WEIGHTS = "weights"

SPEC = parse_spec({
    "name": "store-test",
    "params": {"n": 30, "d": 5, "max_epochs": 80},
    "grid": {"seed": [0, 1, 2], "width": [2, 4], "dataset": ["linear_teacher", "gaussians"],
             "save_weights": [True, False]},
})


def fake_result(width: int, d: int, epochs: int, value: float, weights: bool) -> RunResult:
    values = {v.name: np.array(value).astype(v.dtype)[()] for v in SCALARS}
    values.update({v.name: np.full(recorded_epochs(epochs).size, value, dtype=v.dtype) for v in CURVES})
    if weights:
        values[WEIGHTS] = np.full((2 * width, d), value)
    return RunResult("done", values)


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s.zarr"
    create_store(path, SPEC, (1, 2, 1, 2))
    return path


def test_layout_dims_coords_and_attrs(store):
    ds = open_store(store)
    assert dict(ds.sizes) == {"seed": 3, "width": 2, "dataset": 2, "save_weights": 2,
                              "epoch": recorded_epochs(80).size, "neuron": 8, "feature": 5}
    assert list(ds["dataset"].values) == ["linear_teacher", "gaussians"]
    assert list(ds["save_weights"].values) == [True, False]
    np.testing.assert_array_equal(ds["epoch"].values, recorded_epochs(80))
    for v in SCALARS + CURVES:
        assert ds[v.name].dtype == np.dtype(v.dtype)
        assert ds[v.name].attrs["units"] == v.units and ds[v.name].attrs["long_name"] == v.long_name
    assert ds["loss"].dims == SPEC.dims + ("epoch",)
    assert ds[WEIGHTS].dims == SPEC.dims + ("neuron", "feature")
    assert ds["status"].attrs["flag_values"] == [-1, 0, 1, 2, 3]
    assert ds["status"].attrs["flag_meanings"] == "not_run done diverged max_epochs failed"
    assert ds.attrs["spec_hash"] == SPEC.hash and ds.attrs["spec"] == SPEC.normalised()
    assert {"numpy", "zarr", "xarray", "numba"} <= set(ds.attrs["versions"])


def test_unwritten_store_reads_as_fill_not_zero(store):
    ds = open_store(store).load()
    for v in SCALARS + CURVES:
        values = ds[v.name].values
        assert np.isnan(values).all() if np.isnan(v.fill) else (values == v.fill).all(), v.name
    assert (ds["status"].values == -1).all() and not ds[DONE].values.any()
    assert np.isnan(ds[WEIGHTS].values).all() and (ds[ERROR].values == "").all()


def test_chunks_are_the_grid_blocks_and_unsharded(store):
    group = zarr.open_group(str(store), mode="r")
    assert grid_chunks(store) == (1, 2, 1, 2)
    for name in [v.name for v in SCALARS + CURVES] + [DONE, ERROR, WEIGHTS]:
        array = group[name]
        assert array.chunks[:4] == (1, 2, 1, 2) and array.chunks[4:] == array.shape[4:], name
        assert array.shards is None


def test_block_write_touches_only_its_region(store):
    layout = layout_for(SPEC)
    block = BlockResults(layout, (1, 2, 1, 2))
    block.record((0, 1, 0, 0), fake_result(width=4, d=5, epochs=60, value=0.5, weights=True), wall_time=1.0)
    block.record((0, 0, 0, 1), fake_result(width=2, d=5, epochs=80, value=0.25, weights=False), wall_time=2.0)
    block.record_failure((0, 0, 0, 0), "ParamError: boom", wall_time=0.1)
    block.write(WriteTarget(str(store), SPEC.hash, None), (2, 0, 1, 0))

    ds = open_store(store).load()
    done = ds[DONE].values
    assert done.sum() == 3 and done[2, :, 1, :].sum() == 3
    here = ds.isel(seed=2, dataset=1)
    assert here["status"].values.tolist() == [[STATUS["failed"], STATUS["done"]], [STATUS["done"], -1]]
    assert str(here[ERROR].values[0, 0]) == "ParamError: boom" and np.isnan(here["final_loss"].values[0, 0])
    loss = here["loss"].values[1, 0]
    assert (loss[: recorded_epochs(60).size] == 0.5).all() and np.isnan(loss[recorded_epochs(60).size:]).all()
    weights = here[WEIGHTS].values[1, 0]
    assert (weights == 0.5).all()  # width 4 fills all 8 neurons
    assert np.isnan(here[WEIGHTS].values[0, 1]).all()  # save_weights false
    assert np.isnan(ds["final_loss"].values[:2]).all()  # other blocks untouched
    assert run_counts(store) == {"total": 24, "finished": 3, "done": 2, "diverged": 0, "max_epochs": 0,
                                 "failed": 1, "remaining": 21}
    assert read_done(store).sum() == 3


def test_store_follows_the_problems_layout(tmp_path, monkeypatch):
    monkeypatch.setitem(problems.PROBLEMS, "toy_regression", "tests.toy_problem")
    spec = parse_spec({"name": "g", "problem": "toy_regression", "params": {"steps": 7}, "grid": {"seed": [0, 1]}})
    create_store(tmp_path / "g.zarr", spec, (1,))
    ds = open_store(tmp_path / "g.zarr")
    assert set(ds.data_vars) == {"final_error", "rel_error", "status", "wall_time", ERROR, DONE}
    assert ds["rel_error"].dims == ("seed", "step") and list(ds["step"].values) == list(range(1, 8))
    assert ds["final_error"].attrs["long_name"] == "||w - w*|| / ||w*|| at the end"
    block = BlockResults(layout_for(spec), (1,))
    with pytest.raises(ValueError, match="'loss'.*not a variable"):
        block.record((0,), RunResult("done", {"loss": 1.0}), wall_time=0.0)
    with pytest.raises(ValueError, match="status 'fine'"):
        block.record((0,), RunResult("fine", {"final_error": 1.0}), wall_time=0.0)


def test_identity_checks(store, tmp_path):
    check_store(store, SPEC)
    other = parse_spec({"name": "other", "grid": {"seed": [0]}})
    with pytest.raises(StoreError, match="different sweep"):
        check_store(store, other)
    assert is_store(store) and not is_store(tmp_path) and not is_store(tmp_path / "missing")
    with pytest.raises(StoreError, match="not a sweep store"):
        open_store(tmp_path)


@pytest.mark.parametrize("shape, chunks", [((3, 2, 2, 2), (1, 2, 1, 2)), ((5, 7), (2, 3)), ((4,), (4,))])
def test_blocks_cover_the_grid_once(shape, chunks):
    hits = np.zeros(shape, dtype=int)
    for block in blocks_of(shape, chunks):
        assert all(o % c == 0 for o, c in zip(block.origin, chunks))  # chunk-aligned
        for _, index in block.points():
            hits[index] += 1
    assert (hits == 1).all()


def test_task_size_keeps_enough_tasks():
    spec = parse_spec({"name": "big", "params": {"n": 20, "d": 2, "max_epochs": 10},
                       "grid": {"seed": list(range(80)), "width": [1, 2], "alpha": [0.1, 0.2, 0.3]}})
    chunks = choose_chunks(spec)
    assert len(blocks_of(spec.shape, chunks)) >= MIN_TASKS
    assert chunks[1:] == (2, 3) and chunks[0] > 1  # whole trailing dims first, several runs per task
