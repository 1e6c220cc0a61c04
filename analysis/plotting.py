"""What every figure of every problem shares: one style, the file contract, panels,
curves over seeds, and where in the grid a figure is drawn.

A figure function has the contract ``figure(ds, out_dir) -> list[Path]``: it draws from
the Dataset of :func:`analysis.stats.open_results`, writes ``out_dir/<name>.png`` and
``.svg`` and returns both paths, or returns [] without writing when the store lacks
what the figure needs. :func:`figure_file` turns ``plot(ds) -> Figure | None`` into one.

One style for all: :data:`STYLE`, panels of PANEL_SIZE inches at DPI, so a figure of
p panels is a PNG of (PANEL_SIZE[1] * DPI, p * PANEL_SIZE[0] * DPI) pixels. Plots use
matplotlib's object API (no pyplot state, no GUI backend needed).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from analysis.stats import SEED_DIM, nanmedian, point_dims, problem_of, spec_of

PANEL_SIZE = (4.8, 4.0)  # inches per panel (width, height)
DPI = 100
STYLE = {"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "lines.linewidth": 1.5,
         "legend.fontsize": 8, "axes.titlesize": 9, "svg.fonttype": "none"}

FigureFile = Callable[[xr.Dataset, Path], list]


def figure_file(plot: Callable[[xr.Dataset], Figure | None]) -> FigureFile:
    """Turn ``plot(ds) -> Figure or None`` into a figure writing ``<plot name>.png/.svg``."""

    @functools.wraps(plot)
    def write(ds: xr.Dataset, out_dir: Path) -> list[Path]:
        with matplotlib.rc_context(STYLE):
            fig = plot(ds)
            if fig is None:
                return []
            out_dir = Path(out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            paths = [out_dir / f"{plot.__name__}.{ext}" for ext in ("png", "svg")]
            for path in paths:
                fig.savefig(path, dpi=DPI)
            return paths

    return write


def panels(n: int) -> tuple[Figure, list]:
    """A figure of ``n`` panels side by side, and their axes."""
    fig = Figure(figsize=(PANEL_SIZE[0] * n, PANEL_SIZE[1]), dpi=DPI, layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, n)))


# ---------------------------------------------------------------- what a store holds

def parameter_values(ds: xr.Dataset, name: str) -> list:
    """The values a run parameter takes in the store: its grid coordinate, its fixed
    value in the spec, or the problem's default."""
    if name in ds.dims:
        return [as_python(value) for value in ds[name].values]
    params = spec_of(ds).get("params", {})
    if name in params:
        return [params[name]]
    from sweep.problems import get_problem  # the registry: the one import from sweep

    return [get_problem(problem_of(ds)).params.defaults()[name]]


def run_parameters(ds: xr.Dataset, point: dict[str, Any]) -> dict[str, Any]:
    """The parameters of the run at ``point`` (all grid dims): spec params + grid values."""
    return {**spec_of(ds).get("params", {}), **{key: as_python(value) for key, value in point.items()}}


def as_python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def has(ds: xr.Dataset, *names: str) -> bool:
    return all(name in ds for name in names)


def reference_point(ds: xr.Dataset, free: tuple[str, ...]) -> dict[str, Any]:
    """Hold every point dim not in ``free`` at its middle value (stated in figure titles)."""
    return {dim: as_python(ds[dim].values[ds.sizes[dim] // 2]) for dim in point_dims(ds) if dim not in free}


def first_seed_point(ds: xr.Dataset, free: tuple[str, ...]) -> dict[str, Any]:
    """The first seed's run at the reference point of the dims not in ``free``."""
    seed = {SEED_DIM: ds[SEED_DIM].values[0].item()} if SEED_DIM in ds.dims else {}
    return {**seed, **reference_point(ds, free)}


def describe_point(point: dict[str, Any]) -> str:
    return ", ".join(f"{dim}={value:g}" if isinstance(value, float) else f"{dim}={value}"
                     for dim, value in point.items())


def draw_curves(ax, ds: xr.Dataset, names: tuple[str, ...], along: str, ylabel: str,
                transform: Callable[[xr.DataArray], xr.DataArray] = lambda x: x, prefix: str = "",
                labels: dict[str, str] | None = None) -> None:
    """Median over seeds (line) and min-max over seeds (band) of each curve against ``along``.

    Each curve is plotted through ``transform`` (e.g. 1 - x, then labelled with
    ``prefix`` "1 - "); ``labels`` gives a curve's legend text (default: its name).
    One line per value of the first point dim with >= 2 values; other dims are held
    (see title).
    """
    lines_dim = next((dim for dim in point_dims(ds) if ds.sizes[dim] >= 2), None)
    held = reference_point(ds, (lines_dim,) if lines_dim else ())
    steps = ds[along].values
    for name, linestyle in zip(names, ("-", "--", ":", "-.")):
        values = transform(ds[name].sel(held)).compute()
        for index, line_value in enumerate(values[lines_dim].values if lines_dim else [None]):
            line = values.sel({lines_dim: line_value}) if lines_dim else values
            per_seed = line.transpose(..., along).values.reshape(-1, steps.size)
            color = f"C{index}"
            finite = np.isfinite(per_seed).any(axis=0)
            low = np.full(steps.size, np.nan)
            high = np.full(steps.size, np.nan)
            low[finite] = np.nanmin(per_seed[:, finite], 0)
            high[finite] = np.nanmax(per_seed[:, finite], 0)
            ax.fill_between(steps, low, high, color=color, alpha=0.15, lw=0)
            text = prefix + (labels or {}).get(name, name)
            label = text + ("" if line_value is None else f", {lines_dim}={as_python(line_value)}")
            ax.plot(steps, nanmedian(per_seed.T), linestyle, color=color, label=label)
    ax.set(xscale="log", xlabel=along, ylabel=ylabel, title=describe_point(held) or "all runs")
    ax.legend()

