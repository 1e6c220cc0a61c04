"""The ``sweep report`` and ``sweep paper`` subcommands (handlers return the exit code).

- ``sweep report STORE --out DIR``: :func:`analysis.report.write_report`; exit 1 when a
  run exceeds the Theorem 4.1 bound (THEORY.md §2), so scripts notice.
- ``sweep paper --out DIR``: run every preset of :data:`PAPER_PRESETS` serially into
  ``DIR/<preset>.zarr`` (resuming what is there), report each into ``DIR/<preset>/``
  and link them from ``DIR/index.md`` (THEORY.md §5).
"""
from __future__ import annotations

import argparse
from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
PAPER_PRESETS = ("fig1_boundaries", "fig2_mnist_linear_regime", "fig4_par_prediction", "fig5_relu_vs_leaky",
                 "fig7_clustering", "fig8_par_share", "fig9_outlier")
EXIT_BOUND_VIOLATED = 1


def report(args: argparse.Namespace) -> int:
    """``sweep report STORE --out DIR``: figures, summary.csv and report.md of one store."""
    from analysis.report import bound_statement, write_report
    from analysis.stats import check_bound, open_results

    for path in write_report(args.store, args.out):
        print(path)
    check = check_bound(open_results(args.store))
    print(bound_statement(check).splitlines()[-1] if check.holds else bound_statement(check))
    return 0 if check.holds else EXIT_BOUND_VIOLATED


def paper(args: argparse.Namespace) -> int:
    """``sweep paper --out DIR``: every paper preset run, reported, and indexed in index.md."""
    from analysis.report import write_report
    from sweep.engine import run_sweep
    from sweep.spec import load_spec

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# The paper's figures (THEORY.md §5)", ""]
    for preset in PAPER_PRESETS:
        store = out / f"{preset}.zarr"
        print(f"{preset}: running into {store}")
        run_sweep(load_spec(PRESETS_DIR / f"{preset}.yaml"), store)
        written = write_report(store, out / preset)
        print(f"{preset}: {len(written)} files in {out / preset}")
        figures = [path for path in written if path.suffix == ".png"]
        lines += [f"## [{preset}]({preset}/report.md)", "", *(f"![]({preset}/{p.name})" for p in figures), ""]
    (out / "index.md").write_text("\n".join(lines))
    print(out / "index.md")
    return 0


def report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a store written by `sweep run`")
    parser.add_argument("--out", required=True, help="directory for the figures and report.md")


def paper_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="directory for the stores, reports and index.md")
