"""Figures of the ``biased_relu`` problem (THEORY.md §6.3), each drawn from every seed.

Each follows the contract of :mod:`analysis.plotting` (``figure(ds, out_dir) -> list[Path]``,
[] when the store lacks what it needs). Every seed's run is a dot (or a thin line), the
median over seeds a thick line with its interquartile band (no band, and no interval of a
fit, from fewer than MIN_BAND_SEEDS seeds: 'n = 3' instead); titles state the fitted numbers and on what share of
seeds a claim holds (:mod:`.evidence`). :data:`FIGURES` lists them in report order.
"""
from __future__ import annotations

import itertools

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from analysis.plotting import (DPI, MIN_BAND_SEEDS, PANEL_SIZE, QUARTILES, describe_point, figure_file, figure_title,
                               legend_beside, median_and_band, panel_grid, panels, parameter_values, seeds_phrase,
                               readable_log_ticks, setting, spread_note, wrapped)
from analysis.stats import CONFIDENCE, nanmedian, nanquantiles, point_dims, power_law
from kernels.hermite import normal_pdf
from sweep.problems.biased_relu import evidence
from sweep.problems.biased_relu.evidence import ERROR, at_learner, counted, learners, loaded

BIAS_LEGEND_LINES = 9  # lines of the legend under each column of error_vs_bias
SHORT = {ERROR: "direction error", "test_rel_l2": "test error"}  # a row of error_vs_samples in its legend
LEARNER_COLORS = {"moments": "C0", "sgd": "C3", "hybrid": "C2"}
LABELS = {ERROR: "max direction error ||±ŵ − w||", "test_rel_l2": "test relative L2 error",
          "err_b_sign_agnostic": "max bias error |±b̂ − b|", "err_a": "max output-weight error |â − a|",
          "N": "samples N", "beta": "bias range β (b ~ U[−β, β])", "cond": "cond (directions' anisotropy)"}


def _series(values: xr.DataArray, along: str, by: tuple[str, ...]):
    """(label, x, per-seed values (seeds, x)) for every combination of the dims ``by``."""
    for combo in itertools.product(*(values[dim].values for dim in by)):
        point = dict(zip(by, combo))
        line = values.sel(point) if point else values
        line = line.transpose(..., along)
        yield (", ".join(f"{dim}={v}" for dim, v in point.items()), line[along].values,
               line.values.reshape(-1, line.sizes[along]))


def _draw(ax, x, per_seed, color, label, marker="o") -> None:
    """Every seed as a dot, the median over seeds as a line, and the interquartile band where
    at least MIN_BAND_SEEDS seeds have a value (:func:`analysis.plotting.median_and_band`)."""
    ax.plot(np.repeat(x[None], per_seed.shape[0], 0).ravel(), per_seed.ravel(), marker, color=color, ms=2.5,
            alpha=0.3, lw=0)
    if np.isfinite(per_seed).any(axis=1).sum() >= MIN_BAND_SEEDS:
        low, high = nanquantiles(per_seed.T, np.array(QUARTILES)).T
        ax.fill_between(x, low, high, color=color, alpha=0.15, lw=0)
    ax.plot(x, nanmedian(per_seed.T), marker + "-", color=color, label=label, ms=4)


def _seeds(values: xr.DataArray) -> int:
    """Seeds with at least one value."""
    if "seed" not in values.dims:
        return int(values.notnull().any())
    return int(values.notnull().any([dim for dim in values.dims if dim != "seed"]).sum())


def _interval(law, seeds: int) -> str:
    """' [lo, hi]' of a fit over ``seeds`` seeds, or ' (n = 3 seeds)' from fewer than MIN_BAND_SEEDS."""
    return f" [{law.lo:.2f}, {law.hi:.2f}]" if seeds >= MIN_BAND_SEEDS else f" (n = {seeds} seeds)"


