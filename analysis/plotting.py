"""What every figure of every problem shares: one style, the file contract, panels,
curves over seeds (the median and its band: :func:`median_and_band`), and where in the
grid a figure is drawn.

A figure function has the contract ``figure(ds, out_dir) -> list[Path]``: it draws from
the Dataset of :func:`analysis.stats.open_results`, writes ``out_dir/<name>.png`` and
``.svg`` and returns both paths, or returns [] without writing when the store lacks
what the figure needs. :func:`figure_file` turns ``plot(ds) -> Figure | None`` into one.

One style for all: :data:`STYLE`, panels of PANEL_SIZE inches at DPI, so a figure of
p panels is a PNG of (PANEL_SIZE[1] * DPI, p * PANEL_SIZE[0] * DPI) pixels, one of r rows
of c panels (:func:`panel_grid`) a PNG of (r * PANEL_SIZE[1] * DPI, c * PANEL_SIZE[0] * DPI)
(square panels of PANEL_SIZE[1] where a figure asks for them).
Plots use matplotlib's object API (no pyplot state, no GUI backend needed). Legends
speak words: a curve is labelled by its variable's ``long_name`` unless told otherwise,
and every band or thin line a figure draws has its own legend entry.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from analysis.stats import SEED_DIM, nanmedian, over_last_axis, point_dims, spec_of

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


def panel_grid(rows: int, columns: int, square: bool = False) -> tuple[Figure, np.ndarray]:
    """A figure of ``rows`` x ``columns`` panels (``square``: PANEL_SIZE[1] wide), and their
    axes as a (rows, columns) array."""
    width = PANEL_SIZE[1] if square else PANEL_SIZE[0]
    fig = Figure(figsize=(width * columns, PANEL_SIZE[1] * rows), dpi=DPI, layout="constrained")
    return fig, np.asarray(fig.subplots(rows, columns, squeeze=False))


def median_and_band(ax, x: np.ndarray, per_seed: np.ndarray, color: str, label: str | None, linestyle: str = "-",
                    lw: float | None = None, floor: float = -np.inf, each_seed: bool = False) -> None:
    """Curves ``per_seed`` (seeds, x) as their median over seeds (a line labelled ``label``)
    and their spread: the band from the smallest to the largest seed, or with ``each_seed``
    one thin line per seed. Values below ``floor`` are drawn at it (e.g. 0 on a log axis);
    an x where no seed has a value is a gap."""
    per_seed = np.where(per_seed < floor, floor, per_seed)
    if each_seed:
        for curve in per_seed:
            ax.plot(x, curve, linestyle, color=color, lw=0.6, alpha=0.45)
    else:
        low = over_last_axis(lambda values: np.nanmin(values, axis=-1), per_seed.T)
        high = over_last_axis(lambda values: np.nanmax(values, axis=-1), per_seed.T)
        ax.fill_between(x, low, high, color=color, alpha=0.15, lw=0)
    ax.plot(x, nanmedian(per_seed.T), linestyle, color=color, lw=lw, label=label)


# ---------------------------------------------------------------- what a store holds

def parameter_values(ds: xr.Dataset, name: str) -> list:
    """The values a run parameter takes in the store: its grid coordinate, or its fixed
    value in the spec (where `sweep report` has filled in the defaults that a store
    written before a parameter existed lacks). KeyError naming it when it is neither."""
    if name in ds.dims:
        return [as_python(value) for value in ds[name].values]
    params = spec_of(ds).get("params", {})
    if name not in params:
        raise KeyError(f"the store's spec has no parameter {name!r}")
    return [params[name]]


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


def describe_point(point: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """``dim=value, ...``; ``names`` gives a dim's words (e.g. init_scale -> "init scale")."""
    names = names or {}
    return ", ".join(f"{names.get(dim, dim)} = {value:g}" if isinstance(value, float) else
                     f"{names.get(dim, dim)} = {value}" for dim, value in point.items())


def draw_curves(ax, ds: xr.Dataset, names: tuple[str, ...], along: str, ylabel: str,
                transform: Callable[[xr.DataArray], xr.DataArray] = lambda x: x, prefix: str = "",
                labels: dict[str, str] | None = None, each_seed: bool = False,
                dim_names: dict[str, str] | None = None) -> None:
    """Median over seeds (thick line) of each curve against ``along``, with the seeds shown
    either as a min-max band (default) or, with ``each_seed``, as one thin line per seed.

    Each curve is plotted through ``transform`` (e.g. 1 - x, then labelled with
    ``prefix`` "1 - "); ``labels`` gives a curve's legend text (default: the variable's
    ``long_name``, else its name). One colour per value of the first point dim with >= 2
    values; other dims are held (see title). ``dim_names`` puts dims in words. The legend
    says what the band or the thin lines are, and over how many seeds.
    """
    dim_names = dim_names or {}
    lines_dim = next((dim for dim in point_dims(ds) if ds.sizes[dim] >= 2), None)
    held = reference_point(ds, (lines_dim,) if lines_dim else ())
    steps = ds[along].values
    n_seeds = ds.sizes.get(SEED_DIM, 1)
    for name, linestyle in zip(names, ("-", "--", ":", "-.")):
        values = transform(ds[name].sel(held)).compute()
        text = prefix + (labels or {}).get(name, ds[name].attrs.get("long_name", name))
        for index, line_value in enumerate(values[lines_dim].values if lines_dim else [None]):
            line = values.sel({lines_dim: line_value}) if lines_dim else values
            per_seed = line.transpose(..., along).values.reshape(-1, steps.size)
            value = "" if line_value is None else f", {dim_names.get(lines_dim, lines_dim)} = {as_python(line_value)}"
            median_and_band(ax, steps, per_seed, f"C{index}", f"{text}{value}: median over {n_seeds} "
                            f"seed{'s' * (n_seeds != 1)}", linestyle, lw=2.0, each_seed=each_seed)
    if n_seeds > 1:
        if each_seed:
            ax.plot([], [], "-", color="0.5", lw=0.6, alpha=0.6, label="thin lines: each seed")
        else:
            ax.fill_between([], [], [], color="0.5", alpha=0.15, lw=0, label=f"band: min to max over the {n_seeds} seeds")
    ax.set(xscale="log", xlabel=dim_names.get(along, along), ylabel=ylabel,
           title=describe_point(held, dim_names) or "all runs")
    ax.legend(fontsize=7)
