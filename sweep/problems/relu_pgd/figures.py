"""Figures of the ``relu_pgd`` problem (THEORY.md §6.1).

Each follows the contract of :mod:`analysis.plotting` (``figure(ds, out_dir) -> list[Path]``,
[] when the store lacks what it needs). Every curve is a median over seeds with the
interquartile band (one thin line per seed with fewer than MIN_BAND_SEEDS seeds), no
interval is drawn from fewer than MIN_BAND_SEEDS seeds ('n = 3' is written instead), and
every legend entry says on how many seeds its claim holds (inside the envelope, success,
staying at 0):

- :func:`rate`: rel_err_t against t on a log axis, one line per n, with the 2^-t line;
  the fitted contraction factor of every seed against n / n0_hat; the support overlap.
- :func:`phase_success`, :func:`phase_envelope`: the share of seeds that succeed / stay
  inside the envelope against n / n0_hat, one panel per constraint, one curve per (d, s).
- :func:`phase_transition`: the n at which the fitted logistic in log n crosses 50% and 95%
  success (profile-likelihood intervals) against d and against s, one row per constraint,
  beside the theory's scaling c n0_hat(d, s) (c fitted per constraint and share): whether
  the curves collapse.
- :func:`convention`: rel_err_t for each relu'(0) (panels) and mu0 (lines).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, NullLocator

from analysis.plotting import (LEGEND_ROW, MIN_BAND_SEEDS, FigureFile, describe_point, figure_file, figure_title,
                               legend_row, median_and_band, panel_grid, panels, parameter_values, reference_point,
                               seeds_phrase, setting, spread_entry, spread_note, wrapped)
from analysis.stats import CONFIDENCE, nanmedian, point_dims, with_seed_dim
from sweep.problems.relu_pgd.summary import (CROSSINGS, FIT_SHARE, TARGET_SHARE, collapse, contraction_law,
                                             crossing_column, per_seed, point_table, seeds_with_values,
                                             transition_points, with_fixed)
from sweep.problems.relu_pgd.theory import (CONTRACTION_EXPONENT, CONTRACTION_WINDOW, ENVELOPE_RATE, envelope,
                                            n0_hat)
from sweep.problems.relu_pgd.variables import ITERATION, short_number

MAX_LINES = 8          # lines per panel of the curve figures (evenly picked when n has more values)
MAX_DOTS = 2000        # seeds drawn as dots per n (evenly picked when there are more; medians use all)
DRAW_FLOOR = 1e-20     # rel_err = 0 (w_t = w* to the last bit) is drawn here on log axes
ERROR_LABEL = "||w_t - w*|| / ||w*||"
FLOOR_NOTE = f"0 drawn at {DRAW_FLOOR:g}"
RATIO_LABEL = "n / n0_hat   (n0_hat = 2 s ln(d/s))"


def _swept(ds: xr.Dataset, dim: str, at_least: int = 2) -> bool:
    return dim in ds.dims and ds.sizes[dim] >= at_least


def _count(ds: xr.Dataset, name: str, point: dict[str, Any]) -> tuple[int, int]:
    """(runs where the flag ``name`` holds, finished runs) at ``point`` (every point dim),
    from :func:`.summary.point_table`."""
    table = point_table(ds)
    row = table[np.logical_and.reduce([table[dim] == value for dim, value in point.items()], initial=True)]
    return (int(row[f"{name}_count"].iloc[0]), int(row["runs"].iloc[0])) if len(row) else (0, 0)


def _envelope_line(ax, t: np.ndarray) -> None:
    ax.plot(t, envelope(t), "k--", lw=1.0, label="2^-t (the theorem's envelope)")


def _picked(values: list, limit: int = MAX_LINES) -> list:
    """At most ``limit`` of ``values``, evenly spaced, first and last included."""
    if len(values) <= limit:
        return values
    return [values[i] for i in np.unique(np.linspace(0, len(values) - 1, limit).round().astype(int))]


SETTING = ("d", "s", "constraint", "iterations", "mu0", "mu", "relu_slope_at_zero", "dtype")


def _title(ds: xr.Dataset, held: dict[str, Any]) -> str:
    """The setting of a figure: the fixed parameters and the seeds (each a new teacher and data)."""
    return f"relu_pgd: {setting(ds, SETTING, held)}; {seeds_phrase(ds, 'each a new teacher and data')}"


def _contraction_law(factors, ratios: np.ndarray, per_seed: np.ndarray, law) -> None:
    """Each seed's fitted factor (dots, jittered along x; MAX_DOTS seeds per n at most), the medians (circles), the power law
    fitted to the medians (:func:`.summary.contraction_law`, with its interval), the theory's
    (n / n0_hat)^-1/2 with its constant fitted, and the envelope's 1/2."""
    drawn = per_seed[_picked(list(range(per_seed.shape[0])), MAX_DOTS)]
    jitter = np.exp(np.random.default_rng(0).uniform(-0.04, 0.04, drawn.shape))
    some = "" if len(drawn) == len(per_seed) else f"; {len(drawn)} of the {len(per_seed)} seeds drawn, evenly spread"
    factors.plot((ratios * jitter).ravel(), drawn.ravel(), ".", color="0.35", ms=3, alpha=0.5,
                 label=f"fitted factor of one seed (jittered in x{some})")
    factors.plot(ratios, nanmedian(per_seed.T), "o", color="k", mfc="w", ms=6, label="median over seeds")
    if law is not None:
        x = np.geomspace(law.x.min(), law.x.max(), 50)
        seeds = seeds_with_values(per_seed)
        interval = (f"exponent {CONFIDENCE:.0%} interval [{law.lo:.2f}, {law.hi:.2f}] (bootstrap over seeds)"
                    if seeds >= MIN_BAND_SEEDS else f"n = {seeds} seeds: no interval")
        factors.plot(x, law(x), "-", color="tab:red", lw=1.5,
                     label=f"fit to the medians (n with >= {FIT_SHARE:.0%} of seeds): {law.amplitude:.2f} "
                           f"(n/n0_hat)^{law.exponent:.2f},\n{interval}")
        amplitude = law.amplitude_for(CONTRACTION_EXPONENT)
        where = (f" ({'inside' if law.contains(CONTRACTION_EXPONENT) else 'outside'} the fit's interval)"
                 if seeds >= MIN_BAND_SEEDS else "")
        factors.plot(x, amplitude * x ** CONTRACTION_EXPONENT, "--", color="tab:blue", lw=1.5,
                     label=f"theory: A (n/n0_hat)^{CONTRACTION_EXPONENT:g}, A = {amplitude:.2f} fitted{where}")
    factors.axhline(ENVELOPE_RATE, color="k", ls=":", lw=1.0, label="1/2: the envelope's rate")


