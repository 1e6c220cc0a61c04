"""The README's measured results (sweep/measured.py, `sweep paper --update-readme`): read
from the stores, written between their markers only, refused before any run without them."""
from __future__ import annotations

import numpy as np
import xarray as xr
import zarr

from sweep.cli import EXIT_USAGE, main
from sweep.measured import preset_result, results_table, update_measured
from sweep.report import stored_problem, with_defaults
from tests.committed_stores import DATA

README = """# Title

Prose before, with a table of its own:

| a | b |
|---|---|
| 1 | 2 |

<!-- sweep paper separable -->
| stale | numbers |
<!-- end -->

<!-- sweep paper relu_pgd -->
kept: this problem was not run
<!-- end -->
Prose after.
"""


def committed(case: str) -> xr.Dataset:
    with zarr.storage.ZipStore(DATA / f"{case}.zarr.zip", mode="r") as store:
        return xr.open_zarr(store).load()


def parts(text: str) -> tuple[str, str, str]:
    """(before, inside, after) the separable block."""
    head, rest = text.split("<!-- sweep paper separable -->\n")
    return (head, *rest.split("<!-- end -->", 1))


def test_the_block_holds_the_stores_numbers_and_nothing_else_changes():
    from importlib import import_module

    ds = committed("fig9_outlier")
    checks = import_module(stored_problem(ds).report).checks(with_defaults(ds, stored_problem(ds)))
    result = preset_result("fig9_outlier", ds, checks)
    assert (result.done, result.runs) == (int(ds["done"].sum()), ds["done"].size)
    assert np.isclose(result.seconds, float(ds["wall_time"].sum()))

    text = update_measured(README, {"separable": results_table([result])})
    head, block, tail = parts(text)
    assert (head, tail) == parts(README)[::2] and "stale" not in block
    rows = block.splitlines()[2:]
    assert len(rows) == len(checks) and rows[0].startswith(f"| `fig9_outlier` | {result.done}/{result.runs} | ")
    for row, check in zip(rows, checks):
        escaped = check.summary.replace("|", "\\|")
        assert row.endswith(f" | {escaped} |")
    assert update_measured(text, {"separable": results_table([result])}) == text  # a second update: the same text


def test_a_readme_without_the_block_is_refused_before_any_run(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no generated blocks\n")
    out = tmp_path / "out"
    assert main(["paper", "--problem", "relu_student", "--serial", "--out", str(out),
                 "--update-readme", str(readme)]) == EXIT_USAGE
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "<!-- sweep paper relu_student -->" in error and str(readme) in error
    assert not out.exists() and readme.read_text() == "# no generated blocks\n"
