"""Markdown tables of a report, for every problem: rows of cells, and a section over one
row per grid point (or setting) that shows the first MAX_TABLE_ROWS and says so."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import pandas as pd
import xarray as xr

MAX_TABLE_ROWS = 100  # rows of a per-point table shown in report.md (summary.csv has all)


def markdown_rows(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table: the header, its rule, one line per row of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)])


def table_section(title: str, intro: str, table: pd.DataFrame, header: Sequence[str],
                  cells: Callable[[dict], Sequence[Any]], rest: str | None = "all in summary.csv") -> str:
    """"## <title>", then ``intro`` and the first MAX_TABLE_ROWS rows of ``table`` (each
    row a dict, turned into its cells by ``cells``); a longer table says "(first N of M;
    <rest>)" in the title."""
    shown = ""
    if len(table) > MAX_TABLE_ROWS:
        shown = f" (first {MAX_TABLE_ROWS} of {len(table)}{'; ' + rest if rest else ''})"
    rows = [cells(row) for row in table.head(MAX_TABLE_ROWS).to_dict("records")]
    return f"## {title}{shown}\n\n{intro}\n\n{markdown_rows(header, rows)}"


def frame(summary: xr.Dataset) -> pd.DataFrame:
    """A per-grid-point Dataset as a table, one row per grid point (one row if it has no dims)."""
    if not summary.dims:
        return pd.DataFrame([{name: value.item() for name, value in summary.data_vars.items()}])
    return summary.to_dataframe().reset_index()