@figure_file
def rate(ds: xr.Dataset) -> Figure | None:
    """THEORY.md §6.1 (a): rel_err_t vs t on a log axis per n, with the 2^-t line; the
    fitted contraction factor per seed vs n / n0_hat with the fitted power law and the
    theory's (n / n0_hat)^-1/2; the support overlap vs t."""
    if not (_swept(ds, "n") and "rel_err" in ds):
        return None
    t = ds[ITERATION].values
    fig, (errors, factors, overlaps) = panels(3, legend_rows=8)
    held, ratios, contractions, law = contraction_law(ds)
    picked = _picked(parameter_values(ds, "n"))
    ticks = []
    for index, (n, ratio) in enumerate(zip(parameter_values(ds, "n"), ratios)):
        point = {**held, "n": n}
        ticks.append(f"{ratio:.3g}\n{int(np.isfinite(contractions[:, index]).sum())}/"
                     f"{int(np.isfinite(per_seed(ds, 'n_over_n0', point)).sum())}")
        if n not in picked:
            continue
        color = f"C{index}"
        inside, runs = _count(ds, "envelope_ok", point)
        succeeded, _ = _count(ds, "success", point)
        label = f"n/n0_hat = {ratio:.3g}: inside 2^-t {inside}/{runs}, success {succeeded}/{runs}"
        curves = per_seed(ds, "rel_err", point)
        median_and_band(errors, t, curves, color, label, floor=DRAW_FLOOR)
        median_and_band(overlaps, t, per_seed(ds, "support_overlap", point), color, label)
    spread_entry(errors, curves)
    _envelope_line(errors, t)
    drawn = "" if len(picked) == len(ratios) else f" ({len(picked)} of the {len(ratios)} n drawn)"
    errors.set(yscale="log", xlabel="t (PGD step)", ylabel=ERROR_LABEL,
               title=wrapped(f"error along PGD{drawn}\n{spread_note(curves)}; {FLOOR_NOTE}"))
    _contraction_law(factors, ratios, contractions, law)
    factors.set(xscale="log", yscale="log", xlabel=f"{RATIO_LABEL}\n(second line: seeds with a factor / seeds)",
                ylabel="fitted contraction factor per step",
                title=f"contraction factor (fit where {short_number(CONTRACTION_WINDOW[0])} < rel_err_t < "
                      f"{short_number(CONTRACTION_WINDOW[1])})")
    factors.set_xticks(ratios, ticks)
    factors.xaxis.set_minor_formatter(NullFormatter())
    factors.xaxis.set_minor_locator(NullLocator())
    overlaps.set(xlabel="t (PGD step)", ylabel="|supp(w_t) ∩ supp(w*)| / s", ylim=(-0.02, 1.02),
                 title="support overlap (same lines)")
    figure_title(fig, _title(ds, held))
    legend_row(fig, (errors, factors, overlaps), columns=2)
    return fig


