"""Store format /4 (README, "The results store"): a block is one shard per variable, a
store holds few files at any size, and stores of format /3 (a chunk file per block and
variable) still resume, grow, verify and merge in their own layout."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from sweep import problems
from sweep.engine import merge_stores, run_sweep
from sweep.spec import parse_spec
from sweep.store import (FORMAT, FORMAT_3, MANIFESTS, history_entry, layout_for, open_store, root_attrs, scan_store,
                         write_layout)
from sweep.tasks import FILE_BUDGET, MAX_TASK_SECONDS, choose_chunks

TOY = {"name": "toy", "problem": "toy_regression", "params": {"steps": 5},
       "grid": {"seed": list(range(8)), "lr": [0.1, 0.2]}}
TOY_VARIABLES = ("final_error", "rel_error", "status", "wall_time", "error", "done")


@pytest.fixture(autouse=True)
def toy_problem(monkeypatch):
    monkeypatch.setitem(problems.PROBLEMS, "toy_regression", "tests.toy_problem")


def toy(seeds=range(8)):
    return parse_spec({**TOY, "grid": {**TOY["grid"], "seed": list(seeds)}})


def files(store: Path) -> list[str]:
    return sorted(path.relative_to(store).as_posix() for path in store.rglob("*") if path.is_file())


def runs(store: Path) -> xr.Dataset:
    """The store's runs: every variable but wall_time, without the attributes."""
    return open_store(store).drop_vars("wall_time").load().drop_attrs()


def old_layout_store(path: Path, spec, chunks) -> None:
    """An empty store of ``spec`` as this code's format /3 wrote it (one chunk file per block)."""
    write_layout(path, spec, chunks, [history_entry(spec, spec.size, {})], sweep_format=FORMAT_3)


def test_a_store_holds_one_shard_per_block_and_variable_and_no_other_chunk_file(tmp_path):
    """16 toy runs in blocks of (1 seed, 2 lr): 8 blocks, each one shard of each of the 6
    variables (final_error, rel_error and the engine's 4) and a manifest: 56 files; besides,
    the root's zarr.json, the 9 arrays' (the 6 and the coordinates seed, lr, step), one
    chunk per coordinate and the coordinates' manifest: 14. 70 files, in 10 folders."""
    spec, store = toy(), tmp_path / "s.zarr"
    assert choose_chunks(spec) == (1, 2)
    run_sweep(spec, store)
    names = files(store)
    assert len(names) == 70 == layout_for(spec).files(8)
    assert sum(name.startswith(f"{MANIFESTS}/") for name in names) == 8 + 1
    for variable in TOY_VARIABLES:
        assert [n for n in names if n.startswith(f"{variable}/")] == sorted([
            f"{variable}/zarr.json",
            *(f"{variable}/c.{seed}.0" + ".0" * (variable == "rel_error") for seed in range(8))])
    assert len([path for path in store.rglob("*") if path.is_dir()]) == 10  # + the store itself
    assert root_attrs(store)["sweep_format"] == FORMAT
    group = zarr.open_group(str(store), mode="r")
    assert group["rel_error"].shards == (1, 2, 5) and group["done"].shards == (1, 2)


def test_every_shard_is_written_by_one_task(tmp_path):
    """Each shard file of a finished store is listed by exactly one block's manifest, and
    a manifest lists the shards of its own block only (the same grid index for every
    variable): no two tasks wrote one shard."""
    spec, store = toy(), tmp_path / "s.zarr"
    run_sweep(spec, store)
    listed: dict[str, list[str]] = {}
    for manifest in (store / MANIFESTS).glob("*.json"):
        if manifest.stem != "coordinates":
            keys = json.loads(manifest.read_text())["chunks"]
            assert {key.split("/c.")[1][:len(manifest.stem)] for key in keys} == {manifest.stem}
            for key in keys:
                listed.setdefault(key, []).append(manifest.stem)
    shards = [name for name in files(store) if name.split("/")[0] in TOY_VARIABLES and "/c." in name]
    assert sorted(listed) == shards and all(len(owners) == 1 for owners in listed.values())