def _setting(ds: xr.Dataset, held: dict) -> str:
    """The teacher's size and the sample count of the panel: d, m, N, fixed or held."""
    fixed = {name: parameter_values(ds, name)[0] for name in ("d", "m", "N") if name not in ds.dims}
    return describe_point({**fixed, **held})


def _other_dims(ds: xr.Dataset, *exclude: str) -> tuple[str, ...]:
    return tuple(dim for dim in point_dims(ds) if dim not in (*exclude, "learner") and ds.sizes[dim] >= 2)


LEGEND_LINE = 0.16  # inches per line of a legend under a column (7 pt)


def _panels_with_legends(rows: int, columns: int, legend_lines: int) -> tuple[Figure, np.ndarray, np.ndarray]:
    """A figure of ``rows`` x ``columns`` panels and, under them, a row of empty axes of
    ``legend_lines`` legend lines for :func:`_legends_under`: (figure, panels, legend axes)."""
    share = LEGEND_LINE * legend_lines / PANEL_SIZE[1]
    fig = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * (rows + share)), dpi=DPI, layout="constrained")
    grid = fig.subplots(rows + 1, columns, gridspec_kw={"height_ratios": [1] * rows + [share]}, squeeze=False)
    return fig, grid[:rows], grid[rows]


def _legends_under(legend_axes, axes: np.ndarray, columns: int = 1) -> None:
    """Under each column of ``axes``, one legend of every labelled mark of its panels (a
    label shared by several once), outside the data."""
    for ax, column in zip(legend_axes, axes.T):
        ax.set(xticks=[], yticks=[])
        ax.set_axis_off()
        entries: dict = {}
        for panel in column:
            for handle, label in zip(*panel.get_legend_handles_labels()):
                entries.setdefault(label, handle)
        if entries:
            ax.legend(list(entries.values()), list(entries), loc="upper center", fontsize=7, ncols=columns,
                      frameon=False)


# ---------------------------------------------------------------- error against N (the N^{-1/2} rate)

def _flagged(ax, x, per_seed, flags) -> None:
    """Runs whose pencil eigenvectors had imaginary parts (imag_flag = 1) ringed in black."""
    hit = flags == 1
    if hit.any():
        ax.plot(np.broadcast_to(x, per_seed.shape)[hit], per_seed[hit], "o", mfc="none", mec="k", ms=6, mew=0.8)


