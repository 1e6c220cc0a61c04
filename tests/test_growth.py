"""Growing a store (sweep/growth.py, README "Growing a sweep"): through the real CLI in
new processes, on a real local cluster where the runs are computed in parallel."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sweep  # noqa: F401  (registers ds.sweep)

from sweep.growth import stored_spec_at
from sweep.lock import StoreLock
from sweep.store import Block, BlockResults, WriteTarget, layout_for, open_store, read_done, root_attrs
from tests.test_engine import ROOT, sweep_command, wait_for_done
from tests.store_contents import stored_runs

SEPARABLE = """\
name: grow
params: {{n: 30, n_test: 20, d: 5, max_epochs: 40{fixed}}}
grid:
  seed: [{seeds}]
  width: [{widths}]
  alpha: [0.1, 0.5]
"""
RUN_VARIABLES = ("done", "status", "error", "final_loss", "loss", "epochs_clean", "max_angle")


def spec(folder: Path, name: str, *, seeds=range(4), widths=(2, 8), fixed=", lr: 0.05", grid_lr=None) -> Path:
    text = SEPARABLE.format(seeds=", ".join(map(str, seeds)), widths=", ".join(map(str, widths)), fixed=fixed)
    if grid_lr is not None:
        text += f"  lr: {list(grid_lr)}\n"
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def sweep(*args: str, local_cluster: bool = False) -> subprocess.CompletedProcess:
    """The real CLI in a new process; `sweep run` serially unless ``local_cluster``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    serial = args[0] == "run" and not local_cluster
    command = sweep_command(*args, *(["--serial"] if serial else []))
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def chunk_files(store: Path, names=RUN_VARIABLES) -> dict[str, tuple[int, int, bytes]]:
    """(inode, mtime, bytes) of every chunk (shard) file of the variables ``names``, by key ("final_loss/c.0.1")."""
    return {str(path.relative_to(store)): (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes())
            for name in names for path in (store / name).glob("c.*")}


results = stored_runs


def test_more_seeds_computes_only_the_new_runs_and_equals_a_store_written_at_once(tmp_path):
    """The issue's case, on a local cluster: 4 -> 8 seeds; every finished run's chunk files
    are the same files (inode, mtime, bytes), 16 runs are computed, not 32, and the grown
    store equals one written with 8 seeds in one go but for wall_time."""
    store, whole = tmp_path / "s.zarr", tmp_path / "whole.zarr"
    assert sweep("run", str(spec(tmp_path, "four")), "--store", str(store), local_cluster=True).returncode == 0
    before = chunk_files(store)
    grown = sweep("run", str(spec(tmp_path, "eight", seeds=range(8))), "--store", str(store), local_cluster=True)
    assert grown.returncode == 0, grown.stderr
    assert "growing the store by 4 seed values (4, 5, 6, 7) (16 new runs), 16 already done" in grown.stdout
    assert "grew the store: 16 finished runs kept" in grown.stdout and "ran 16 runs" in grown.stdout
    after = chunk_files(store)
    assert before and all(after[key] == value for key, value in before.items())
    assert sweep("run", str(spec(tmp_path, "eight", seeds=range(8))), "--store", str(whole)).returncode == 0
    xr.testing.assert_identical(results(store), results(whole))
    history = root_attrs(store)["history"]
    assert [entry["runs_added"] for entry in history] == [16, 16] and history[1]["added"] == {"seed": [4, 5, 6, 7]}
    status = sweep("status", str(store))
    assert "created: 16 runs" in status.stdout and "grown by seed 4, 5, 6, 7: 16 runs" in status.stdout


def test_a_value_inserted_mid_list_is_appended_to_the_store(tmp_path):
    """width [2, 8] -> [2, 4, 8]: the store's width coordinate becomes [2, 8, 4] (the
    new value after the old ones, so no finished chunk moves), the same numbers as a
    store written at once with [2, 4, 8]; running the spec again resumes (same sweep)."""
    store, whole = tmp_path / "s.zarr", tmp_path / "whole.zarr"
    assert sweep("run", str(spec(tmp_path, "two")), "--store", str(store)).returncode == 0
    before = chunk_files(store)
    three = spec(tmp_path, "three", widths=(2, 4, 8))
    assert sweep("run", str(three), "--store", str(store)).returncode == 0
    assert all(chunk_files(store)[key] == value for key, value in before.items())
    assert list(open_store(store)["width"].values) == [2, 8, 4]
    assert sweep("run", str(three), "--store", str(whole)).returncode == 0
    xr.testing.assert_identical(results(store).sel(width=[2, 4, 8]), results(whole))
    again = sweep("run", str(three), "--store", str(store))
    assert again.returncode == 0 and "ran 0 runs: nothing to do" in again.stdout
    analysed = xr.open_zarr(store).sweep.results  # what every analysis reads: in value order
    assert list(analysed["width"].values) == [2, 4, 8]
    xr.testing.assert_equal(analysed["final_loss"], xr.open_zarr(whole).sweep.results["final_loss"])
    report = sweep("report", str(store), "--out", str(tmp_path / "report"))
    assert report.returncode == 0 and (tmp_path / "report" / "report.md").is_file(), report.stderr


