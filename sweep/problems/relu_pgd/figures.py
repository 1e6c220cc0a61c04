"""Figures of the ``relu_pgd`` problem (THEORY.md §6.1).

Each follows the contract of :mod:`analysis.plotting` (``figure(ds, out_dir) -> list[Path]``,
[] when the store lacks what it needs). Every curve is a median over seeds with the
band from the smallest to the largest seed, and every legend entry says on how many
seeds its claim holds (inside the envelope, success, staying at 0):

- :func:`rate`: rel_err_t against t on a log axis, one line per n, with the 2^-t line;
  the fitted contraction factor of every seed against n / n0_hat; the support overlap.
- :func:`phase_success`, :func:`phase_envelope`: the share of seeds that succeed / stay
  inside the envelope against n / n0_hat, one panel per constraint, one curve per (d, s).
- :func:`convention`: rel_err_t for each relu'(0) (panels) and mu0 (lines).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis.plotting import (FigureFile, describe_point, figure_file, median_and_band, panels, parameter_values,
                               reference_point)
from analysis.stats import nanmedian, with_seed_dim
from sweep.problems.relu_pgd.summary import TARGET_SHARE, point_table, with_fixed
from sweep.problems.relu_pgd.theory import ENVELOPE_RATE, envelope
from sweep.problems.relu_pgd.variables import ITERATION

MAX_LINES = 8          # lines per panel of the curve figures (evenly picked when n has more values)
DRAW_FLOOR = 1e-20     # rel_err = 0 (w_t = w* to the last bit) is drawn here on log axes
ERROR_LABEL = "||w_t - w*|| / ||w*||"
ERROR_NOTE = f"median and min-max band over seeds; 0 drawn at {DRAW_FLOOR:g}"
RATIO_LABEL = "n / n0_hat   (n0_hat = 2 s ln(d/s))"


def _swept(ds: xr.Dataset, dim: str, at_least: int = 2) -> bool:
    return dim in ds.dims and ds.sizes[dim] >= at_least


def _per_seed(ds: xr.Dataset, name: str, point: dict[str, Any]) -> np.ndarray:
    """``name`` at ``point`` as (seeds, ...) over the finished runs (others NaN)."""
    values = ds[name].where(ds["done"]).sel(point)
    return with_seed_dim(values).transpose("seed", ...).values.astype(np.float64)


def _count(ds: xr.Dataset, name: str, point: dict[str, Any]) -> tuple[int, int]:
    """(runs where the flag ``name`` holds, finished runs) at ``point``."""
    done = with_seed_dim(ds["done"].sel(point)).values
    return int(with_seed_dim(ds[name].sel(point)).values[done].sum()), int(done.sum())


def _envelope_line(ax, t: np.ndarray) -> None:
    ax.plot(t, envelope(t), "k--", lw=1.0, label="2^-t (the theorem's envelope)")


def _picked(values: list, limit: int = MAX_LINES) -> list:
    """At most ``limit`` of ``values``, evenly spaced, first and last included."""
    if len(values) <= limit:
        return values
    return [values[i] for i in np.unique(np.linspace(0, len(values) - 1, limit).round().astype(int))]


@figure_file
def rate(ds: xr.Dataset) -> Figure | None:
    """THEORY.md §6.1 (a): rel_err_t vs t on a log axis per n, with the 2^-t line; the
    fitted contraction factor per seed vs n / n0_hat; the support overlap vs t."""
    if not (_swept(ds, "n") and "rel_err" in ds):
        return None
    held = reference_point(ds, ("n",))
    t = ds[ITERATION].values
    fig, (errors, factors, overlaps) = panels(3)
    ratios = []
    for index, n in enumerate(_picked(parameter_values(ds, "n"))):
        point = {**held, "n": n}
        color = f"C{index}"
        ratio = float(np.nanmax(_per_seed(ds, "n_over_n0", point)))
        ratios.append(ratio)
        inside, runs = _count(ds, "envelope_ok", point)
        succeeded, _ = _count(ds, "success", point)
        label = f"n/n0_hat = {ratio:.3g}: inside {inside}/{runs}, success {succeeded}/{runs}"
        median_and_band(errors, t, _per_seed(ds, "rel_err", point), color, label, floor=DRAW_FLOOR)
        median_and_band(overlaps, t, _per_seed(ds, "support_overlap", point), color, f"n/n0_hat = {ratio:.3g}")
        contraction = _per_seed(ds, "contraction", point)
        factors.plot(np.full(contraction.size, ratio), contraction, ".", color=color, ms=4, alpha=0.6)
        factors.plot([ratio], [nanmedian(contraction)], "o", color=color, mec="k")
    _envelope_line(errors, t)
    title = describe_point(held) or "all runs"
    errors.set(yscale="log", xlabel="t (PGD step)", ylabel=ERROR_LABEL, title=f"{title}\n{ERROR_NOTE}")
    errors.legend(fontsize=7)
    factors.axhline(ENVELOPE_RATE, color="k", ls="--", lw=1.0, label="1/2 (the envelope's rate)")
    factors.set(xscale="log", xlabel=RATIO_LABEL, ylabel="fitted contraction factor per step",
                title="each seed (dots) and the median (circles)")
    factors.set_xticks(ratios, [f"{ratio:.3g}" for ratio in ratios])
    factors.xaxis.set_minor_formatter(NullFormatter())
    factors.legend()
    overlaps.set(xlabel="t (PGD step)", ylabel="|supp(w_t) ∩ supp(w*)| / s",
                 title="support overlap: median and min-max band over seeds", ylim=(-0.02, 1.02))
    overlaps.legend(fontsize=7)
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
            ax.errorbar(group["n_over_n0"], share, yerr=[share - group[f"{name}_lo"], group[f"{name}_hi"] - share],
                        fmt="o-", color=color, ms=3, lw=1.2, elinewidth=0.6, capsize=1.5, alpha=0.85,
                        label=f"d={d}, s={s} ({int(group['runs'].min())} seeds)")
        ax.axhline(TARGET_SHARE, color="k", ls=":", lw=1.0, label=f"{TARGET_SHARE:.0%}")
        where = describe_point(held)
        ax.set(xscale="log", xlabel=RATIO_LABEL, ylabel=ylabel, ylim=(-0.02, 1.02),
               title=f"constraint {constraint}{'; ' + where if where else ''} (bars: 95% Wilson intervals)")
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
            curves = _per_seed(ds, "rel_err", point)
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
               title=f"relu'(0) = {slope:g}{'; ' + where if where else ''}\n{ERROR_NOTE}")
        ax.legend(fontsize=7)
    return fig


FIGURES: tuple[FigureFile, ...] = (rate, phase_success, phase_envelope, convention)
