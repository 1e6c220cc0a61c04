"""The results store (sweep/store.py) and the task blocks (sweep/tasks.py), without training."""
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr
import yaml
import zarr

from sweep import problems
from sweep.problems.results import STATUS, RunResult
from sweep.problems.separable.variables import CURVES, SCALARS, recorded_epochs
from sweep.engine import run_sweep
from sweep.spec import parse_spec
from sweep.store import (DONE, ERROR, BlockResults, StoreError, WriteTarget, check_store, create_store, grid_chunks, is_store,
                         layout_for, open_store, read_done, run_counts, scan_store, store_kind)
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


def test_blocks_are_shards(store):
    """Format /4: a block is one shard of every variable (whole along its extra dims),
    tiled by whole inner chunks."""
    group = zarr.open_group(str(store), mode="r")
    assert grid_chunks(store) == (1, 2, 1, 2)
    for name in [v.name for v in SCALARS + CURVES] + [DONE, ERROR, WEIGHTS]:
        array = group[name]
        assert array.shards[:4] == (1, 2, 1, 2) and array.shards[4:] == array.shape[4:], name
        assert array.chunks[4:] == array.shape[4:] and all(s % c == 0 for s, c in zip(array.shards, array.chunks))


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


SEED_FIRST = {"seed": list(range(40)), "width": [1, 2], "alpha": [0.1, 0.2, 0.3]}  # 240 runs: 30 per task (MIN_TASKS)


def test_task_size_keeps_enough_tasks():
    spec = parse_spec({"name": "big", "params": {"n": 20, "d": 2, "max_epochs": 10},
                       "grid": {**SEED_FIRST, "seed": list(range(80))}})
    chunks = choose_chunks(spec)
    assert len(blocks_of(spec.shape, chunks)) >= MIN_TASKS
    assert chunks == (20, 1, 3)  # 480 // MIN_TASKS runs, in whole alphas x seeds


def test_chunks_cover_the_batched_axes_before_the_others():
    """Issue 17: with the seed first, a task fills the axes along which the batch_key stays
    (alpha, then seed) before width, so each task is one batched group of 30 runs
    (filling from the last dim, as before, would give groups of 15)."""
    spec = parse_spec({"name": "seed-first", "params": {"n": 20, "d": 2, "max_epochs": 10}, "grid": SEED_FIRST})
    chunks = choose_chunks(spec)
    assert chunks == (10, 1, 3)
    blocks = blocks_of(spec.shape, chunks)
    assert len(blocks) >= MIN_TASKS
    assert all(len({spec.params_at(index).batch_key() for _, index in block.points()}) == 1 for block in blocks)


def test_chunks_fill_from_the_last_dim_without_batching(monkeypatch):
    """A problem without run_many, or one whose batch_key raises, keeps the last-dim-first fill."""
    monkeypatch.setitem(problems.PROBLEMS, "toy_regression", "tests.toy_problem")
    toy = parse_spec({"name": "toy", "problem": "toy_regression", "params": {"steps": 5},
                      "grid": {"seed": list(range(40)), "n": [10, 20], "lr": [0.1, 0.2, 0.3]}})
    assert toy.problem.run_many is None and choose_chunks(toy) == (5, 2, 3)
    assert len(blocks_of(toy.shape, (5, 2, 3))) >= MIN_TASKS

    def no_key(params):
        raise ValueError("no key")

    spec = parse_spec({"name": "seed-first", "params": {"n": 20, "d": 2, "max_epochs": 10}, "grid": SEED_FIRST})
    assert choose_chunks(replace(spec, problem=replace(spec.problem, batch_key=no_key))) == (5, 2, 3)


# ---------------------------------------------------------------- kill-safe creation, damage and repair (issue 18)

TOY = {"name": "toy", "problem": "toy_regression", "params": {"steps": 5}, "grid": {"seed": list(range(8)),
                                                                                     "lr": [0.1, 0.2]}}


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(problems.PROBLEMS, "toy_regression", "tests.toy_problem")
    return parse_spec(TOY)


@pytest.fixture
def finished(tmp_path, toy):
    """A finished toy store and a copy of it (the reference, never touched)."""
    import shutil

    run_sweep(toy, tmp_path / "s.zarr")
    shutil.copytree(tmp_path / "s.zarr", tmp_path / "reference.zarr")
    return tmp_path / "s.zarr", tmp_path / "reference.zarr"