def test_a_fixed_parameter_becomes_a_dim_with_its_old_value_first(tmp_path):
    """lr: 0.05 in params -> grid lr: [0.5, 0.05]: the dim is added with 0.05 first; the
    finished runs keep their numbers (the same chunk bytes under a key with 0 for lr)."""
    store = tmp_path / "s.zarr"
    assert sweep("run", str(spec(tmp_path, "fixed")), "--store", str(store)).returncode == 0
    old = results(store)
    before = chunk_files(store)
    grown = sweep("run", str(spec(tmp_path, "swept", fixed="", grid_lr=[0.5, 0.05])), "--store", str(store))
    assert grown.returncode == 0 and "the new dim lr (0.5; 0.05 before) (16 new runs)" in grown.stdout, grown.stdout
    ds = results(store)
    assert ds["done"].dims == ("seed", "width", "alpha", "lr") and list(ds["lr"].values) == [0.05, 0.5]
    xr.testing.assert_identical(ds.sel(lr=0.05, drop=True), old)
    after = chunk_files(store)
    for key, (inode, mtime, data) in before.items():
        name, _, chunk = key.partition("/c.")
        indices = chunk.split(".")
        assert after[f"{name}/c.{'.'.join([*indices[:3], '0', *indices[3:]])}"] == (inode, mtime, data)


