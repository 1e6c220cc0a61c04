"""What every figure of every problem shares: one style, the file contract, panels,
curves over seeds (the median and its interquartile band, or each seed where few:
:func:`median_and_band`), and where in the grid a figure is drawn.

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
import textwrap
from pathlib import Path
from typing import Any, Callable

import matplotlib
import matplotlib.ticker
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from analysis.stats import SEED_DIM, nanmedian, nanquantiles, point_dims, spec_of

PANEL_SIZE = (4.8, 4.0)  # inches per panel (width, height)
QUARTILES = (0.25, 0.75)  # the band of a median over seeds: the interquartile range
CHARACTERS_PER_INCH = 12.5  # of a 9-pt title line (titles are wrapped to their panel's or figure's width)
LEGEND_ROW = 0.2          # inches per line of a legend row under the panels
MIN_BAND_SEEDS = 5        # fewer seeds than this are drawn one by one, never as a band or interval
DPI = 100
RASTER_MARKS = 10_000     # a scatter of more marks than this is a bitmap in the SVG too (a file of bounded size)
MARK_CELLS = 2_000        # per axis of a log-log scatter: marks of one colour in one cell are drawn once
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


def distinct_marks(x: np.ndarray, y: np.ndarray, colour: np.ndarray | None = None,
                   keep: np.ndarray | None = None, cells: int = MARK_CELLS) -> np.ndarray:
    """Indices, in their order, of the marks of a log-log scatter of ``(x, y)`` (positive)
    that differ on the drawing: the first mark of each ``colour`` (None: one colour) in each
    cell of a ``cells`` x ``cells`` grid over the log ranges of x and y (at MARK_CELLS a
    cell is a fraction of a pixel: the drawing looks the same), and every mark where
    ``keep`` is True (e.g. the runs that break a bound) whatever its cell. A scatter of 10^6
    runs draws at most a few 10^4 marks."""
    if x.size == 0:
        return np.arange(0)
    key = np.zeros(x.size, np.int64)
    for values in (x, y):
        logs = np.log(values)
        span = logs.max() - logs.min()
        cell = np.zeros(x.size, np.int64) if span == 0 else np.minimum((logs - logs.min()) / span * cells, cells - 1)
        key = key * cells + cell.astype(np.int64)
    if colour is not None:
        key = key * x.size + np.unique(colour, return_inverse=True)[1].reshape(-1)
    first = np.unique(key, return_index=True)[1]
    if keep is not None:
        first = np.union1d(first, np.flatnonzero(keep))
    return np.sort(first)


def panels(n: int, legend_rows: int = 0) -> tuple[Figure, list]:
    """A figure of ``n`` panels side by side, and their axes; ``legend_rows``: lines of a
    :func:`legend_row` under them (the figure grows by LEGEND_ROW inches per line)."""
    fig = Figure(figsize=(PANEL_SIZE[0] * n, PANEL_SIZE[1] + LEGEND_ROW * legend_rows), dpi=DPI, layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, n)))


def panel_grid(rows: int, columns: int, square: bool = False, legend_width: float = 0.0) -> tuple[Figure, np.ndarray]:
    """A figure of ``rows`` x ``columns`` panels (``square``: PANEL_SIZE[1] wide), and their
    axes as a (rows, columns) array; ``legend_width``: inches per column for a
    :func:`legend_beside` each panel."""
    width = (PANEL_SIZE[1] if square else PANEL_SIZE[0]) + legend_width
    fig = Figure(figsize=(width * columns, PANEL_SIZE[1] * rows), dpi=DPI, layout="constrained")
    return fig, np.asarray(fig.subplots(rows, columns, squeeze=False))


def median_and_band(ax, x: np.ndarray, per_seed: np.ndarray, color: str, label: str | None, linestyle: str = "-",
                    lw: float | None = None, floor: float = -np.inf, each_seed: bool = False) -> None:
    """Curves ``per_seed`` (seeds, x) as their median over seeds (a line labelled ``label``)
    and their spread (:func:`spread_note` says which): the interquartile band when at least
    MIN_BAND_SEEDS seeds have curves, else (or with ``each_seed``) one thin line per seed.
    Values below ``floor`` are drawn at it (e.g. 0 on a log axis); an x where no seed has a
    value is a gap."""
    per_seed = np.where(per_seed < floor, floor, per_seed)
    if each_seed or not banded(per_seed):
        for curve in per_seed:
            ax.plot(x, curve, linestyle, color=color, lw=0.6, alpha=0.45)
    else:
        low, high = nanquantiles(per_seed.T, np.array(QUARTILES)).T
        ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0)
    ax.plot(x, nanmedian(per_seed.T), linestyle, color=color, lw=lw, label=label)


def banded(per_seed: np.ndarray) -> bool:
    """Whether :func:`median_and_band` draws ``per_seed`` (seeds, x) as a band (enough seeds)."""
    return _seeds(per_seed) >= MIN_BAND_SEEDS


def _seeds(per_seed: np.ndarray) -> int:
    return int(np.any(np.isfinite(per_seed), axis=1).sum())


def spread_note(per_seed: np.ndarray, each_seed: bool = False) -> str:
    """What :func:`median_and_band` draws around the median of ``per_seed`` (seeds, x), in words."""
    seeds = _seeds(per_seed)
    if each_seed or not banded(per_seed):
        return f"median and each of the {seeds} seed{'s' * (seeds != 1)} (thin lines)"
    return f"median and interquartile band over {seeds} seeds"


def spread_entry(ax, per_seed: np.ndarray, each_seed: bool = False) -> None:
    """A grey legend entry for the spread that :func:`median_and_band` drew around ``per_seed``."""
    seeds = _seeds(per_seed)
    if each_seed or not banded(per_seed):
        ax.plot([], [], "-", color="0.5", lw=0.6, alpha=0.6, label=f"thin lines: each of the {seeds} seeds")
    else:
        ax.fill_between([], [], [], color="0.5", alpha=0.2, lw=0, label=f"band: interquartile range over {seeds} seeds")


def legend_row(fig: Figure, axes, columns: int | None = None) -> None:
    """One legend under the panels, outside the data, for every labelled mark of ``axes``
    (a label shared by several panels once), in ``columns`` columns (default: one per panel)."""
    entries: dict[str, Any] = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center",
                   ncols=columns or len(np.ravel(axes)))


def legend_beside(ax, fontsize: float = 8) -> None:
    """The panel's legend outside its data, to the right of the axes (constrained layout
    makes room for it)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=fontsize)