def results(path):
    """The store's contents but its history (which says when each spec ran)."""
    ds = open_store(path).load()
    del ds.attrs["history"]
    return ds


def chunk(store, name, *coords):
    """The chunk file of variable ``name`` at grid chunk ``coords`` (whole along extra dims)."""
    group = zarr.open_group(str(store), mode="r")
    array = group[name]
    return store / name / array.metadata.encode_chunk_key(tuple(coords) + (0,) * (array.ndim - len(coords)))


DAMAGE = {
    "random done chunk": lambda s: chunk(s, DONE, 1).write_bytes(np.random.default_rng(0).bytes(64)),
    "empty done chunk": lambda s: chunk(s, DONE, 1).write_bytes(b""),
    "corrupt data chunk": lambda s: chunk(s, "rel_error", 1).write_bytes(np.random.default_rng(1).bytes(200)),
    "deleted data chunk": lambda s: chunk(s, "final_error", 1).unlink(),
    "one flipped bit": lambda s: _flip(chunk(s, "rel_error", 1)),
}


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x08
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_chunk_is_reported_by_block_and_rerun(kind, finished, toy, capsys):
    """status, show and verify survive and name the block; the runs count as not done;
    `sweep run` reruns that block only, and no finished run is lost."""
    from sweep.cli import main

    store, reference = finished
    chunks = grid_chunks(store)
    assert chunks == (1, 2)  # 16 runs, at least 8 tasks: one block per seed
    DAMAGE[kind](store)
    health = scan_store(store, decode=True)
    assert list(health.damaged) == [(1, 0)] and health.damaged_runs == 2
    assert health.done.sum() == 14 and not health.done[1].any()
    assert run_counts(store)["remaining"] == (2 if kind in ("random done chunk", "empty done chunk",
                                                            "deleted data chunk") else 0)  # quick scan: no decoding

    for command in (["status", str(store)], ["show", str(store)]):
        assert main(command) == 0
    assert main(["verify", str(store)]) == 1
    out = capsys.readouterr().out
    assert "block at grid index (1, 0) (2 runs)" in out and "would rerun 2 runs in 1 block" in out

    spec_file = store.parent / "toy.yaml"
    spec_file.write_text(yaml.safe_dump(TOY, sort_keys=False))
    assert main(["run", str(spec_file), "--store", str(store), "--serial"]) == 0
    assert "ran 2 runs" in capsys.readouterr().out
    assert main(["verify", str(store)]) == 0
    after, before = results(store), results(reference)
    xr.testing.assert_identical(after.drop_vars("wall_time"), before.drop_vars("wall_time"))
    untouched = np.arange(8) != 1
    np.testing.assert_array_equal(after["wall_time"].values[untouched], before["wall_time"].values[untouched])


