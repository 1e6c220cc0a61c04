"""Figures of the ``separable`` problem: the bound check and the paper's figures (THEORY.md §2-5).

Each figure follows the contract of :mod:`analysis.plotting` (``figure(ds, out_dir) ->
list[Path]``, [] when the store lacks what it needs or the picture would show nothing).
A paper figure is drawn where its claim applies (:mod:`.claims`), shows every run of the
store (one panel per run, or one thin line per seed), and states in its title on how many
runs the claim holds. :data:`FIGURES` lists them all, in report order. Decision
boundaries regenerate the training data with the problem's own generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter, NullLocator

from analysis.plotting import (RASTER_MARKS, FigureFile, describe_point, distinct_marks, draw_curves, figure_file,
                               figure_title, legend_beside, legend_row, panel_grid, panels, parameter_values, reference_point,
                               seeds_phrase, setting, wrapped)
from analysis.stats import (CONFIDENCE, DONE, SEED_DIM, counted, median_over_seeds, point_dims, power_law_along,
                            spec_of, with_seed_dim)
from kernels.network import network_output
from sweep.problems.separable import claims as claim
from sweep.problems.separable.bounds import (EXPONENT_COLUMNS, MEASURED, THEOREMS, Theorem, exponents,
                                             scaling_parameters, seed_summary, stored, summarised_values)
from sweep.problems.separable.datasets import OUTLIER_INDEX, make_dataset
from sweep.problems.separable.planar import (Plane, boundary_bend, final_weights, output_along_means, plane,
                                             run_params, slope_spread)
from sweep.problems.separable.variables import EPOCH
from sweep.problems.separable.worst_case import prop7_lower_bound

W_COLOR, U_COLOR = "tab:red", "tab:blue"  # w-neurons / label +1, u-neurons / label -1
CANDIDATE_COLORS = ("k", "tab:orange", "tab:green", "tab:purple")
WORDS = {**claim.DIM_NAMES, "alpha": "Leaky-ReLU slope α", "width": "width k (neurons per sign)",
         "init_scale": "init scale (expected row norm of W0)", "eps": "loss level ε (nats)",
         "margin": "margin γ (data units)"}


def _title(fig: Figure, found: claim.Claim) -> None:
    """The claim, its share of runs and its numbers above the figure."""
    verdict = "holds on every run" if found.holds else f"holds on {found.held} of {found.total} runs"
    figure_title(fig, f"{found.figure}: {found.statement}. {verdict.capitalize()}.\n{found.numbers}")


# ---------------------------------------------------------------- epochs against the bound (THEORY.md §2)

@figure_file
def epochs_vs_parameters(ds: xr.Dataset) -> Figure | None:
    """Per swept parameter: E_clean per seed, its median with bootstrap interval, E_conv and E_bound."""
    parameters = scaling_parameters(ds)
    values = summarised_values(ds)
    if not parameters or not bool(values["epochs_clean"].notnull().any()):
        return None  # no run reached E_clean: nothing to plot against the bound
    summary = seed_summary(ds)
    fig, axes = panels(len(parameters))
    for ax, parameter in zip(axes, parameters):
        held = reference_point(ds, (parameter,))
        at = summary.sel(held)
        x = at[parameter].values
        seeds = values["epochs_clean"].sel(held).transpose(parameter, ...).values
        ax.plot(np.repeat(x, seeds.size // x.size), seeds.reshape(-1), ".", color="0.6", ms=3,
                label="E_clean (first clean epoch), each seed")
        median = at["epochs_clean_median"].values
        ax.errorbar(x, median, yerr=[median - at["epochs_clean_lo"].values, at["epochs_clean_hi"].values - median],
                    fmt="o-", color="k", capsize=3, label="E_clean, median over seeds (bars: 95% bootstrap interval)")
        ax.plot(x, at["epochs_conv_median"].values, "s--", color="tab:green",
                label="E_conv (first epoch with training loss < ε), median")
        if np.isfinite(at["epochs_bound_median"].values).any():
            ax.plot(x, at["epochs_bound_median"].values, "^-", color="tab:purple",
                    label="Theorem 4.1 bound E_bound, median")
        ax.set(xscale="log", yscale="log", xlabel=WORDS.get(parameter, parameter), ylabel="epochs",
               title=describe_point(held, WORDS) or "all runs")
        ax.legend()
    return fig


LAW_LEGEND_WIDTH = 3.3  # inches beside each panel of scaling_laws for its legend
LAW_MARKS = {"epochs_clean": ("o-", "k"), "epochs_conv": ("s-", "tab:green"), "violating_steps": ("D-", "tab:brown"),
             "epochs_bound_potential": ("^--", "tab:blue"), "epochs_bound": ("v:", "tab:purple")}


@figure_file
def scaling_laws(ds: xr.Dataset) -> Figure | None:
    """Per swept variable of the bound (THEORY.md §2, §2.1): the seed medians of E_clean,
    E_conv, V and both bounds, each divided by its value at the reference point, on one
    log-log axis (the other dims held at their middle values), each labelled with its
    exponent fitted over the store (bootstrap interval over seeds and data sets), and
    the fitted law of E_clean as a thin line through the reference point."""
    parameters = scaling_parameters(ds)
    if not parameters:
        return None
    found = exponents(ds)
    summary = seed_summary(ds)
    columns = [(name, words) for name, words in EXPONENT_COLUMNS if f"{name}_median" in summary]
    across = min(2, len(parameters))
    fig, axes = panel_grid(-(-len(parameters) // across), across, legend_width=LAW_LEGEND_WIDTH)
    for ax in axes.ravel()[len(parameters):]:
        ax.set_visible(False)
    for ax, parameter in zip(axes.ravel(), parameters):
        held = reference_point(ds, (parameter,))
        at = summary.sel(held)
        x = at[parameter].values.astype(np.float64)
        middle = x.size // 2
        per_data_set = "dataset" in ds.dims and ds.sizes["dataset"] > 1  # exponents fits one law per data set
        slopes = found.get((str(held["dataset"]) if per_data_set else "all", parameter), {})
        for name, words in columns:
            median = at[f"{name}_median"].values
            if not np.isfinite(median[middle]) or median[middle] <= 0:
                continue
            slope = slopes.get(name)
            law = f"{slope.slope:+.2f} [{slope.lo:+.2f}, {slope.hi:+.2f}]" if slope else "not fitted"
            style, colour = LAW_MARKS[name]
            ax.plot(x, median / median[middle], style, color=colour, ms=4, label=f"{words}: exponent {law}")
            if name == MEASURED and slope:
                ax.plot(x, (x / x[middle]) ** slope.slope, "-", color="0.5", lw=0.8,
                        label="E_clean's fitted law through the reference point")
        ax.set(xscale="log", yscale="log", xlabel=WORDS.get(parameter, parameter),
               ylabel="median over seeds / median at the reference point",
               title=wrapped(describe_point(held, WORDS) or "all runs"))
        ax.set_xticks(x, [f"{value:g}" for value in x])
        ax.xaxis.set_minor_formatter(NullFormatter())
        legend_beside(ax, fontsize=7)
    figure_title(fig, f"Measured epochs against the bounds' laws ({_sweep_words(ds)}): each curve divided by its "
                      f"value at the reference point; exponents fitted over the store, 95% bootstrap intervals "
                      f"over seeds{' and data sets' if 'data_seed' in ds.dims else ''}.")
    return fig


@figure_file
def ratio_heatmap(ds: xr.Dataset) -> Figure | None:
    """Median E_clean / E_bound over the first two point dims with >= 2 values (others held)."""
    swept = [dim for dim in point_dims(ds) if ds.sizes[dim] >= 2][:2]
    if len(swept) < 2:
        return None
    held = reference_point(ds, tuple(swept))
    values = seed_summary(ds)["ratio_median"].sel(held).transpose(*swept).values
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return None
    fig, (ax,) = panels(1)
    image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis", norm=LogNorm(positive.min(), positive.max()))
    for axis, dim in ((ax.set_yticks, swept[0]), (ax.set_xticks, swept[1])):
        axis(range(ds.sizes[dim]), [f"{v:g}" if isinstance(v, float) else str(v) for v in parameter_values(ds, dim)])
    ax.set(ylabel=WORDS.get(swept[0], swept[0]), xlabel=WORDS.get(swept[1], swept[1]),
           title="median over seeds of E_clean / E_bound (white: no run reached E_clean)"
                 + (f"\n{describe_point(held, WORDS)}" if held else ""))
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="E_clean / E_bound (Theorem 4.1: at most 1)")
    return fig


@dataclass(frozen=True)
class HeldRuns:
    """The runs of one bound variable of a theorem (THEOREMS) where the measured value
    counts and the bound is finite: both flat over those runs, and ``colour``: the value
    of the figure's colour dim at each run (None without one)."""

    theorem: Theorem
    name: str
    measured: np.ndarray
    bound: np.ndarray
    colour: np.ndarray | None

    @property
    def instance(self) -> bool:
        return self.name.endswith("_instance")

    @property
    def start(self) -> str:
        return "the run's own start" if self.instance else "the worst-case start"

    @property
    def drawable(self) -> np.ndarray:
        """Runs a log axis can show (a count of 0 cannot be)."""
        return (self.measured > 0) & (self.bound > 0)


