"""The runs of a ``relu_student`` store as tables: one row per run, or per setting.

A *setting* is a combination of the grid's values other than the replicate dims
``seed`` and ``data_seed``: its runs differ only in the student's init and batches and in
the teacher, so its success share estimates the probability THEORY.md §6.2 speaks of
("with high probability"), over both.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from analysis.stats import grid_dims

REPLICATE_DIMS = ("seed", "data_seed")
FINALS = ("e_mass_lam", "e_stray_lam", "e_ang_lam", "e_mass", "e_ang", "e_match", "final_D_K", "final_test_mse")


def setting_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The grid dims that are not replicate dims."""
    return tuple(dim for dim in grid_dims(ds) if dim not in REPLICATE_DIMS)


def runs_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per finished run: its grid coordinates, ``status`` and the final scalars."""
    names = ["status", "success", "steps_run", *FINALS]
    table = ds[names].where(ds["done"]).to_dataframe().reset_index()
    table = table[table["status"].notna() & (table["status"] >= 0)]
    return table[[*grid_dims(ds), *names]]


def settings_table(ds: xr.Dataset, by: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per combination of ``by`` (default: the setting dims): runs finished,
    runs that succeeded, their share, and the median of each of FINALS."""
    by = setting_dims(ds) if by is None else by
    runs = runs_table(ds)
    runs["identified"] = runs["success"] == 1
    aggregations = {"runs": ("status", "size"), "identified": ("identified", "sum"),
                    **{f"{name}_median": (name, "median") for name in FINALS}}
    if not by:
        table = runs.assign(_all=0).groupby("_all").agg(**aggregations).reset_index(drop=True)
    else:
        table = runs.groupby(list(by), sort=False).agg(**aggregations).reset_index()
    table.insert(len(by) + 2, "share", table["identified"] / table["runs"].where(table["runs"] > 0, np.nan))
    return table
