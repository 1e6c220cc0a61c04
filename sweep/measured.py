"""The README's measured results, generated from the stores ``sweep paper`` wrote.

``sweep paper --update-readme FILE`` rewrites the block of FILE between
``<!-- sweep paper PROBLEM -->`` and ``<!-- end -->`` of each problem it ran
(:func:`sweep.problems.docs.rewrite_blocks`): a row per check of each preset's report,
the line `sweep report` prints for it, beside the preset's finished runs and their run
time summed as the store records it (``wall_time``: worker-seconds, so a cluster of w
workers takes about 1/w of it). No number of these tables is typed by hand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from analysis.checks import Check
from analysis.tables import markdown_rows
from sweep.problems.docs import block_pattern, rewrite_blocks

COMMAND = "paper"


@dataclass(frozen=True)
class PresetResult:
    """What the README says of one preset: its finished and total runs, their summed
    ``wall_time`` (s) and its report's checks."""

    preset: str
    done: int
    runs: int
    seconds: float
    checks: tuple[Check, ...]


def preset_result(preset: str, ds: xr.Dataset, checks: list[Check]) -> PresetResult:
    """The :class:`PresetResult` of a store ``ds`` and the checks of its report."""
    wall = ds["wall_time"].values
    return PresetResult(preset, int(ds["done"].values.sum()), int(ds["done"].size),
                        float(np.nansum(wall)) if np.isfinite(wall).any() else math.nan, tuple(checks))


def duration(seconds: float) -> str:
    """'0.4 s', '42 s', '3.5 min' or '1.2 h'."""
    if not math.isfinite(seconds):
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 100:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 6000 else f"{seconds / 3600:.1f} h"


def results_table(results: list[PresetResult]) -> str:
    """The markdown table of a problem's presets: a row per check (the preset's cells on its first)."""
    rows = [(*((f"`{result.preset}`", f"{result.done}/{result.runs}", duration(result.seconds)) if index == 0
               else ("", "", "")), check.summary.replace("|", "\\|"))
            for result in results for index, check in enumerate(result.checks)]
    return markdown_rows(["preset", "runs done", "run time (summed)", "measured (the report's line)"], rows)


def missing_blocks(text: str, problems: list[str]) -> list[str]:
    """The problems of ``problems`` that ``text`` has no ``sweep paper`` block for."""
    present = {match.group("name") for match in block_pattern(COMMAND).finditer(text)}
    return [name for name in problems if name not in present]


def update_measured(text: str, tables: dict[str, str]) -> str:
    """``text`` with the ``sweep paper`` block of each problem in ``tables`` replaced by its table."""
    return rewrite_blocks(text, COMMAND, tables.get)