@figure_file
def error_vs_samples(ds: xr.Dataset) -> Figure | None:
    """Per learner (columns): the direction error (top) and the test error (bottom) against N,
    one colour per (d, m): each seed a dot, the median a line, the power law fitted to the
    medians in the local regime (seed-median direction error below LOCAL) with its interval,
    and the theory's rate (N^-1/2, N^-1) with its constant fitted to the same points; runs
    flagged for imaginary pencil eigenvectors ringed."""
    if "N" not in ds.dims or ds.sizes["N"] < 2:
        return None
    names = learners(ds)
    rates = {(r.learner, r.variable): r for variable in (ERROR, "test_rel_l2") for r in evidence.rates(ds, variable)}
    ds = loaded(ds, ERROR, "test_rel_l2", "imag_flag")
    by = _other_dims(ds, "N")
    series_count = int(np.prod([ds.sizes[dim] for dim in by]))
    fig, axes, legends = _panels_with_legends(2, len(names), 2 * series_count + 5)
    for column, learner in enumerate(names):
        runs = at_learner(ds, learner)
        flags = runs["imag_flag"].where(runs["done"])
        local = {label: nanmedian(per_seed.T) < evidence.LOCAL
                 for label, _, per_seed in _series(counted(runs, ERROR), "N", by)}
        for row, variable in enumerate((ERROR, "test_rel_l2")):
            ax = axes[row, column]
            expected = evidence.RATES[variable]
            series = zip(_series(counted(runs, variable), "N", by), _series(flags, "N", by))
            for index, ((label, x, per_seed), (_, _, flag)) in enumerate(series):
                color = f"C{index}"
                x = x.astype(np.float64)
                law = power_law(x[local[label]], per_seed[:, local[label]])
                fit = (f": fit N^{law.exponent:.2f}{_interval(law, int(np.isfinite(per_seed).any(axis=1).sum()))}" if law is not None
                       else ": no fit (< 2 local N)")
                _draw(ax, x, per_seed, color, f"{SHORT[variable]}, {label or learner}{fit}")
                if learner != "sgd":
                    _flagged(ax, x, per_seed, flag)
                if law is not None:
                    ax.plot(law.x, law(law.x), "-", color=color, lw=2.5, alpha=0.35)
                    ax.plot(law.x, law.amplitude_for(expected) * law.x ** expected, ":", color=color, lw=1.2)
            ax.plot([], [], "-", color="0.4", lw=2.5, alpha=0.35, label=f"fitted power law ({CONFIDENCE:.0%} "
                    f"interval of the exponent in each label), local N")
            ax.plot([], [], ":", color="0.4", lw=1.2, label=f"theory N^({expected:g}), constant fitted per series")
            ax.plot([], [], ".", color="0.4", alpha=0.5, label="one seed; line: median over seeds")
            if learner != "sgd":
                ax.plot([], [], "o", mfc="none", mec="k", ms=6, label="imag_flag = 1 (complex pencil eigenvectors)")
            if variable == ERROR:
                ax.axhline(evidence.LOCAL, color="k", ls="--", lw=1, label=f"local regime: median below {evidence.LOCAL}")
            rate = rates.get((learner, variable))
            fit = (f"\npooled slope (local N): {rate.slope:.2f}{_interval(rate, _seeds(counted(runs, ERROR)))}; seed "
                   f"series within {evidence.BAND:g} of {expected:g}: {rate.share_in_band:.0%} of {rate.series}"
                   if rate else "")
            ax.set(xscale="log", yscale="log", xlabel=LABELS["N"], ylabel=LABELS[variable],
                   title=wrapped(f"{learner}, {_setting(ds, {})}{fit}"))
    _legends_under(legends, axes)
    figure_title(fig, f"biased_relu: error against N; {seeds_phrase(ds, 'each a new teacher and samples')}. "
                      f"Each column's legend is under it.")
    return fig


# ---------------------------------------------------------------- error against the bias range

FLAG_LABEL = "imag_flag = 1 (complex pencil eigenvectors)"


def _flag_entry(ax, flagged: int, runs: int) -> None:
    ax.plot([], [], "o", mfc="none", mec="k", ms=6, label=f"{FLAG_LABEL}: {flagged} of {runs} runs")