def _colour_dim(ds: xr.Dataset) -> str | None:
    """The dim that colours the runs: the first swept variable of the bound, else the first
    swept numeric point dim, else None."""
    swept = scaling_parameters(ds) or tuple(dim for dim in point_dims(ds) if ds.sizes[dim] >= 2
                                            and np.issubdtype(ds[dim].dtype, np.number) and bool((ds[dim] > 0).all()))
    return swept[0] if swept else None


def _held_runs(ds: xr.Dataset) -> list[list[HeldRuns]]:
    """Per theorem of THEOREMS the store holds, its bound variables' :class:`HeldRuns`
    (the worst case first); a theorem with no such run is left out."""
    colour_dim = _colour_dim(ds)
    found = []
    for theorem in THEOREMS:
        if stored(ds, theorem.variables) != theorem.variables:
            continue
        measured = counted(ds, theorem.measured, theorem.zero_counts)
        runs = []
        for name in theorem.bounds:
            arrays = xr.broadcast(measured, ds[name].astype(np.float64), *([ds[colour_dim]] if colour_dim else []))
            values, bound, *colour = (a.values.ravel() for a in arrays)
            both = np.isfinite(values) & np.isfinite(bound)
            runs.append(HeldRuns(theorem, name, values[both], bound[both], colour[0][both] if colour else None))
        if runs[0].measured.size:
            found.append(runs)
    return found