def wrapped(text: str, inches: float = PANEL_SIZE[0]) -> str:
    """``text`` broken into lines that fit ``inches`` at 9 pt (existing line breaks kept)."""
    width = int(inches * CHARACTERS_PER_INCH)
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def figure_title(fig: Figure, text: str) -> None:
    """The figure's title (the setting, the claim), wrapped to the figure's width."""
    fig.suptitle(wrapped(text, fig.get_figwidth()), fontsize=9)


def seeds_phrase(ds: xr.Dataset, each: str = "") -> str:
    """'40 seeds' or '8 seeds x 4 data sets' (``data_seed`` swept); ``each`` says what a seed draws."""
    seeds = ds.sizes.get(SEED_DIM, 1)
    text = f"{seeds} seed{'s' * (seeds != 1)}" + (f" ({each})" if each else "")
    if "data_seed" in ds.dims:
        text += f" x {ds.sizes['data_seed']} data sets"
    return text


def setting(ds: xr.Dataset, names: tuple[str, ...], held: dict[str, Any] | None = None,
            dim_names: dict[str, str] | None = None) -> str:
    """The fixed parameters ``names`` of a figure, as the spec fixes them or the figure holds
    them (``held``), in words: 'd = 1000, s = 20, constraint = l0'. A name the figure varies
    (a grid dim not held) is left out."""
    held = held or {}
    values = {}
    for name in names:
        if name in held:
            values[name] = held[name]
        elif name not in ds.dims:
            try:
                values[name] = parameter_values(ds, name)[0]
            except KeyError:
                continue
    return describe_point(values, dim_names)


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
    as in :func:`median_and_band` (an interquartile band, or one thin line per seed).

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
        spread_entry(ax, per_seed, each_seed)
    ax.set(xscale="log", xlabel=dim_names.get(along, along), ylabel=ylabel,
           title=describe_point(held, dim_names) or "all runs")
    ax.legend(fontsize=7)


def readable_log_ticks(axis) -> None:
    """Tick labels of a log ``axis`` that never crowd: the minor ticks unlabelled, and over
    less than two decades in view majors at 1, 2 and 5 times a power of ten (so that at least
    one is labelled). Call after the data are drawn (it reads the view limits)."""
    low, high = sorted(axis.get_view_interval())
    if low > 0 and np.log10(high / low) < 2:
        axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(matplotlib.ticker.LogFormatterSciNotation(labelOnlyBase=False))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