def _bias_law_panel(ax, ds: xr.Dataset, law: evidence.BiasLaw) -> None:
    """Every neuron's direction error against its own |b| (moment learner; neurons of runs with
    imag_flag = 1 ringed), the bins' medians with their interquartile range, and the law
    c / phi(|b|): solid where it holds, dashed over the range where it is withdrawn."""
    runs = at_learner(ds, law.bins.learner).sel(evidence.bias_law_point(ds))
    bias = np.abs(runs["teacher_b"].where(runs["done"])).transpose(..., "neuron").values
    error = counted(runs, "neuron_err_w").transpose(..., "neuron").values
    flagged = np.broadcast_to((runs["imag_flag"] == 1).values[..., None], bias.shape)
    color = LEARNER_COLORS.get(law.bins.learner, "k")
    ax.plot(bias.ravel(), error.ravel(), ".", color=color, ms=3, alpha=0.35, label="one neuron of one run")
    ax.plot(bias[flagged], error[flagged], "o", mfc="none", mec="k", ms=6, mew=0.8)
    _flag_entry(ax, int((runs["imag_flag"] == 1).sum()), int(runs["done"].sum()))
    bins = law.bins
    banded = bins.neurons >= evidence.MIN_INTERVAL
    ax.errorbar(bins.bias[banded], bins.median[banded],
                yerr=[bins.median[banded] - bins.q25[banded], bins.q75[banded] - bins.median[banded]],
                fmt="s", color="k", ms=5, capsize=2, lw=0, elinewidth=1,
                label=f"median of a |b| bin of {evidence.BIAS_BIN:g}, interquartile bar")
    ax.plot(bins.bias[~banded], bins.median[~banded], "s", color="k", mfc="w", ms=5,
            label=f"median of a bin with fewer than {evidence.MIN_INTERVAL} neurons (no bar)")
    grid = np.linspace(0.0, bins.edges[-1], 200)
    start = law.holds_from if law.holds_from is not None else np.inf
    ax.plot(grid[grid >= start], law(grid[grid >= start]), "-", color="tab:red", lw=1.5,
            label=f"law c / φ(|b|), c = {law.c:.3g}: holds")
    ax.plot(grid[grid <= start], law(grid[grid <= start]), "--", color="tab:red", lw=1.0, alpha=0.6,
            label="law withdrawn here (the fitted exponent's interval excludes 1)")
    if start > 0:
        ax.axvspan(0.0, min(start, bins.edges[-1]), color="0.9", lw=0, label="|b| where the law is withdrawn")
    ax.axhline(evidence.LOCAL, color="k", ls=":", lw=1, label=f"local regime: median below {evidence.LOCAL}")
    whole = law.scan[0][1]
    held = law.fit(law.holds_from)
    verdict = (f"holds from |b| ≥ {law.holds_from:g}: k = {held.exponent:.2f} [{held.lo:.2f}, {held.hi:.2f}]"
               if held is not None else "holds nowhere")
    ax.set(yscale="log", xlabel="|b| of the neuron", ylabel="the neuron's direction error ||±ŵ − w||",
           title=wrapped(f"{law.bins.learner}: err = c / φ(|b|)^k per neuron, {verdict}; over the whole "
                         f"local range (|b| ≥ {law.scan[0][0]:g}) k = {whole.exponent:.2f} [{whole.lo:.2f}, "
                         f"{whole.hi:.2f}] ({CONFIDENCE:.0%} bootstrap over runs)"))


@figure_file
def error_vs_bias(ds: xr.Dataset) -> Figure | None:
    """THEORY.md §6.3, error against the bias: each neuron's direction error against its own
    |b| with the law c / phi(|b|) where it holds and withdrawn where not
    (:func:`.evidence.bias_law`); the largest direction, bias and output-weight errors against
    beta per learner (each seed a dot, the median a line), the direction error beside the law
    applied to each run's own neurons (max_l c / phi(b_l), median over seeds). Runs with
    imag_flag = 1 are ringed."""
    if "beta" not in ds.dims or ds.sizes["beta"] < 2:
        return None
    law = evidence.bias_law(ds)
    variables = (ERROR, "err_b_sign_agnostic", "err_a")
    ds = loaded(ds, *variables, "teacher_b", "neuron_err_w", "imag_flag")
    fig, grid, legends = _panels_with_legends(2, 2, BIAS_LEGEND_LINES)
    axes = list(grid.ravel())
    if law is not None:
        _bias_law_panel(axes[0], ds, law)
    else:
        axes[0].set_axis_off()
    held = evidence.bias_law_point(ds)
    for ax, variable in zip(axes[1:], variables):
        for learner in learners(ds):
            runs = at_learner(ds, learner).sel(held)
            for _, x, per_seed in _series(counted(runs, variable), "beta", ()):
                _draw(ax, x, per_seed, LEARNER_COLORS.get(learner, "k"), learner)
                if learner != "sgd":
                    _flagged(ax, x, per_seed, runs["imag_flag"].where(runs["done"]).transpose(..., "beta").values
                             .reshape(per_seed.shape))
        if variable == ERROR and law is not None:
            runs = at_learner(ds, law.bins.learner).sel(held)
            bias = runs["teacher_b"]
            predicted = bias.copy(data=law(np.abs(bias.values))).max("neuron").where(runs["done"])
            for _, x, per_seed in _series(predicted, "beta", ()):
                ax.plot(x, nanmedian(per_seed.T), "k--", lw=1,
                        label="law per neuron, max over the run's neurons (median over seeds)")
        ax.plot([], [], "o", mfc="none", mec="k", ms=6, label=FLAG_LABEL)
        ax.set(yscale="log", xlabel=LABELS["beta"], ylabel=LABELS[variable],
               title=wrapped(f"{_setting(ds, held)}; each seed a dot, median a line, interquartile band"))
    _legends_under(legends, grid)
    figure_title(fig, f"biased_relu: error against the bias; {seeds_phrase(ds, 'each a new teacher and samples')}. "
                      f"Each column's legend is under it.")
    return fig