def _phase(ds: xr.Dataset, name: str, ylabel: str) -> Figure | None:
    """Share of seeds with flag ``name`` vs n / n0_hat: a panel per constraint, a curve per (d, s)."""
    if not (_swept(ds, "n", 3) and name in ds):
        return None
    curves = ("constraint", "d", "s")
    held = reference_point(ds, ("n", *curves))
    table = with_fixed(point_table(ds), ds, curves)
    for dim, value in held.items():
        table = table[table[dim] == value]
    constraints = parameter_values(ds, "constraint")
    fig, axes = panels(len(constraints))
    for ax, constraint in zip(axes, constraints):
        rows = table[table["constraint"] == constraint]
        for index, ((d, s), group) in enumerate(rows.groupby(["d", "s"], sort=True)):
            group = group.sort_values("n_over_n0")
            color = f"C{index}"
            share = group[f"{name}_share"]
            runs = int(group["runs"].min())
            if runs >= MIN_BAND_SEEDS:
                ax.errorbar(group["n_over_n0"], share, yerr=[share - group[f"{name}_lo"], group[f"{name}_hi"] - share],
                            fmt="o-", color=color, ms=3, lw=1.2, elinewidth=0.6, capsize=1.5, alpha=0.85,
                            label=f"d={d}, s={s} ({runs} seeds)")
            else:
                ax.plot(group["n_over_n0"], share, "o-", color=color, ms=3, lw=1.2, alpha=0.85,
                        label=f"d={d}, s={s} (n = {runs} seeds: no interval)")
        ax.axhline(TARGET_SHARE, color="k", ls=":", lw=1.0, label=f"{TARGET_SHARE:.0%}")
        where = describe_point(held)
        ax.set(xscale="log", xlabel=RATIO_LABEL, ylabel=ylabel, ylim=(-0.02, 1.02),
               title=wrapped(f"constraint {constraint}{'; ' + where if where else ''} (bars: 95% Wilson intervals, "
                             f"from >= {MIN_BAND_SEEDS} seeds)"))
        ax.legend(fontsize=7)
    return fig


@figure_file
def phase_success(ds: xr.Dataset) -> Figure | None:
    """THEORY.md §6.1 (b): share of seeds with rel_err_T < 1e-6 vs n / n0_hat, curves per (d, s)."""
    return _phase(ds, "success", "share of seeds with rel_err_T < 1e-6")


@figure_file
def phase_envelope(ds: xr.Dataset) -> Figure | None:
    """THEORY.md §6.1 (b): share of seeds with rel_err_t <= 2^-t at every t vs n / n0_hat."""
    return _phase(ds, "envelope_ok", "share of seeds with rel_err_t <= 2^-t for all t >= 1")


TRANSITION_DIMS = ("constraint", "d", "s")
CROSSING_MARKERS = {0.5: ("o", "full"), TARGET_SHARE: ("s", "none")}
CROSSING_LINES = {0.5: "--", TARGET_SHARE: ":"}
LINE_COLORS = {"s": ("C0", "C1", "C2", "C4", "C5"), "d": ("C3", "C6", "C8", "C9", "C7")}  # colour per value of the other dim


