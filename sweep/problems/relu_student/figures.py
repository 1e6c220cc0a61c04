"""Figures of the ``relu_student`` problem (THEORY.md §6.2).

Each follows the contract of :mod:`analysis.plotting` (``figure(ds, out_dir) ->
list[Path]``, [] when the store lacks what it needs) and shows every run it summarises
(a panel per run, or counts k/n per cell, or a band over all runs):

- :func:`plane_paths`: the paths of the atoms c_k theta_k in the plane over training
  (d = 2), one panel per run, the teacher's atoms marked;
- :func:`success_heatmaps`: the share of runs that identified the teacher over M/m x
  lam, one heatmap per learner;
- :func:`convergence`: D_K, e_stray and F - F_final over the steps on log axes, per setting;
- :func:`masses_vs_expected`: final assigned masses against those expected at lam;
- :func:`outcomes_vs_M`: every run's outcome over M/m (identified, or why not:
  :mod:`.failures`), a panel per learner x lam.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.plotting import (PANEL_SIZE, as_python, describe_point, figure_file, figure_title, has, legend_row,
                               median_and_band, panel_grid, panels, parameter_values, seeds_phrase, setting, spread_entry,
                               wrapped)
from sweep.problems.relu_student.failures import (DEGENERATE, IDENTIFIED, NOT_FITTED, OFF, OUTCOMES, SPLIT, STRAY,
                                                  outcome_counts)
from sweep.problems.relu_student.tables import REPLICATE_DIMS, setting_dims, settings_table
from sweep.problems.relu_student.variables import FEATURE, STEP

MAX_RUN_PANELS = 6   # runs drawn per setting in plane_paths
MAX_SETTINGS = 8     # settings (rows of panels, or lines) per figure
MAX_COLUMNS = 4      # panels across in outcomes_vs_M
POSITIVE, NEGATIVE, TEACHER_COLOR = "tab:red", "tab:blue", "k"
FIXED = ("d", "m", "n", "batch", "lr", "steps", "lam", "learner", "rho", "M", "init_scale", "penalty")  # in titles
LABELS = {"lam": "λ", "init_scale": "init scale", "rho": "ρ"}


def _combinations(ds: xr.Dataset, dims) -> list[dict]:
    """Every combination of the values of ``dims`` (in grid order; [{}] for no dims)."""
    grids = np.meshgrid(*(ds[dim].values for dim in dims), indexing="ij")
    return [{dim: as_python(grid.flat[i]) for dim, grid in zip(dims, grids)} for i in range(grids[0].size)] if dims \
        else [{}]


def _settings(ds: xr.Dataset) -> list[dict]:
    """Every combination of the setting dims (in grid order), up to MAX_SETTINGS (one more
    when there are more, so that callers can tell)."""
    return _combinations(ds, setting_dims(ds))[:MAX_SETTINGS + 1]


def _replicates(ds: xr.Dataset) -> list[dict]:
    """Every combination of the replicate dims in the store ({} when there are none)."""
    return _combinations(ds, [dim for dim in REPLICATE_DIMS if dim in ds.dims])


def _learner_label(point: dict, ds: xr.Dataset) -> str:
    learner = point.get("learner", parameter_values(ds, "learner")[0])
    if learner == "gd":
        return "gd (= conic with ρ = 1)"
    return f"conic, ρ = {point.get('rho', parameter_values(ds, 'rho')[0]):g}"


# ---------------------------------------------------------------- paths in the plane

@figure_file
def plane_paths(ds: xr.Dataset) -> Figure | None:
    """The paths of c_k theta_k over training (d = 2), one panel per run: a row per setting,
    a column per replicate (seed, data_seed). Teacher atoms a_j w_j: black stars; atoms
    expected at lam (when lam > 0): hollow circles; final atoms: dots of area ~ |c_k|,
    red for c_k > 0 and blue for c_k < 0; the summed mass of the atoms within 0.1 rad of
    w_j, at w_j: black crosses (a teacher neuron split over several atoms puts them along
    its ray, their sum on the star)."""
    if not (has(ds, "path_mass", "path_direction") and ds.sizes[FEATURE] == 2):
        return None
    settings, replicates = _settings(ds)[:MAX_SETTINGS], _replicates(ds)[:MAX_RUN_PANELS]
    fig, axes = panel_grid(len(settings), len(replicates), square=True)
    for row, setting in enumerate(settings):
        for col, replicate in enumerate(replicates):
            _draw_paths(axes[row, col], ds.sel({**setting, **replicate}).compute(), {**setting, **replicate})
    legend_row(fig, axes, columns=3)
    shown, total = len(settings) * len(replicates), int(ds["done"].size)
    if shown < total:
        fig.suptitle(f"{shown} of the store's {total} runs (the first {MAX_SETTINGS} settings x "
                     f"{MAX_RUN_PANELS} replicates at most)")
    return fig


def _draw_paths(ax, run: xr.Dataset, point: dict) -> None:
    if not bool(run["done"]) or not np.isfinite(run["atom_mass"]).any():
        ax.set_title(f"{describe_point(point)}: no result")
        return
    points = (run["path_mass"] * run["path_direction"]).transpose(STEP, "neuron", FEATURE).values
    final = run["atom_mass"].values[:, None] * run["atom_direction"].values
    for k in range(points.shape[1]):
        if not np.isfinite(run["atom_mass"].values[k]):
            continue
        color = POSITIVE if run["atom_mass"].values[k] > 0 else NEGATIVE
        ax.plot(points[:, k, 0], points[:, k, 1], "-", color=color, lw=0.8, alpha=0.6)
    masses = run["atom_mass"].values
    ax.scatter(final[:, 0], final[:, 1], s=60 * np.abs(masses) / max(np.nanmax(np.abs(masses)), 1e-300),
               c=[POSITIVE if c > 0 else NEGATIVE for c in masses], zorder=3)
    teacher = run["teacher_mass"].values[:, None] * run["teacher_direction"].values
    ax.scatter(teacher[:, 0], teacher[:, 1], marker="*", s=160, facecolor="none", edgecolor=TEACHER_COLOR, zorder=4,
               label="teacher a_j w_j")
    if not np.array_equal(run["mass_lam"].values, run["teacher_mass"].values):  # lam > 0
        expected = run["mass_lam"].values[:, None] * run["direction_lam"].values
        ax.scatter(expected[:, 0], expected[:, 1], marker="o", s=90, facecolor="none", edgecolor="0.4", zorder=4,
                   label="expected at λ")
    clusters = run["mass"].values[:, None] * run["teacher_direction"].values
    ax.scatter(clusters[:, 0], clusters[:, 1], marker="x", s=50, color=TEACHER_COLOR, zorder=5,
               label="summed mass within 0.1 rad × w_j")
    circle = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(circle), np.sin(circle), color="0.8", lw=0.6, zorder=0)
    verdict = "identified" if int(run["success"]) == 1 else "not identified"
    if int(run["teacher_degenerate"]) == 1:
        verdict += ", degenerate teacher"
    for color, sign in ((POSITIVE, "> 0"), (NEGATIVE, "< 0")):
        ax.plot([], [], "o-", color=color, lw=0.8, ms=5, label=f"atom c_k θ_k with c_k {sign}: path, final (area ∝ |c_k|)")
    ax.set(aspect="equal", xlabel="c θ₁", ylabel="c θ₂",
           title=wrapped(f"{describe_point(point)}\n{verdict}\ne_mass {float(run['e_mass_lam']):.3f}, "
                         f"e_stray {float(run['e_stray_lam']):.3f}", PANEL_SIZE[1]))



# ---------------------------------------------------------------- success over (M/m, lam)

@figure_file
def success_heatmaps(ds: xr.Dataset) -> Figure | None:
    """Share of runs (over seeds and teachers) that identified the teacher, over M/m and
    lam, one heatmap per learner; every cell says k/n. Other setting dims are held at
    their middle value (in the title)."""
    if not (has(ds, "success") and "M" in ds.dims and "lam" in ds.dims):
        return None
    learner_dims = [dim for dim in ("learner", "rho") if dim in setting_dims(ds)]
    held = {dim: as_python(ds[dim].values[ds.sizes[dim] // 2]) for dim in setting_dims(ds)
            if dim not in ("M", "lam", *learner_dims)}
    table = settings_table(ds.sel(held) if held else ds, ("M", "lam", *learner_dims))
    learners = _learner_settings(table, learner_dims)
    fig, axes = panels(len(learners))
    m = parameter_values(ds, "m")[0]
    Ms, lams = [int(v) for v in ds["M"].values], [float(v) for v in ds["lam"].values]
    for ax, learner in zip(axes, learners):
        rows = table
        for dim, value in learner.items():
            rows = rows[rows[dim] == value]
        share = np.full((len(lams), len(Ms)), np.nan)
        for _, row in rows.iterrows():
            i, j = lams.index(float(row["lam"])), Ms.index(int(row["M"]))
            share[i, j] = row["share"]
            ax.text(j, i, f"{int(row['identified'])}/{int(row['runs'])}", ha="center", va="center", fontsize=8,
                    color="w" if row["share"] < 0.6 else "k")
        image = ax.imshow(share, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(Ms)), [f"{M / m:g}" for M in Ms])
        ax.set_yticks(range(len(lams)), [f"{lam:g}" for lam in lams])
        ax.grid(False)
        ax.set(xlabel=f"M / m (m = {m})", ylabel="λ",
               title=f"{_learner_label(learner, ds)}{'; ' + describe_point(held) if held else ''}")
    fig.colorbar(image, ax=axes, label="share of runs that identified the teacher")
    return fig


def _learner_settings(table, learner_dims: list[str]) -> list[dict]:
    """The learner settings present, gd rows only once (gd ignores rho)."""
    combos = table[learner_dims].drop_duplicates().to_dict("records") if learner_dims else [{}]
    seen, kept = set(), []
    for combo in combos:
        key = ("gd",) if combo.get("learner") == "gd" else tuple(combo.items())
        if key not in seen:
            seen.add(key)
            kept.append(combo)
    return kept


# ---------------------------------------------------------------- convergence over steps

CONVERGENCE_CURVES = (("D_K", "D_K (kernel distance to the teacher)"), ("e_stray", "stray mass e_stray"),
                      ("objective", "F - F_final"))


@figure_file
def convergence(ds: xr.Dataset) -> Figure | None:
    """D_K, e_stray and F - F_final (F_final: the run's last objective) over the steps, log
    axes; per setting the median over its runs (line) and their interquartile band (or each
    run, under 5: analysis.plotting.median_and_band). Stores of more than MAX_SETTINGS
    settings get none (too many lines to read)."""
    settings = _settings(ds)
    if not has(ds, "D_K", "e_stray", "objective", "final_objective") or len(settings) > MAX_SETTINGS:
        return None
    fig, axes = panels(len(CONVERGENCE_CURVES), legend_rows=-(-(len(settings) + 1) // 2) + 1)
    steps = ds[STEP].values
    for index, point in enumerate(settings):
        runs = ds.sel(point) if point else ds
        label = describe_point(point, LABELS) or "every run"
        for ax, (name, ylabel) in zip(axes, CONVERGENCE_CURVES):
            values = runs[name] - runs["final_objective"] if name == "objective" else runs[name]
            per_run = values.where(runs["done"]).transpose(..., STEP).values.reshape(-1, steps.size)
            per_run = np.where(per_run > 0, per_run, np.nan)
            if not np.isfinite(per_run).any():
                continue
            median_and_band(ax, steps, per_run, f"C{index}", f"{label}: median of {per_run.shape[0]} runs")
            ax.set(xscale="log", yscale="log", xlabel="step", ylabel=ylabel)
    spread_entry(axes[0], per_run)
    legend_row(fig, axes, columns=2)
    figure_title(fig, _title(ds, "convergence over the steps", settings[0] if len(settings) == 1 else {}))
    return fig


# ---------------------------------------------------------------- masses against the expected ones

@figure_file
def masses_vs_expected(ds: xr.Dataset) -> Figure | None:
    """Every run's mass per atom of the measure expected at its lam (the m-atom minimiser
    of the population objective; the teacher at lam = 0) against that atom's mass: the
    summed mass of the student's atoms within 0.1 rad of it, a panel per learner (and per
    value of the other setting dims but M and lam), a colour per lam. Filled: runs that
    identified the teacher; hollow: the others."""
    if not (has(ds, "mass_at_lam", "mass_lam", "success") and "lam" in ds.dims):
        return None
    groups = _combinations(ds, [dim for dim in setting_dims(ds) if dim not in ("M", "lam")])
    groups = [group for group in groups if not (group.get("learner") == "gd" and "rho" in group
                                                and group["rho"] != ds["rho"].values[0])][:MAX_COLUMNS]
    fig, axes = panels(len(groups), legend_rows=ds.sizes["lam"])
    for ax, group in zip(axes, groups):
        for index, lam in enumerate(ds["lam"].values):
            runs = ds.sel({**group, "lam": lam})
            done = runs["done"].values
            success = (runs["success"].values == 1) & done
            mass = runs["mass_at_lam"].transpose(..., "teacher").values
            expected = runs["mass_lam"].transpose(..., "teacher").values
            for chosen, face in ((success, f"C{index}"), (done & ~success, "none")):
                ax.scatter(expected[chosen].ravel(), mass[chosen].ravel(), s=14, facecolor=face,
                           edgecolor=f"C{index}", label=f"λ = {lam:g}, {'identified' if face != 'none' else 'not'}")
        limits = ax.get_xlim()
        ax.plot(limits, limits, color="0.5", lw=0.8, zorder=0)
        rest = {dim: value for dim, value in group.items() if dim not in ("learner", "rho")}
        ax.set(xlabel="mass expected at λ", ylabel="assigned student mass",
               title=wrapped(", ".join(filter(None, [_learner_label(group, ds), describe_point(rest, LABELS)]))))
    legend_row(fig, axes, columns=2)
    figure_title(fig, _title(ds, "final mass per atom of the measure expected at λ, every run"))
    return fig


# ---------------------------------------------------------------- outcomes over M/m

OUTCOME_COLORS = {IDENTIFIED: "tab:green", SPLIT: "yellowgreen", DEGENERATE: "0.6", NOT_FITTED: "tab:orange",
                  STRAY: "tab:red", OFF: "tab:purple"}


@figure_file
def outcomes_vs_M(ds: xr.Dataset) -> Figure | None:
    """Every finished run's outcome (:mod:`.failures`: identified, identified with a teacher
    neuron split over atoms, or the reason it failed) as stacked bars over M/m, a panel per
    learner (columns) x combination of the other setting dims (rows: lam, steps, ...; the
    first MAX_SETTINGS, the title says when there are more)."""
    if not (has(ds, "success", "atom_mass", "mass_lam", "teacher_degenerate") and "M" in ds.dims):
        return None
    learner_dims = [dim for dim in ("learner", "rho") if dim in setting_dims(ds)]
    other = [dim for dim in setting_dims(ds) if dim not in ("M", *learner_dims)]
    settings = _combinations(ds, other)
    counts = outcome_counts(ds, ("M", *other, *learner_dims))
    learners = _learner_settings(counts, learner_dims)
    shown = [(point, learner) for point in settings[:MAX_SETTINGS] for learner in learners]
    # a row per value of the other dims but the last, which goes across with the learners
    columns = min(len(learners) * (ds.sizes[other[-1]] if other else 1), MAX_COLUMNS, len(shown))
    fig, axes = panel_grid(-(-len(shown) // columns), columns)
    m, Ms = parameter_values(ds, "m")[0], [int(M) for M in ds["M"].values]
    for ax, (point, learner) in zip(axes.flat, shown):
        rows = counts
        for dim, value in {**learner, **point}.items():
            rows = rows[rows[dim] == value]
        rows = rows.set_index("M").reindex(Ms, fill_value=0)
        bottom = np.zeros(len(Ms))
        for name in OUTCOMES:
            ax.bar(range(len(Ms)), rows[name].values, bottom=bottom, color=OUTCOME_COLORS[name], label=name)
            bottom += rows[name].values
        for x, (identified, total) in enumerate(zip(rows[IDENTIFIED] + rows[SPLIT], bottom)):
            ax.text(x, total, f"{int(identified)}/{int(total)}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(Ms)), [f"{M / m:g}" for M in Ms])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel=f"M / m (m = {m})", ylabel="runs (identified / finished above each bar)",
               ylim=(0, max(bottom.max(), 1) * 1.12),
               title=wrapped(", ".join(filter(None, [_learner_label(learner, ds), describe_point(point, LABELS)]))))
        ax.grid(axis="x", visible=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    legend_row(fig, axes, columns=3)
    shown = f" (the first {MAX_SETTINGS} of {len(settings)} settings)" if len(settings) > MAX_SETTINGS else ""
    figure_title(fig, _title(ds, f"outcome of every run against M / m{shown}"))
    return fig


def _title(ds: xr.Dataset, what: str, held: dict | None = None) -> str:
    """'relu_student: <what>; <the fixed parameters>; <seeds x teachers>'."""
    batches = f"fresh batches of {parameter_values(ds, 'batch')[0]}" if parameter_values(ds, "n") == [0] else ""
    fixed = setting(ds, tuple(name for name in FIXED if not (batches and name in ("n", "batch"))), held,
                    dim_names=LABELS)
    return (f"relu_student: {what}; {', '.join(filter(None, [fixed, batches]))}; "
            f"{seeds_phrase(ds, 'student inits')} (teachers)")


FIGURES = (plane_paths, success_heatmaps, convergence, masses_vs_expected, outcomes_vs_M)
