"""Small stores of every registered problem, written by the real `sweep run` in a new
process (serially: a few seconds each), for the tests of replay and of the accessor."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

# One small sweep per problem; the last run of each is the one replayed.
SPECS = {
    "separable": {"params": {"n": 30, "n_test": 20, "d": 3, "width": 4, "max_epochs": 3000, "save_weights": True},
                  "grid": {"seed": [0, 1, 2], "alpha": [0.1, 0.5], "optimizer": ["gd", "sgd"]}},
    "relu_pgd": {"params": {"d": 100, "n": 80, "s": 4, "n_test": 50, "iterations": 12},
                 "grid": {"seed": [0, 1, 2], "constraint": ["l1", "l0"]}},
    "relu_student": {"params": {"d": 2, "m": 2, "M": 6, "batch": 100, "steps": 40},
                     "grid": {"seed": [0, 1, 2]}},
    "biased_relu": {"params": {"d": 4, "m": 2, "N": 4000, "n_test": 200, "steps": 50, "refine_steps": 20},
                    "grid": {"seed": [0, 1, 2], "learner": ["moments", "hybrid", "sgd"]}},
}


def last_run(name: str) -> dict:
    """The grid point of the last run of SPECS[name]."""
    return {key: values[-1] for key, values in SPECS[name]["grid"].items()}


def write_store(name: str, folder: Path) -> Path:
    """`sweep run --serial` of SPECS[name] into folder/<name>.zarr; the store's path."""
    spec, store = folder / f"{name}.yaml", folder / f"{name}.zarr"
    spec.write_text(yaml.safe_dump({"name": f"small_{name}", "problem": name, **SPECS[name]}, sort_keys=False))
    subprocess.run([str(Path(sys.executable).parent / "sweep"), "run", str(spec), "--store", str(store), "--serial"],
                   check=True, capture_output=True, text=True)
    return store