def _sweep_words(ds: xr.Dataset) -> str:
    return f"{spec_of(ds).get('name', 'the sweep')}, {seeds_phrase(ds)}, {int(ds[DONE].sum())} runs finished"


@figure_file
def runs_against_bounds(ds: xr.Dataset) -> Figure | None:
    """Every run's measured value (x) against each proved upper bound on it (y), log-log,
    one panel per theorem of THEOREMS (THEORY.md §2, §2.1), coloured by the swept variable:
    a run under the line y = x breaks its theorem. Runs with a measured count of 0 cannot be
    drawn on log axes; the panel says how many. Of more than RASTER_MARKS runs, those that
    fall on one spot of the drawing in one colour are one mark (:func:`~analysis.plotting.distinct_marks`); a run above its
    bound is always its own mark."""
    held = _held_runs(ds)
    if not held:
        return None
    starts = {runs.start for theorem_runs in held for runs in theorem_runs}
    fig, axes = panels(len(held), legend_rows=-(-(len(starts) + 1) // min(2, len(held))))
    colour_dim = _colour_dim(ds)
    colours = np.concatenate([runs.colour for theorem_runs in held for runs in theorem_runs]) if colour_dim else None
    norm = LogNorm(colours.min(), colours.max()) if colour_dim and colours.min() < colours.max() else None
    verdicts = []
    for ax, theorem_runs in zip(axes, held):
        theorem, ends = theorem_runs[0].theorem, []
        for runs in theorem_runs:
            drawable = np.flatnonzero(runs.drawable)
            x, y = runs.measured[drawable], runs.bound[drawable]
            if drawable.size > RASTER_MARKS:  # one mark per spot and colour: the drawing of 10^6 runs in seconds
                drawn = drawable[distinct_marks(x, y, runs.colour[drawable] if norm else None, keep=x > y)]
            else:
                drawn = drawable
            colouring = dict(c=runs.colour[drawn], cmap="viridis", norm=norm) if norm else dict(c="tab:purple")
            ax.scatter(runs.measured[drawn], runs.bound[drawn], s=16 if runs.instance else 10,
                       marker="x" if runs.instance else "o", linewidths=0.8, **colouring,
                       rasterized=bool(drawn.size > RASTER_MARKS),
                       label=f"a run against its bound at {runs.start}"
                             + (" (runs on one spot in one colour: one mark)" if drawn.size < drawable.size else ""))
            ends += [x, y]
        worst = theorem_runs[0]
        above, zeros = int(np.sum(worst.measured > worst.bound)), int(np.sum(worst.measured == 0))
        verdicts.append(f"{theorem.name}: {above} of {worst.measured.size} runs above")
        ends = np.concatenate(ends)
        line = np.array([ends.min(), ends.max()])
        ax.plot(line, line, "k-", lw=1, label="bound = measured (a run below this line breaks the theorem)")
        ratio = worst.bound[worst.drawable] / worst.measured[worst.drawable]
        ax.set(xscale="log", yscale="log", xlabel=f"measured {theorem.measured}", ylabel="its upper bound",
               title=wrapped(f"{theorem.name} ({theorem.source}): {worst.measured.size} runs, {above} above; "
                             f"bound / measured {ratio.min():.3g} to {ratio.max():.3g}"
                             + (f"; {zeros} runs at 0 not drawn" if zeros else "")))
    if norm:
        mappable = ScalarMappable(norm=norm, cmap="viridis")
        fig.colorbar(mappable, ax=axes, label=f"colour: {WORDS.get(colour_dim, colour_dim)}")
    legend_row(fig, axes, columns=min(2, len(held)))
    figure_title(fig, f"Each run against its proved upper bounds ({_sweep_words(ds)}): {'; '.join(verdicts)}.")
    return fig


THEOREM_COLOURS = ("tab:purple", "tab:green", "tab:brown")  # per theorem of THEOREMS, in its order


@figure_file
def bound_tightness(ds: xr.Dataset) -> Figure | None:
    """Histograms over runs of bound / measured on a log axis, the bounds on one measured
    value in one panel (E_clean: Theorem 4.1's and the potential bound, THEORY.md §2, §2.1;
    the violating steps: their bound): how far above each run its bound lies; 1 is a bound
    met with equality, a run left of it breaks its theorem."""
    held = _held_runs(ds)
    if not held:
        return None
    by_measured: dict[str, list[HeldRuns]] = {}
    for theorem_runs in held:
        for runs in theorem_runs:
            by_measured.setdefault(runs.theorem.measured, []).append(runs)
    entries = max(2 * len(group) for group in by_measured.values()) + 1
    columns = min(2, len(by_measured))
    fig, axes = panels(len(by_measured), legend_rows=-(-entries // columns))
    for ax, (measured, group) in zip(axes, by_measured.items()):
        ratios = [runs.bound[runs.drawable] / runs.measured[runs.drawable] for runs in group]
        every = np.concatenate([*ratios, [1.0]])
        bins = np.geomspace(every.min() / 1.5, every.max() * 1.5, 40)
        medians = []
        for runs, ratio in zip(group, ratios):
            colour = THEOREM_COLOURS[THEOREMS.index(runs.theorem)]
            words = f"{runs.theorem.bound} at {runs.start}"
            ax.hist(ratio, bins=bins, histtype="step" if runs.instance else "stepfilled", color=colour,
                    alpha=1.0 if runs.instance else 0.45, lw=1.2, label=f"runs: {words}")
            ax.axvline(np.median(ratio), color=colour, ls=":" if runs.instance else "--", lw=1.2,
                       label=f"median: {words}")
            medians.append(f"{np.median(ratio):.3g}")
        ax.axvline(1.0, color="k", lw=1, label="bound = measured (a run left of it breaks its theorem)")
        ax.set(xscale="log", xlabel=f"bound / {measured} (per run)", ylabel="runs",
               title=wrapped(f"bounds on {measured}: medians {', '.join(medians)} "
                             f"({', '.join(runs.theorem.name + (' own start' if runs.instance else '') for runs in group)})"))
    legend_row(fig, axes, columns=columns)
    figure_title(fig, f"How far above each run its proved bounds lie ({_sweep_words(ds)}).")
    return fig


def is_prop7_worst_case(ds: xr.Dataset) -> bool:
    """Whether every run of the store is BOUND.md Prop. 7's: data set two_point, init dead_rows."""
    try:
        return parameter_values(ds, "dataset") == ["two_point"] and parameter_values(ds, "init") == ["dead_rows"]
    except KeyError:  # a store whose spec leaves the data set or the init at its default
        return False


PROP7_BOUNDS = (("epochs_bound_potential", "^-", "potential bound, worst-case start (BOUND.md Theorem 2(b))"),
                ("epochs_bound_potential_instance", "v-", "potential bound, the run's own start"),
                ("epochs_bound", "s:", "Theorem 4.1 bound (THEORY.md §2)"))


PROP7_LEGEND_WIDTH = 4.6  # inches beside the panel for the legend (labels up to ~75 characters at 7 pt)


@figure_file
def prop7_worst_case(ds: xr.Dataset) -> Figure | None:
    """BOUND.md Prop. 7 (THEORY.md §2.1): E_clean against alpha on the two-point data from the
    dead-row start, each seed and the median, the fitted power law with its bootstrap interval
    over seeds, the alpha^-2 line through the medians, Prop. 7's proved lower bound and the
    upper bounds (medians over seeds), log-log. Other point dims held at their middle value."""
    if not is_prop7_worst_case(ds) or ds.sizes.get("alpha", 0) < 2:
        return None
    held = reference_point(ds, ("alpha",))
    law = power_law_along(ds, MEASURED, "alpha", held)
    if law is None:
        return None
    alpha = ds["alpha"].values.astype(np.float64)
    per_seed = with_seed_dim(counted(ds, MEASURED).sel(held)).transpose(SEED_DIM, "alpha").values
    fig, axes = panel_grid(1, 1, legend_width=PROP7_LEGEND_WIDTH)
    ax = axes[0, 0]
    ax.plot(np.repeat(alpha[None, :], per_seed.shape[0], axis=0).ravel(), per_seed.ravel(), ".", color="0.6", ms=4,
            label="E_clean (first clean epoch), each seed (they differ only in the visiting orders)")
    ax.plot(law.x, law.medians, "o", color="k", label="E_clean, median over seeds")
    line = np.geomspace(alpha.min(), alpha.max(), 50)
    ax.plot(line, law(line), "-", color="k", lw=1,
            label=f"fit: E_clean ∝ α^{law.exponent:.3f} [{law.lo:.3f}, {law.hi:.3f}] ({CONFIDENCE:.0%} bootstrap "
                  "over seeds)")
    ax.plot(line, law.amplitude_for(-2.0) * line ** -2.0, "--", color="tab:red",
            label="α^-2 (Prop. 7's rate; amplitude fitted to the medians)")
    lower = [prop7_lower_bound(k=p.width, alpha=p.alpha, v=p.v, lr=p.lr, eps=p.eps)
             for p in (run_params(ds, {**held, "alpha": float(a)}) for a in alpha)]
    ax.plot(alpha, lower, ":", color="tab:orange", lw=2, label="Prop. 7 lower bound z_ε / (4kα²v²η) + 1/4 (proved)")
    for (name, style, label), color in zip(PROP7_BOUNDS, ("tab:purple", "tab:blue", "tab:brown")):
        if name in ds:
            ax.plot(alpha, median_over_seeds(counted(ds, name).sel(held)).transpose("alpha").values, style,
                    color=color, ms=4, label=f"{label}, median over seeds")
    ax.set(xscale="log", yscale="log", xlabel=WORDS["alpha"], ylabel="epochs")
    ax.set_xticks(alpha, [f"{a:g}" for a in alpha], rotation=45)
    ax.xaxis.set_minor_locator(NullLocator())
    legend_beside(ax, fontsize=7)
    fixed = setting(ds, ("width", "v", "lr", "eps", "n"), held, WORDS)
    figure_title(fig, f"BOUND.md Prop. 7 worst case: two-point data x = (±1, 1), every row of W0 = (0, -B), "
                      f"B = z_ε/(kαv) + 4ηvα; {fixed}; {seeds_phrase(ds, 'visiting orders')}. Fitted α-exponent of "
                      f"E_clean {law.exponent:.3f} [{law.lo:.3f}, {law.hi:.3f}]; Prop. 7: -2.")
    return fig


# ---------------------------------------------------------------- decision boundaries (THEORY.md §3-5)

def _draw_plane(ax, p: Plane, title: str, predicted: np.ndarray | None = None) -> None:
    """Training data, the sign regions and decision boundary of N_W, and the neurons as arrows.

    Regions: N_W > 0 (red tint), N_W < 0 (blue tint), N_W = 0 exactly (grey: every neuron
    inactive, only with ReLU). ``predicted``: neuron directions drawn as hollow arrows.
    """
    xx, yy = np.meshgrid(p.axis, p.axis)
    sign = np.sign(p.output)
    ax.contourf(xx, yy, sign, levels=[-1.5, -0.5, 0.5, 1.5], colors=[U_COLOR, "0.35", W_COLOR], alpha=0.13)
    if np.any(sign == 0):
        ax.contour(xx, yy, sign, levels=[-0.5, 0.5], colors="k", linewidths=1.5, linestyles="solid")
    else:
        ax.contour(xx, yy, p.output, levels=[0.0], colors="k", linewidths=1.5)
    _draw_neurons(ax, p.W, p.limit, hollow=False)
    if predicted is not None:
        _draw_neurons(ax, predicted, p.limit, hollow=True)
    X, y = p.data.X, p.data.y
    for label, color in ((1, W_COLOR), (-1, U_COLOR)):
        ax.scatter(*X[y == label, :2].T, s=8, color=color, alpha=0.7)
    ax.set(xlim=(-p.limit, p.limit), ylim=(-p.limit, p.limit), aspect="equal", xlabel="x₁", ylabel="x₂", title=title)


def _draw_neurons(ax, W: np.ndarray, limit: float, hollow: bool) -> None:
    """Neuron directions (first two coordinates) as arrows from the origin, the longest
    scaled to 0.9 * limit; hollow arrows for predicted directions."""
    k = W.shape[0] // 2
    scale = 0.9 * limit / max(float(np.linalg.norm(W[:, :2], axis=1).max()), 1e-300)
    for rows, color in ((W[:k], W_COLOR), (W[k:], U_COLOR)):
        ax.quiver(np.zeros(len(rows)), np.zeros(len(rows)), rows[:, 0] * scale, rows[:, 1] * scale,
                  angles="xy", scale_units="xy", scale=1, width=0.012 if hollow else 0.006, linewidth=1.2,
                  facecolor="none" if hollow else color, edgecolor=color, zorder=3 if hollow else 2)


def _arrow(color: str, label: str, hollow: bool = False) -> Line2D:
    """A legend entry that looks like the neuron arrows: a line ending in a triangle."""
    return Line2D([], [], color=color, lw=1.5, marker=">", markevery=[1], ms=6, label=label,
                  mfc="none" if hollow else color)


def _plane_legend(zero_region: bool = False, predicted: str | None = None) -> list:
    """Legend entries for :func:`_draw_plane`: every mark it makes, in words."""
    handles = [
        Line2D([], [], marker="o", ls="", color=W_COLOR, ms=4, label="training point, y = +1"),
        Line2D([], [], marker="o", ls="", color=U_COLOR, ms=4, label="training point, y = -1"),
        Patch(color=W_COLOR, alpha=0.25, label="N_W > 0 (predicts +1)"),
        Patch(color=U_COLOR, alpha=0.25, label="N_W < 0 (predicts -1)"),
        Line2D([], [], color="k", lw=1.5, label="decision boundary"),
        _arrow(W_COLOR, "w-neuron direction (scaled)"),
        _arrow(U_COLOR, "u-neuron direction (scaled)"),
    ]
    if zero_region:
        handles.insert(4, Patch(color="0.35", alpha=0.3, label="N_W = 0: both neurons inactive (ReLU)"))
    if predicted:
        handles.append(_arrow("k", predicted, hollow=True))
    return handles


@figure_file
def fig1_boundaries(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 1: small init gives clustered neurons and a straight boundary, large init a bent one;
    every seed (columns) at the smallest and the largest init (rows)."""
    found = claim.fig1_boundaries(ds)
    if found is None:
        return None
    scales = parameter_values(ds, "init_scale")
    chosen = [point for point in claim.runs(ds) if point["init_scale"] in (min(scales), max(scales))]
    seeds = sorted({point.get(SEED_DIM, 0) for point in chosen})
    fig, axes = panel_grid(2, len(seeds))
    for point in chosen:
        row = 0 if point["init_scale"] == min(scales) else 1
        ax = axes[row][seeds.index(point.get(SEED_DIM, 0))]
        p = plane(run_params(ds, point), final_weights(ds, point))
        _draw_plane(ax, p, f"{describe_point(point, claim.DIM_NAMES)}: boundary bend {boundary_bend(p):.2g}")
    axes[0][0].legend(handles=_plane_legend(), loc="lower right", fontsize=6)
    _title(fig, found)
    return fig


@figure_file
def fig3_nonlinear_output(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 3: a clustered network with a straight boundary whose output is not linear:
    top, the level sets of N_W (they bend); bottom, N_W along the line through the class means."""
    found = claim.fig3_nonlinear_output(ds)
    if found is None:
        return None
    points = list(claim.runs(ds))
    fig, axes = panel_grid(2, len(points))
    for column, point in enumerate(points):
        p = plane(run_params(ds, point), final_weights(ds, point))
        top, bottom = axes[0][column], axes[1][column]
        _draw_plane(top, p, describe_point(point, claim.DIM_NAMES))
        xx, yy = np.meshgrid(p.axis, p.axis)
        levels = np.linspace(np.percentile(p.output, 5), np.percentile(p.output, 95), 9)
        top.contour(xx, yy, p.output, levels=levels[levels != 0], colors="0.3", linewidths=0.7, linestyles="dotted")
        t, values = output_along_means(p)
        X, y = p.data.X, p.data.y
        negative, positive = X[y < 0].mean(axis=0), X[y > 0].mean(axis=0)
        ends = negative + np.outer(t[[0, -1]], positive - negative)
        top.plot(ends[:, 0], ends[:, 1], "--", color="tab:green", lw=1)
        fit = np.polyval(np.polyfit(t, values, 1), t)
        bottom.plot(t, values, color="k", label="N_W along the line (green dashes above)")
        bottom.plot(t, fit, ":", color="tab:green", label="best straight-line fit")
        bottom.axhline(0, color="0.6", lw=0.8)
        bottom.set(xlabel="position t on the line (0: mean of y = -1, 1: mean of y = +1)", ylabel="N_W",
                   title=f"slope varies by {slope_spread(t, values):.0%} along the line")
        bottom.legend()
    handles = _plane_legend() + [Line2D([], [], ls="dotted", color="0.3", label="level sets of N_W"),
                                 Line2D([], [], ls="--", color="tab:green", label="line through the class means")]
    axes[0][0].legend(handles=handles, loc="lower right", fontsize=6)
    _title(fig, found)
    return fig


@figure_file
def fig4_par_prediction(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 4 (THEORY.md §4): per data set (columns), top: the learned boundary and neurons
    (first seed) with the predicted directions as hollow arrows; bottom: 1 - cos between every
    neuron of every seed and each candidate direction over training."""
    found = claim.fig4_par_prediction(ds)
    if found is None:
        return None
    by_data = {}
    for point in claim.runs(ds):
        by_data.setdefault(describe_point({k: v for k, v in point.items() if k != SEED_DIM}, claim.DIM_NAMES), []).append(point)
    fig, axes = panel_grid(2, len(by_data))
    epochs = ds["epoch"].values
    for column, (name, points) in enumerate(by_data.items()):
        candidates = None
        for point in points:
            candidates, cosines = claim.fig4_cosines(ds, point)
            for color, (candidate, values) in zip(CANDIDATE_COLORS, cosines.items()):
                axes[1][column].plot(epochs, np.clip(1 - values, 1e-12, None), color=color, lw=0.5, alpha=0.5)
        first = points[0]
        predicted = np.vstack([candidates.w[candidates.prediction], candidates.u[candidates.prediction]])
        _draw_plane(axes[0][column], plane(run_params(ds, first), final_weights(ds, first)),
                    f"{name}, {describe_point({SEED_DIM: first.get(SEED_DIM, 0)}, claim.DIM_NAMES)}", predicted=predicted)
        degrees = {key: np.degrees(np.arccos(np.clip(candidates.w[key] @ candidates.w[candidates.prediction], -1, 1)))
                   for key in candidates.w if key != candidates.prediction}
        handles = [Line2D([], [], color=color, label=key if key == candidates.prediction else
                          f"{key} (w: {degrees[key]:.0f}° from the prediction)")
                   for color, key in zip(CANDIDATE_COLORS, candidates.w)]
        axes[1][column].set(xscale="log", yscale="log", xlabel="epoch (full-batch step)",
                            ylabel="1 - cos(neuron, candidate direction)",
                            title=f"{name}: every neuron of {len(points)} seeds, one thin line each")
        axes[1][column].legend(handles=handles, fontsize=6)
    axes[0][0].legend(handles=_plane_legend(predicted="predicted direction (PAR-SVM), hollow"), loc="upper left",
                      fontsize=6)
    _title(fig, found)
    return fig


@figure_file
def fig5_relu_vs_leaky(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 5 (App. D.1): two-neuron networks, ReLU (top row) against Leaky ReLU (bottom),
    every seed (columns)."""
    found = claim.fig5_relu_vs_leaky(ds)
    if found is None:
        return None
    alphas = [0.0, max(parameter_values(ds, "alpha"))]
    chosen = [point for point in claim.runs(ds) if point["alpha"] in alphas]
    seeds = sorted({point.get(SEED_DIM, 0) for point in chosen})
    fig, axes = panel_grid(2, len(seeds))
    for point in chosen:
        ax = axes[alphas.index(point["alpha"])][seeds.index(point.get(SEED_DIM, 0))]
        p = plane(run_params(ds, point), final_weights(ds, point))
        kind = "ReLU (α = 0)" if point["alpha"] == 0 else f"Leaky ReLU (α = {point['alpha']:g})"
        zero = f", N_W = 0 on {np.mean(p.output == 0):.1%} of the square" if point["alpha"] == 0 else ""
        _draw_plane(ax, p, f"{kind}, {describe_point({SEED_DIM: point.get(SEED_DIM, 0)}, claim.DIM_NAMES)}{zero}")
    axes[0][0].legend(handles=_plane_legend(zero_region=True), loc="lower right", fontsize=6)
    _title(fig, found)
    return fig


# ---------------------------------------------------------------- curves over training (THEORY.md §3-4)

def _linear_regime_figure(ds: xr.Dataset, found: claim.Claim) -> Figure:
    fig, axes = panels(2)
    for ax, split in zip(axes, ("train", "test")):
        draw_curves(ax, ds, (f"linear_frac_{split}",), EPOCH, f"share of {split} points outside the linear regime",
                    transform=lambda x: 1 - x, labels={f"linear_frac_{split}": f"{split} points outside"},
                    each_seed=True, dim_names=claim.DIM_NAMES)
        ax.set_ylim(-0.02, 1.02)
    _title(fig, found)
    return fig


@figure_file
def fig2_linear_regime(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 2 / App. D.2: share of points OUTSIDE the linear regime (1 - linear_frac), MNIST pairs."""
    found = claim.fig2_linear_regime(ds)
    return None if found is None else _linear_regime_figure(ds, found)


@figure_file
def fig6_mnist_pairs(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 6 / App. D.2: the Fig. 2 curves for more MNIST digit pairs."""
    found = claim.fig6_mnist_pairs(ds)
    return None if found is None else _linear_regime_figure(ds, found)


@figure_file
def fig7_clustering(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 7 / App. D.3: clustering ratio 2R/||wbar - ubar|| and largest same-type angle."""
    found = claim.fig7_clustering(ds)
    if found is None:
        return None
    fig, axes = panels(2)
    draw_curves(axes[0], ds, ("cluster_ratio",), EPOCH, "clustering ratio 2R / ||w̄ - ū||", each_seed=True,
                labels={"cluster_ratio": "clustering ratio"}, dim_names=claim.DIM_NAMES)
    draw_curves(axes[1], ds, ("max_angle",), EPOCH, "largest angle between same-type neurons (degrees)",
                each_seed=True, labels={"max_angle": "largest same-type angle"}, dim_names=claim.DIM_NAMES)
    for ax in axes:
        ax.set_yscale("log")
    _title(fig, found)
    return fig


@figure_file
def fig8_par_share(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 8 / App. I: share of w- and u-neurons in PAR over training, Gaussian data."""
    found = claim.fig8_par_share(ds)
    if found is None:
        return None
    fig, axes = panels(2)
    for ax, (name, kind) in zip(axes, (("par_share_w", "w-neurons"), ("par_share_u", "u-neurons"))):
        draw_curves(ax, ds, (name,), EPOCH, f"share of {kind} in PAR", each_seed=True,
                    labels={name: f"{kind} in PAR"}, dim_names=claim.DIM_NAMES)
        ax.set_ylim(-0.02, 1.02)
    _title(fig, found)
    return fig


@figure_file
def fig9_outlier(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 9 / App. J, its four panels: (a) accuracy, (b) neuron directions, (c) the most
    points two same-type neurons disagree on, (d) the PAR share; every seed."""
    found = claim.fig9_outlier(ds)
    if found is None:
        return None
    fig, axes = panels(4)
    epochs = ds["epoch"].values
    points = list(claim.runs(ds))
    if "weight_history" in ds:
        for point in points:
            params = run_params(ds, point)
            data = make_dataset(params)
            history = claim.weight_history(ds, point)
            for X, y, style in ((data.X, data.y, "-"), (data.X_test, data.y_test, "--")):
                accuracy = [np.mean(np.sign(network_output(X, W, params.alpha, params.v)) == y)
                            if np.isfinite(W).all() else np.nan for W in history]
                axes[0].plot(epochs, accuracy, style, color="k", lw=0.6, alpha=0.5)
        axes[0].legend(handles=[Line2D([], [], color="k", label="training accuracy, each seed"),
                                Line2D([], [], color="k", ls="--", label="test accuracy, each seed")])
    else:
        axes[0].text(0.5, 0.5, "no weight history in this store\n(save_weight_history)", ha="center", va="center",
                     transform=axes[0].transAxes)
    axes[0].set(xscale="log", xlabel="epoch", ylabel="accuracy", title="(a) accuracy")
    _draw_directions(axes[1], ds, points)
    for ax, (w_name, u_name), ylabel, title in (
            (axes[2], ("disagree_w", "disagree_u"), "training points", "(c) most points two same-type neurons disagree on"),
            (axes[3], ("par_share_w", "par_share_u"), "share of neurons", "(d) share of neurons in PAR")):
        for name, color, kind in ((w_name, W_COLOR, "w-neurons"), (u_name, U_COLOR, "u-neurons")):
            for point in points:
                ax.plot(epochs, ds[name].sel(point).values, color=color, lw=0.7, alpha=0.6)
            ax.plot([], [], color=color, label=f"{kind}, each seed")
        ax.set(xscale="log", xlabel="epoch", ylabel=ylabel, title=title)
        ax.legend()
    axes[2].set_ylim(bottom=-0.5)
    axes[3].set_ylim(-0.02, 1.02)
    _title(fig, found)
    return fig


def _draw_directions(ax, ds: xr.Dataset, points: list[dict[str, Any]]) -> None:
    """(b): the first run's training data (the outlier ringed) and every seed's final neuron
    directions as unit arrows (a note instead when the store kept no weights)."""
    if not ("weights" in ds or "weight_history" in ds):
        ax.text(0.5, 0.5, "no saved weights in this store\n(save_weights or save_weight_history)",
                ha="center", va="center", transform=ax.transAxes)
        ax.set(title="(b) final neuron directions", xticks=[], yticks=[])
        return
    first = points[0]
    data = make_dataset(run_params(ds, first))
    X, y = data.X, data.y
    for label, color in ((1, W_COLOR), (-1, U_COLOR)):
        ax.scatter(*X[y == label, :2].T, s=6, color=color, alpha=0.5)
    ax.scatter(*X[OUTLIER_INDEX, :2], s=80, facecolor="none", edgecolor="k", zorder=4)
    limit = 1.15 * float(np.abs(X[:, :2]).max())
    for point in points:
        W = final_weights(ds, point) if "weights" in ds else claim.weight_history(ds, point)[-1]
        k = W.shape[0] // 2
        unit = W[:, :2] / np.linalg.norm(W[:, :2], axis=1, keepdims=True) * 0.9 * limit
        for rows, color in ((unit[:k], W_COLOR), (unit[k:], U_COLOR)):
            ax.quiver(np.zeros(len(rows)), np.zeros(len(rows)), rows[:, 0], rows[:, 1], angles="xy",
                      scale_units="xy", scale=1, width=0.004, color=color, alpha=0.5)
    ax.legend(handles=[
        Line2D([], [], marker="o", ls="", color=W_COLOR, ms=4, label="training point, y = +1"),
        Line2D([], [], marker="o", ls="", color=U_COLOR, ms=4, label="training point, y = -1"),
        Line2D([], [], marker="o", ls="", mfc="none", mec="k", ms=9, label="the outlier (y = +1)"),
        _arrow(W_COLOR, "w-neuron directions, every seed"),
        _arrow(U_COLOR, "u-neuron directions, every seed"),
    ], fontsize=6, loc="lower right")
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal", xlabel="x₁", ylabel="x₂",
           title="(b) final neuron directions (unit length)")


FIGURES: tuple[FigureFile, ...] = (
    epochs_vs_parameters, scaling_laws, ratio_heatmap, runs_against_bounds, bound_tightness, prop7_worst_case, fig1_boundaries, fig2_linear_regime, fig3_nonlinear_output,
    fig4_par_prediction, fig5_relu_vs_leaky, fig6_mnist_pairs, fig7_clustering, fig8_par_share, fig9_outlier,
)