def test_a_grow_killed_midway_resumes_without_losing_a_run(tmp_path):
    """kill -9 of a growing `sweep run` (local cluster) once some new runs are saved: the
    resume computes only what is missing and the store equals one written at once."""
    store, release = tmp_path / "s.zarr", tmp_path / "release"
    held = "name: held\nproblem: hungry\nparams: {{wait_from: 10, until: {until}}}\ngrid:\n  seed: [{seeds}]\n"
    small, large = tmp_path / "small.yaml", tmp_path / "large.yaml"
    small.write_text(held.format(until=release, seeds=", ".join(map(str, range(6)))))
    large.write_text(held.format(until=release, seeds=", ".join(map(str, range(16)))))
    assert sweep("run", str(small), "--store", str(store)).returncode == 0
    before = chunk_files(store, ("done", "value"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(sweep_command("run", str(large), "--store", str(store)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        wait_for_done(store, at_least=8)
        assert not read_done(store)[10:].any(), "the held runs finished: the kill was not mid-way"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert all(chunk_files(store, ("done", "value"))[key] == value for key, value in before.items())
    release.write_text("")
    resumed = sweep("run", str(large), "--store", str(store))
    assert resumed.returncode == 0, resumed.stderr
    ds = open_store(store).load()
    assert ds["done"].all() and list(ds["seed"].values) == list(range(16))
    np.testing.assert_array_equal(ds["value"].values, np.arange(16) + 0.5)


def test_a_grow_is_refused_while_another_sweep_run_holds_the_lock(tmp_path):
    store = tmp_path / "s.zarr"
    assert sweep("run", str(spec(tmp_path, "four")), "--store", str(store)).returncode == 0
    before = chunk_files(store)
    with StoreLock(store):
        refused = sweep("run", str(spec(tmp_path, "eight", seeds=range(8))), "--store", str(store))
    assert refused.returncode == 2 and "in use by another `sweep run`" in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert chunk_files(store) == before and open_store(store).sizes["seed"] == 4


@pytest.mark.parametrize("change, difference", [
    (dict(fixed=", lr: 0.5"), "lr is 0.05 in the store, 0.5 in the spec"),
    (dict(seeds=range(1, 8)), "the spec removes the grid values [0] of seed"),
    (dict(fixed="", grid_lr=[0.5, 0.1]), "lr is fixed at 0.05 in the store and not among the spec's grid values"),
])
def test_a_spec_that_does_not_extend_the_sweep_is_refused_saying_what_differs(tmp_path, change, difference):
    store = tmp_path / "s.zarr"
    assert sweep("run", str(spec(tmp_path, "four")), "--store", str(store)).returncode == 0
    before = chunk_files(store)
    refused = sweep("run", str(spec(tmp_path, "other", **change)), "--store", str(store))
    assert refused.returncode == 2 and difference in refused.stderr and "does not extend" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert chunk_files(store) == before


def test_a_grow_that_changes_the_stored_curves_shape_is_refused(tmp_path):
    """max_epochs 40 -> grid [40, 80]: every run's loss curve would need 81 epochs, not
    41, so the finished runs' chunks cannot be kept: refused, naming the dim."""
    store = tmp_path / "s.zarr"
    assert sweep("run", str(spec(tmp_path, "four")), "--store", str(store)).returncode == 0
    longer = spec(tmp_path, "longer", fixed=", lr: 0.05").read_text().replace(", max_epochs: 40", "")
    path = tmp_path / "longer.yaml"
    path.write_text(longer + "  max_epochs: [40, 80]\n")
    refused = sweep("run", str(path), "--store", str(store))
    assert refused.returncode == 2 and "changes the shape of every run's stored curves along epoch" in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_a_block_cut_short_by_the_old_grid_keeps_its_finished_run(tmp_path):
    """17 seeds in chunks of 2: the last block held seed 16 alone. Grown to 20 seeds, that
    block holds seeds 16 and 17: seed 17 is run, seed 16 is rewritten as stored (its
    wall_time too), not recomputed; 3 runs in all."""
    store = tmp_path / "s.zarr"
    hungry = "name: h\nproblem: hungry\nparams: {{hold: 0}}\ngrid:\n  seed: [{seeds}]\n"
    small, large = tmp_path / "small.yaml", tmp_path / "large.yaml"
    small.write_text(hungry.format(seeds=", ".join(map(str, range(17)))))
    large.write_text(hungry.format(seeds=", ".join(map(str, range(20)))))
    assert sweep("run", str(small), "--store", str(store)).returncode == 0
    before = open_store(store).load()
    assert before["done"].chunks is None and open_store(store)["done"].encoding["chunks"] == (2,)
    grown = sweep("run", str(large), "--store", str(store))
    assert grown.returncode == 0 and "ran 3 runs: 3 done" in grown.stdout, grown.stdout + grown.stderr
    after = open_store(store).load()
    assert after["done"].all()
    np.testing.assert_array_equal(after["value"].values, np.arange(20) + 0.5)
    xr.testing.assert_identical(after.isel(seed=slice(0, 17)).drop_attrs(), before.drop_attrs())


def test_two_halves_merge_into_the_whole_and_a_disagreement_is_refused(tmp_path):
    """`sweep merge` of seeds 0-1 and 2-3 equals the store of seeds 0-3 written at once;
    an existing --out is refused; two stores that hold different numbers for a run both
    finished are refused with one line naming the run, and no --out is left."""
    halves = [tmp_path / "low.zarr", tmp_path / "high.zarr"]
    for store, seeds in zip(halves, (range(2), range(2, 4))):
        assert sweep("run", str(spec(tmp_path, store.stem, seeds=seeds)), "--store", str(store)).returncode == 0
    whole, merged = tmp_path / "whole.zarr", tmp_path / "merged.zarr"
    assert sweep("run", str(spec(tmp_path, "whole")), "--store", str(whole)).returncode == 0
    done = sweep("merge", *map(str, halves), "--out", str(merged))
    assert done.returncode == 0 and "merged 16 runs" in done.stdout and "16 of 16 runs of the union" in done.stdout
    xr.testing.assert_identical(results(merged), results(whole))
    again = sweep("merge", *map(str, halves), "--out", str(merged))
    assert again.returncode == 2 and "exists" in again.stderr and again.stderr.count("\n") == 1

    # as if written on another machine: seed 1's final_loss differs in the last bit
    other = tmp_path / "other.zarr"
    assert sweep("run", str(spec(tmp_path, "other", seeds=range(1, 3))), "--store", str(other)).returncode == 0
    stored = stored_spec_at(other)
    chunks = open_store(other)["done"].encoding["chunks"]
    block = Block((0, 0, 0), chunks)
    rewritten = BlockResults(layout_for(stored), block.shape)
    rewritten.keep_stored(str(other), block.origin, np.ones(block.shape, bool))
    rewritten.arrays["final_loss"][...] = np.nextafter(rewritten.arrays["final_loss"], np.inf)
    rewritten.write(WriteTarget(str(other), stored.hash, None), block.origin)
    refused = sweep("merge", str(halves[0]), str(other), "--out", str(tmp_path / "conflict.zarr"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "hold different 'final_loss' for the run (seed=1, width=2, alpha=0.1)" in refused.stderr
    assert not (tmp_path / "conflict.zarr").exists()


def test_reuse_copies_the_runs_another_store_finished_and_computes_the_rest(tmp_path):
    """A sweep over lr [0.05, 0.5] with --reuse of a finished lr = 0.05 store: its 16 runs
    are copied (the same numbers), only the 16 others are computed."""
    old, new = tmp_path / "old.zarr", tmp_path / "new.zarr"
    assert sweep("run", str(spec(tmp_path, "old")), "--store", str(old)).returncode == 0
    both = spec(tmp_path, "both", fixed="", grid_lr=[0.5, 0.05])
    reused = sweep("run", str(both), "--store", str(new), "--reuse", str(old))
    assert reused.returncode == 0, reused.stderr
    assert f"reused 16 runs (16 from {old})" in reused.stdout and "ran 16 runs" in reused.stdout
    xr.testing.assert_equal(results(new).sel(lr=0.05, drop=True), results(old))
    refused = sweep("run", str(both), "--store", str(tmp_path / "x.zarr"), "--reuse", str(tmp_path / "missing"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and not (tmp_path / "x.zarr").exists()