def test_the_file_budget_makes_tasks_of_tiny_runs_large():
    """10^7 tiny relu_pgd runs (15 variables: 16 files a block, 23 besides): at most
    (10,000 - 23) / 16 = 623 blocks, so blocks of at least 17 data_seeds x 1000 seeds
    (ceil(10000 / 17) = 589 blocks, 9,447 files; 16 would make 625 blocks, 10,023 files),
    where runs of about 2 ms (the estimate) alone would make blocks of 1000 runs."""
    spec = parse_spec({"name": "tiny", "problem": "relu_pgd",
                       "params": {"d": 4, "s": 2, "iterations": 3, "n": 16, "n_test": 16},
                       "grid": {"data_seed": list(range(10_000)), "seed": list(range(1000))}}, max_runs=10**7)
    rows, seeds = choose_chunks(spec)
    assert seeds == 1000 and rows >= 17
    assert layout_for(spec).files(589) == 9447 <= FILE_BUDGET < layout_for(spec).files(625) == 10_023
    assert layout_for(spec).files(-(-10_000 // rows)) <= FILE_BUDGET


def test_where_runs_are_slow_the_budget_gives_way_to_tasks_of_minutes():
    """10^7 relu_pgd runs of about 40 ms (estimated): the budget would want 16,000 runs a
    block, 10 minutes of work; a block holds at most MAX_TASK_SECONDS of it."""
    spec = parse_spec({"name": "slow", "problem": "relu_pgd", "params": {"iterations": 40},
                       "grid": {"data_seed": list(range(10_000)), "seed": list(range(1000))}}, max_runs=10**7)
    seconds = spec.problem.run_seconds(spec.params_at((0, 0)))
    chunks = choose_chunks(spec)
    assert 16_000 * seconds > MAX_TASK_SECONDS >= math.prod(chunks) * seconds > MAX_TASK_SECONDS / 2


def test_a_format_3_store_resumes_grows_and_verifies_in_its_own_layout(tmp_path):
    """A /3 store (one chunk file per block and variable, folders per index) is resumed
    into the same layout, grown from 8 to 10 seeds with its chunk files hard-linked, and
    holds the same runs as /4 stores of the same specs."""
    old, new = tmp_path / "old.zarr", tmp_path / "new.zarr"
    old_layout_store(old, toy(), (1, 2))
    run_sweep(toy(), old)
    run_sweep(toy(), new)
    assert root_attrs(old)["sweep_format"] == FORMAT_3 and zarr.open_group(str(old))["done"].shards is None
    assert "done/c/3/0" in files(old) and not scan_store(old, decode=True).damaged
    xr.testing.assert_identical(runs(old), runs(new))

    inode = (old / "final_error" / "c" / "3" / "0").stat().st_ino
    run_sweep(toy(range(10)), old)
    run_sweep(toy(range(10)), tmp_path / "whole.zarr")
    assert root_attrs(old)["sweep_format"] == FORMAT_3
    assert (old / "final_error" / "c" / "3" / "0").stat().st_ino == inode
    health = scan_store(old, decode=True)
    assert health.done.all() and not health.damaged
    xr.testing.assert_identical(runs(old), runs(tmp_path / "whole.zarr"))


def test_a_format_3_store_and_a_format_4_one_merge_into_a_format_4_store(tmp_path):
    """Seeds 0-3 in a /3 store and 4-7 in a /4 store merge into the store of seeds 0-7."""
    first, second = tmp_path / "first.zarr", tmp_path / "second.zarr"
    old_layout_store(first, toy(range(4)), (1, 2))
    run_sweep(toy(range(4)), first)
    run_sweep(toy(range(4, 8)), second)
    run_sweep(toy(), tmp_path / "whole.zarr")
    merge_stores([first, second], tmp_path / "merged.zarr", None)
    assert root_attrs(tmp_path / "merged.zarr")["sweep_format"] == FORMAT
    merged = runs(tmp_path / "merged.zarr")
    np.testing.assert_array_equal(merged["seed"].values, np.arange(8))
    xr.testing.assert_identical(merged, runs(tmp_path / "whole.zarr"))


def test_a_resume_checks_files_by_fingerprint_and_by_digest_where_those_differ(tmp_path):
    """A store copied elsewhere (new inodes: no file has the fingerprint its manifest
    records) resumes with nothing to do, its files found by their digests; a shard
    replaced by another of the same size after its block's manifest is damage to the
    resume's scan, without decoding."""
    import shutil

    from sweep.engine import plan_sweep

    store, copy = tmp_path / "s.zarr", tmp_path / "copy.zarr"
    run_sweep(toy(), store)
    shutil.copytree(store, copy)
    plan = plan_sweep(toy(), copy)
    assert plan.pending == () and not plan.health.damaged and plan.health.done.all()
    shard = copy / "final_error" / "c.3.0"
    replacement = copy / "final_error" / "c.4.0"
    assert shard.stat().st_size == replacement.stat().st_size
    shutil.copy(replacement, copy / "replacement")
    (copy / "replacement").replace(shard)
    plan = plan_sweep(toy(), copy)
    assert list(plan.health.damaged) == [(3, 0)] and [block.origin for block in plan.pending] == [(3, 0)]
    assert "not the chunk its block's writer recorded" in plan.health.damaged[(3, 0)][0]
