"""The committed stores of tests/data: slices of the shipped presets, the BLAS they were
written with, and the command that writes them again.

    .venv/bin/python -m tests.committed_stores [CASE ...]   # all cases by default

Each case of tests/data/preset_slices.yaml is a preset with its grid replaced by a
slice of it; the writer runs it serially into a store (whose attribute ``blas_kernels``
says which OpenBLAS kernels computed its BLAS products, sweep/provenance.py) and zips it to
tests/data/<case>.zarr.zip. tests/test_store_equivalence.py reruns every slice and
compares. Write them again only on purpose (a change of stored numbers), and say why in
that test's docstring.
"""
from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

DATA = Path(__file__).parent / "data"
PRESETS = Path(__file__).parent.parent / "presets"
CASES = yaml.safe_load((DATA / "preset_slices.yaml").read_text())


def slice_spec(case: str):
    """The SweepSpec of a case: its preset with the case's grid (values from the preset's)."""
    from sweep.spec import load_spec, parse_spec

    preset = load_spec(PRESETS / CASES[case]["preset"]).normalised()
    for key, values in CASES[case]["grid"].items():
        if not set(values) <= set(dict(preset["grid"])[key]):
            raise ValueError(f"case {case}: grid {key} {values} is not a slice of the preset's")
    return parse_spec({"name": preset["name"],
                       "params": {k: v for k, v in preset["params"].items() if k not in CASES[case]["grid"]},
                       "grid": CASES[case]["grid"]})


def write(case: str) -> Path:
    """Run the slice serially and zip its store to tests/data/<case>.zarr.zip."""
    from sweep.engine import run_sweep

    target = DATA / f"{case}.zarr.zip"
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store.zarr"
        run_sweep(slice_spec(case), store)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(store.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(store).as_posix())
    return target


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(CASES):
        print(write(name))