def test_truncated_root_metadata_is_one_line_everywhere_and_rebuilt_by_run(finished, toy, capsys):
    from sweep.cli import main

    store, reference = finished
    root = store / "zarr.json"
    root.write_bytes(root.read_bytes()[:300])
    for command in (["status", str(store)], ["show", str(store)], ["verify", str(store)],
                    ["report", str(store), "--out", str(store.parent / "report")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "root metadata" in err and "unreadable" in err and err.count("\n") == 1
    spec_file = store.parent / "toy.yaml"
    spec_file.write_text(yaml.safe_dump({**TOY, "params": {"steps": 6}}, sort_keys=False))  # another sweep: not repaired
    assert main(["run", str(spec_file), "--store", str(store), "--serial"]) == 2
    assert "not recognisably a store of spec" in capsys.readouterr().err
    spec_file.write_text(yaml.safe_dump(TOY, sort_keys=False))
    assert main(["run", str(spec_file), "--store", str(store), "--serial"]) == 0
    assert "ran 0 runs" in capsys.readouterr().out
    xr.testing.assert_identical(results(store).drop_vars("wall_time"), results(reference).drop_vars("wall_time"))
    np.testing.assert_array_equal(results(store)["wall_time"], results(reference)["wall_time"])


def test_damaged_coordinate_is_rewritten(finished, toy, capsys):
    from sweep.cli import main

    store, reference = finished
    chunk(store, "seed").write_bytes(b"\x00" * 8)
    assert scan_store(store, decode=True).coordinates == ["seed"]
    assert main(["show", str(store)]) == 2 and "sweep verify" in capsys.readouterr().err
    run_sweep(toy, store)
    xr.testing.assert_identical(results(store), results(reference))


def test_creation_is_atomic_under_kill(tmp_path):
    """A real process killed while laying out a store (metadata written, not yet
    consolidated) leaves nothing at the path; the next `sweep run` cleans up and works."""
    import signal
    import subprocess
    import sys
    import time

    spec_file, store = tmp_path / "spec.yaml", tmp_path / "s.zarr"
    spec_file.write_text("name: k\nparams: {n: 10, n_test: 5, d: 2, max_epochs: 2}\ngrid: {seed: [0, 1]}\n")
    ready = tmp_path / "consolidating"
    code = ("import sys, time, zarr; from pathlib import Path\n"
            "def stall(*a, **k):\n"
            f"    Path({str(ready)!r}).write_text('now'); time.sleep(600)\n"
            "zarr.consolidate_metadata = stall\n"
            "from sweep.cli import main; sys.exit(main(sys.argv[1:]))\n")
    process = subprocess.Popen([sys.executable, "-c", code, "run", str(spec_file), "--store", str(store), "--serial"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        assert any(p.name.startswith(".s.zarr.creating-") for p in tmp_path.iterdir())
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not store.exists() and store_kind(store) == "missing"
    from sweep.cli import main

    assert main(["run", str(spec_file), "--store", str(store), "--serial"]) == 0
    assert read_done(store).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["consolidating", "s.zarr", "spec.yaml"]


def test_overwrite_replaces_a_store_atomically(store, toy, tmp_path):
    create_store(store, toy, (1, 2))
    assert open_store(store).attrs["spec"]["name"] == "toy"
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_store_left_incomplete_by_an_old_version_is_one_line_and_overwritable(store, tmp_path, capsys):
    """Before atomic creation, a kill could leave a store without consolidated metadata."""
    import json

    from sweep.cli import main

    root = json.loads((store / "zarr.json").read_text())
    del root["consolidated_metadata"]
    (store / "zarr.json").write_text(json.dumps(root))
    assert store_kind(store) == "damaged"
    assert main(["status", str(store)]) == 2
    assert "creation was interrupted" in capsys.readouterr().err
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("name: x\nparams: {n: 10, n_test: 5, d: 2, max_epochs: 2}\ngrid: {seed: [0]}\n")
    assert main(["run", str(spec_file), "--store", str(store), "--serial"]) == 2
    assert main(["run", str(spec_file), "--store", str(store), "--serial", "--overwrite"]) == 0
    assert read_done(store).all()


def test_writes_check_the_spec_hash_and_the_writer(store, toy, tmp_path):
    from sweep.lock import LockLost, StoreLock

    block = BlockResults(layout_for(SPEC), (1, 2, 1, 2))
    with pytest.raises(StoreError, match="no longer holds this task's sweep"):
        block.write(WriteTarget(str(store), toy.hash, None), (0, 0, 0, 0))
    with StoreLock(store) as lock:
        with pytest.raises(LockLost):
            block.write(WriteTarget(str(store), SPEC.hash, "another run's token"), (0, 0, 0, 0))
        block.write(WriteTarget(str(store), SPEC.hash, lock.token), (0, 0, 0, 0))
    assert not read_done(store).any() and scan_store(store, decode=True).damaged == {}


LATE_WRITES = {  # a chunk file that a writer of another `sweep run` landed after the block was written
    "of an earlier run of this sweep": ("wall_time", TOY),
    "of another sweep with the same layout": ("final_error", {**TOY, "params": {"steps": 5, "d": 4}}),
}


@pytest.mark.parametrize("case", LATE_WRITES)
def test_a_late_write_is_found_by_verify_and_rerun_by_run(case, finished, tmp_path, capsys):
    """Case 1, should a stale write ever land: a chunk file that decodes and belongs to a
    store of the same layout, but is not the one the block's manifest records, is damage
    to `verify` (exit 1, naming the block and variable), and `sweep run` reruns its block."""
    import shutil

    from sweep.cli import main

    store, reference = finished
    name, raw = LATE_WRITES[case]
    other = tmp_path / "other.zarr"
    run_sweep(parse_spec(raw), other)
    shutil.copyfile(chunk(other, name, 3, 0), chunk(store, name, 3, 0))
    assert scan_store(store).damaged == {}  # the quick scan sees files, not their contents
    assert main(["verify", str(store)]) == 1
    out = capsys.readouterr().out
    assert f"block at grid index (3, 0) (2 runs): {name}: not the chunk its block's writer recorded" in out, out
    spec_file = tmp_path / "toy.yaml"
    spec_file.write_text(yaml.safe_dump(TOY, sort_keys=False))
    assert main(["run", str(spec_file), "--store", str(store), "--serial"]) == 0
    assert "ran 2 runs" in capsys.readouterr().out
    assert main(["verify", str(store)]) == 0
    xr.testing.assert_identical(results(store).drop_vars("wall_time"), results(reference).drop_vars("wall_time"))


def test_a_writer_whose_store_was_replaced_writes_nothing(tmp_path):
    """The mechanism behind case 1: a write through the descriptor of a store directory
    that was replaced (renamed away and removed, a new one in its place, as --overwrite
    does) fails, and the new directory gets nothing."""
    import os
    import shutil

    from sweep.files import open_directory, write_file

    path = tmp_path / "s.zarr"
    (path / "loss" / "c").mkdir(parents=True)
    directory = open_directory(path)
    try:
        write_file("loss/c/0", b"before", directory)
        os.rename(path, tmp_path / "discarded")
        (path / "loss" / "c").mkdir(parents=True)
        shutil.rmtree(tmp_path / "discarded")
        for key in ("loss/c/0", "loss/c/1/0", "zarr.json"):
            with pytest.raises(FileNotFoundError):
                write_file(key, b"stale", directory)
    finally:
        os.close(directory)
    assert [str(p.relative_to(path)) for p in path.rglob("*")] == ["loss", "loss/c"]


def test_a_deleted_or_swapped_coordinate_is_found_and_rewritten(finished, toy, tmp_path, capsys):
    """Case 5: `rm S/seed/c/0` (zarr would read seeds 0 0 0 ...) and a seed chunk of
    another store (decodes, wrong labels) are damage to status, show and verify, the
    report refuses, and `sweep run` rewrites the coordinates."""
    import shutil

    from sweep.cli import main

    store, reference = finished
    other = tmp_path / "other.zarr"
    run_sweep(parse_spec({**TOY, "grid": {"seed": list(range(10, 18)), "lr": [0.1, 0.2]}}), other)
    for damage in (lambda: chunk(store, "seed").unlink(), lambda: shutil.copyfile(chunk(other, "seed"), chunk(store, "seed"))):
        damage()
        assert scan_store(store, decode=True).coordinates == ["seed"]
        assert main(["verify", str(store)]) == 1
        assert "coordinate 'seed': unreadable" in capsys.readouterr().out
        assert main(["report", str(store), "--out", str(tmp_path / "report")]) == 2
        capsys.readouterr()
        spec_file = tmp_path / "toy.yaml"
        spec_file.write_text(yaml.safe_dump(TOY, sort_keys=False))
        assert main(["run", str(spec_file), "--store", str(store), "--serial"]) == 0
        assert "ran 0 runs" in capsys.readouterr().out
        assert main(["verify", str(store)]) == 0
        xr.testing.assert_identical(results(store), results(reference))


def test_a_deleted_root_metadata_is_recognised_and_rebuilt(finished, toy, tmp_path, capsys):
    """Case 6: without its root zarr.json a store is still recognised by its `done` array:
    one line everywhere, `sweep run` rebuilds it keeping every run, and `--overwrite
    --force` starts it again."""
    from sweep.cli import main

    store, reference = finished
    (store / "zarr.json").unlink()
    assert main(["status", str(store)]) == 2
    err = capsys.readouterr().err
    assert "root metadata" in err and "missing" in err and err.count("\n") == 1
    spec_file = tmp_path / "toy.yaml"
    spec_file.write_text(yaml.safe_dump(TOY, sort_keys=False))
    assert main(["run", str(spec_file), "--store", str(store), "--serial"]) == 0
    assert "ran 0 runs" in capsys.readouterr().out
    xr.testing.assert_identical(results(store), results(reference))
    (store / "zarr.json").unlink()
    assert main(["run", str(spec_file), "--store", str(store), "--serial", "--overwrite", "--force"]) == 0
    assert "ran 16 runs" in capsys.readouterr().out
    xr.testing.assert_identical(results(store).drop_vars("wall_time"), results(reference).drop_vars("wall_time"))