# ---------------------------------------------------------------- the zero-bias ablation

@figure_file
def zero_bias_ablation(ds: xr.Dataset) -> Figure | None:
    """The b = 0 neuron's direction error (red, one line per seed) and the other neurons'
    (grey) against N: the pencil anchored on T_2 (left) and Jennrich on T_3 alone (right)."""
    summary = evidence.zero_bias(ds)
    if summary is None:
        return None
    runs = at_learner(loaded(ds, "neuron_err_w", "neuron_err_w_t3_only"), "moments")
    fig, axes = panels(2)
    names = (("neuron_err_w", "pencil anchored on T_2", summary.pencil, summary.others_pencil),
             ("neuron_err_w_t3_only", "T_3 alone (Jennrich)", summary.t3_only, summary.others_t3_only))
    for ax, (name, title, zero_ok, others_ok) in zip(axes, names):
        values = runs[name].where(runs["done"])
        x = values["N"].values if "N" in values.dims else np.array(parameter_values(ds, "N"))
        lines = values.transpose(..., "neuron", *(["N"] if "N" in values.dims else []))
        per_run = lines.values.reshape(-1, values.sizes["neuron"], x.size)
        for series in per_run:
            for neuron, line in enumerate(series):
                zero = neuron == summary.neuron
                ax.plot(x, line, "o-" if zero else ".-", color="tab:red" if zero else "0.6", lw=1 if zero else 0.5,
                        ms=3, alpha=0.8 if zero else 0.4)
        ax.axhline(evidence.RECOVERED, color="k", ls=":", lw=1)
        ax.plot([], [], "o-", color="tab:red", label=f"neuron {summary.neuron} (b = 0), each seed")
        ax.plot([], [], ".-", color="0.6", label="the other neurons")
        ax.set(xscale="log", yscale="log", xlabel=LABELS["N"], ylabel="direction error ||±ŵ − w||",
               title=wrapped(f"{title}\nat N = {summary.N:.0e}, error < {evidence.RECOVERED} (dotted): the b = 0 neuron "
                             f"on {zero_ok}/{summary.seeds} seeds, the other neurons {others_ok}/{summary.others}"))
        ax.legend(fontsize=7)
    return fig


# ---------------------------------------------------------------- conditioning and width

