"""Moving the linear-teacher setting onto the problem plug-in seam changed no stored number.

tests/data/<case>.zarr.zip are stores written by the code before problems existed
(git_revision 16ec2d5 in their attributes) from slices of the shipped presets
(tests/data/preset_slices.yaml). Each slice is run again, serially, with the current code,
and the two stores must be identical: every variable and coordinate with its attributes,
the spec's parameters and grid; only ``wall_time`` and the provenance attributes
(versions, git revision, the spec's new ``problem`` key and hash) may differ.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
import yaml
import zarr

from sweep.engine import run_sweep
from sweep.spec import load_spec, parse_spec
from sweep.store import open_store

DATA = Path(__file__).parent / "data"
PRESETS = Path(__file__).parent.parent / "presets"
CASES = yaml.safe_load((DATA / "preset_slices.yaml").read_text())


def comparable(ds: xr.Dataset) -> xr.Dataset:
    spec = ds.attrs["spec"]
    ds = ds.drop_vars("wall_time").load()
    ds.attrs = {"params": spec["params"], "grid": spec["grid"]}
    return ds


@pytest.mark.parametrize("case", sorted(CASES))
def test_store_equals_the_one_written_before_problems(case, tmp_path):
    preset = load_spec(PRESETS / CASES[case]["preset"]).normalised()
    for key, values in CASES[case]["grid"].items():  # the slice takes its values from the preset's grid
        assert set(values) <= set(dict(preset["grid"])[key]), (case, key)
    raw = {"name": preset["name"], "params": {k: v for k, v in preset["params"].items()
                                              if k not in CASES[case]["grid"]},
           "grid": CASES[case]["grid"]}
    run_sweep(parse_spec(raw), tmp_path / "now.zarr")
    with zarr.storage.ZipStore(DATA / f"{case}.zarr.zip", mode="r") as store:
        before = comparable(xr.open_zarr(store))
    now = comparable(open_store(tmp_path / "now.zarr"))
    xr.testing.assert_identical(before, now)