def held_transitions(ds: xr.Dataset) -> tuple[dict, pd.DataFrame]:
    """The point dims held (all but n, constraint, d, s, at their middle value) and
    :func:`.summary.transition_points` of the success and envelope counts there, with
    constraint, d and s as columns."""
    held = reference_point(ds, ("n", *TRANSITION_DIMS))
    table = with_fixed(point_table(ds), ds, TRANSITION_DIMS)
    for dim, value in held.items():
        table = table[table[dim] == value]
    dims = tuple(dim for dim in point_dims(ds) if dim not in held)
    return held, with_fixed(transition_points(table, dims), ds, TRANSITION_DIMS)


def _crossings(ax, rows: pd.DataFrame, along: str, color: str, label: str, offset: float) -> None:
    """n at each share of CROSSINGS against ``along`` (x nudged by the factor ``offset``), with
    its interval where every point has >= MIN_BAND_SEEDS runs."""
    rows = rows.sort_values(along)
    x = rows[along].to_numpy(np.float64) * offset
    for share in CROSSINGS:
        y = rows[crossing_column("success", share)].to_numpy()
        marker, fill = CROSSING_MARKERS[share]
        if rows["min_runs"].min() >= MIN_BAND_SEEDS:
            lo, hi = (rows[crossing_column("success", share, part)].to_numpy() for part in ("lo", "hi"))
            ax.errorbar(x, y, yerr=[y - lo, np.where(np.isfinite(hi), hi, y) - y], fmt=marker, fillstyle=fill,
                        color=color, ms=5, elinewidth=0.9, capsize=2, lw=0)
            open_above = ~np.isfinite(hi)
            ax.plot(x[open_above], y[open_above], "^", color=color, ms=5)
        else:
            ax.plot(x, y, marker, fillstyle=fill, color=color, ms=5)
    ax.plot([], [], "o", color=color, label=label)


def _theory(ax, rows: pd.DataFrame, along: str, other: str, constants: pd.DataFrame, color: str) -> None:
    """c n0_hat(d, s) along ``along`` at the other dim's value, for each share's fitted c."""
    values = rows[along].to_numpy(np.float64)
    grid = np.geomspace(values.min(), values.max(), 50)
    fixed = float(rows[other].iloc[0])
    constraint = rows["constraint"].iloc[0]
    scale = np.array([n0_hat(*((v, fixed) if along == "d" else (fixed, v)), constraint) for v in grid])
    for share in CROSSINGS:
        c = constants.loc[constants["share"] == share, "c"]
        if not c.empty and np.isfinite(c.iloc[0]):
            ax.plot(grid, c.iloc[0] * scale, CROSSING_LINES[share], color=color, lw=1.0)