@figure_file
def error_vs_conditioning(ds: xr.Dataset) -> Figure | None:
    """The largest direction error (top) and the share of neurons recovered (bottom,
    direction error < RECOVERED) against cond (one line per m/d), against m/d (one line per
    cond), and against the realised s_m (every run)."""
    swept = [dim for dim in ("cond", "m") if dim in ds.dims and ds.sizes[dim] >= 2]
    if not swept or "learner" in ds.dims and ds.sizes["learner"] > 1:
        return None
    d = parameter_values(ds, "d")
    per_m = len(d) == 1  # m is shown as m / d
    ds = loaded(ds, ERROR, "neuron_err_w", "s_m", "imag_flag")
    flags = ds["imag_flag"].where(ds["done"])
    rows = ((counted(ds, ERROR), LABELS[ERROR], "log"),
            (evidence.recovered_share(ds), f"share of neurons with error < {evidence.RECOVERED}", "linear"))
    entries = max(ds.sizes[dim] for dim in swept) + 1  # one line per series and the flag entry
    fig, axes, legends = _panels_with_legends(2, len(swept) + 1, -(-entries // 2))
    for (values, ylabel, yscale), row in zip(rows, axes):
        for ax, along in zip(row, swept):
            by = tuple(dim for dim in swept if dim != along)
            series = zip(_series(values, along, by), _series(flags, along, by))
            for index, ((label, x, per_seed), (_, _, flag)) in enumerate(series):
                if by == ("m",) and per_m:
                    label = f"m/d = {int(label.removeprefix('m=')) / d[0]:.2g}"
                x = x / (d[0] if along == "m" and per_m else 1)
                _draw(ax, x, per_seed, f"C{index}", label)
                _flagged(ax, x, per_seed, flag)
            _flag_entry(ax, int((flags == 1).sum()), int(ds["done"].sum()))
            ax.set(xscale="log" if along == "cond" else "linear", yscale=yscale, ylabel=ylabel,
                   xlabel=LABELS["cond"] if along == "cond" else ("m / d" if per_m else "m"),
                   title="each seed a dot, median a line, interquartile band" if per_m else "each seed a dot")
        ax = row[-1]
        s_m = ds["s_m"].where(ds["done"])
        for index, m in enumerate(ds["m"].values if "m" in ds.dims else [None]):
            at = {"m": m} if m is not None else {}
            ax.plot(s_m.sel(at).values.ravel(), values.sel(at).values.ravel(), ".", ms=3, alpha=0.6,
                    color=f"C{index}", label=f"m = {m}" if m is not None else None)
        hit = (flags == 1).values
        ax.plot(s_m.values[hit], values.values[hit], "o", mfc="none", mec="k", ms=6, mew=0.8)
        ax.set(xscale="log", yscale=yscale, xlabel="s_m (smallest singular value of W)", ylabel=ylabel,
               title="every run (imag_flag = 1 ringed)")
    for ax in axes.ravel():
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                readable_log_ticks(axis)
    _legends_under(legends, axes[-1:], columns=2)  # each column's marks, the same in both rows
    figure_title(fig, f"biased_relu: direction error and recovered share against the conditioning of the teacher's "
                      f"directions and the width: {setting(ds, ('d', 'N', 'beta', 'learner'))}, "
                      f"{seeds_phrase(ds, 'each a new teacher and samples')}. Each column's legend is under it.")
    return fig


# ---------------------------------------------------------------- learning curves

@figure_file
def learning_curves(ds: xr.Dataset) -> Figure | None:
    """test_rel_l2 along the SGD steps of sgd and hybrid: median over seeds and interquartile band
    (each seed a thin line with fewer than MIN_BAND_SEEDS), at the largest N (other dims at their
    middle value)."""
    if "test_rel_l2_curve" not in ds:
        return None
    names = [learner for learner in learners(ds) if learner != "moments"]
    ds = loaded(ds, "test_rel_l2_curve")
    held = {dim: ds[dim].values[-1 if dim == "N" else ds.sizes[dim] // 2] for dim in _other_dims(ds)}
    fig, (ax,) = panels(1)
    steps = ds["step"].values
    for learner in names:
        curve = at_learner(ds, learner)["test_rel_l2_curve"].where(at_learner(ds, learner)["done"]).sel(held)
        per_seed = curve.transpose(..., "step").values.reshape(-1, steps.size)
        color = LEARNER_COLORS.get(learner, "k")
        shown = steps > 0  # log axis: the start (step 0) is the first point's left neighbour
        median_and_band(ax, steps[shown], per_seed[:, shown], color, f"{learner}: {spread_note(per_seed[:, shown])}")
    ax.set(xscale="log", yscale="log", xlabel="SGD step", ylabel=LABELS["test_rel_l2"],
           title=describe_point(held) or "all runs")
    ax.legend(fontsize=7)
    return fig


FIGURES = (error_vs_samples, error_vs_bias, zero_bias_ablation, error_vs_conditioning, learning_curves)