@figure_file
def phase_transition(ds: xr.Dataset) -> Figure | None:
    """THEORY.md §6.1 (b): where the success curves cross 50% and 95% (the logistic in log n
    of :func:`.summary.transition_points`, profile-likelihood intervals) against d and
    against s, a row per constraint, beside c n0_hat(d, s) with c fitted per constraint and
    share: if the curves collapse across (d, s), every point lies on its line."""
    columns = [dim for dim in ("d", "s") if _swept(ds, dim)]
    if not (columns and _swept(ds, "n", 3) and "success" in ds):
        return None
    held, transitions = held_transitions(ds)
    constraints = list(transitions["constraint"].unique())
    fig, axes = panel_grid(len(constraints), len(columns))
    n_values = parameter_values(ds, "n")
    for row, constraint in zip(axes, constraints):
        rows = transitions[transitions["constraint"] == constraint]
        constants = collapse(rows, "success")
        for ax, along in zip(row, columns):
            other = "s" if along == "d" else "d"
            groups = list(rows.groupby(other, sort=True))
            for index, (value, group) in enumerate(groups):
                color = LINE_COLORS[other][index % len(LINE_COLORS[other])]
                _crossings(ax, group, along, color, f"{other} = {value}", np.exp(0.04 * (index - (len(groups) - 1) / 2)))
                _theory(ax, group, along, other, constants, color)
            limits = ax.get_ylim()
            ax.axhspan(max(n_values), 10 * limits[1], color="0.85", lw=0)
            ax.set_ylim(limits)
            fits = "; ".join(f"c{round(100 * share)} = {c:.3g} ({ratio_min:.3g}-{ratio_max:.3g})"
                             for share, c, ratio_min, ratio_max in
                             constants[["share", "c", "ratio_min", "ratio_max"]].itertuples(index=False))
            ax.set(xscale="log", yscale="log", xlabel=along, ylabel="n at the crossing",
                   title=wrapped(f"constraint {constraint}: against {along}, a colour per {other}\n"
                                 f"fitted c (n / n0_hat range): {fits}"))
            ax.set_xticks(sorted(rows[along].unique()), [str(v) for v in sorted(rows[along].unique())])
            ax.xaxis.set_minor_locator(NullLocator())
    ax = axes[0, 0]
    for share in CROSSINGS:
        marker, fill = CROSSING_MARKERS[share]
        ax.plot([], [], marker + CROSSING_LINES[share], fillstyle=fill, color="0.3",
                label=f"n at {share:.0%} success ({CONFIDENCE:.0%} profile-likelihood interval); line: c n0_hat(d, s)")
    ax.plot([], [], "^", color="0.3", label="interval open above (the counts do not bound it)")
    ax.fill_between([], [], [], color="0.85", label=f"beyond the grid's largest n ({max(n_values)})")
    where = describe_point(held)
    runs = int(transitions["min_runs"].min())
    seeds = f"n = {runs} seeds per point: no interval drawn" if runs < MIN_BAND_SEEDS else f"{runs} seeds per point"
    figure_title(fig, f"{_title(ds, held)}. Logistic in log n fitted to the success counts along n "
                      f"({len(n_values)} n, {seeds}){'; ' + where if where else ''}. n0_hat = 2 s ln(d/s): "
                      f"the curves collapse if every point lies on its line")
    entries = len({label for ax in axes.ravel() for label in ax.get_legend_handles_labels()[1]})
    fig.set_figheight(fig.get_figheight() + LEGEND_ROW * (math.ceil(entries / len(columns)) + 1))
    legend_row(fig, axes, columns=len(columns))
    return fig


@figure_file
def convention(ds: xr.Dataset) -> Figure | None:
    """THEORY.md §6.1 (c): rel_err_t per relu'(0) (panels) and mu0 (lines). With relu'(0) = 0
    the iterate stays at w = 0 (rel_err = 1); the first step is mu0 relu'(0) (2/n) sum y_i x_i
    projected, an unbiased estimate of w* when mu0 relu'(0) = 1."""
    if not (_swept(ds, "relu_slope_at_zero") or _swept(ds, "mu0")) or "rel_err" not in ds:
        return None
    held = reference_point(ds, ("relu_slope_at_zero", "mu0"))
    slopes, steps = parameter_values(ds, "relu_slope_at_zero"), parameter_values(ds, "mu0")
    t = ds[ITERATION].values
    fig, axes = panels(len(slopes))
    for ax, slope in zip(axes, slopes):
        for index, mu0 in enumerate(steps):
            point = {**held, **{dim: value for dim, value in (("relu_slope_at_zero", slope), ("mu0", mu0))
                                if dim in ds.dims}}
            curves = per_seed(ds, "rel_err", point)
            runs = int(np.isfinite(curves[:, 0]).sum())
            if slope == 0:
                claim = f"rel_err = 1 at every t: {int(np.all(curves == 1.0, axis=1).sum())}/{runs}"
            else:
                succeeded, _ = _count(ds, "success", point)
                inside, _ = _count(ds, "envelope_ok", point)
                claim = (f"rel_err_1 = {nanmedian(curves[:, 1]):.2g} (median), inside {inside}/{runs}, "
                         f"success {succeeded}/{runs}")
            median_and_band(ax, t, curves, f"C{index}", f"mu0 = {mu0:g}, w_1 ≈ P_K({mu0 * slope:g} w*): {claim}",
                            floor=DRAW_FLOOR)
        _envelope_line(ax, t)
        where = describe_point(held)
        ax.set(yscale="log", xlabel="t (PGD step)", ylabel=ERROR_LABEL,
               title=wrapped(f"relu'(0) = {slope:g}{'; ' + where if where else ''}\n{spread_note(curves)}; "
                             f"{FLOOR_NOTE}"))
        ax.legend(fontsize=7)
    return fig


FIGURES: tuple[FigureFile, ...] = (rate, phase_success, phase_envelope, phase_transition, convention)
