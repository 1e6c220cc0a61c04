"""The report of a ``relu_pgd`` store (the protocol: ``sweep.problems.contract.REPORT_PROTOCOL``; THEORY.md §6.1).

Checks, in this order:

1. relu'(0) = 0 keeps w at 0 (derived: at w = 0 every pre-activation is 0, so the
   gradient vanishes): every such run must have rel_err_t = 1 and no support at every t.
2. The first step from 0 with mu0 relu'(0) = 1 is P_K((2/n) sum_i y_i x_i) (derived):
   the stored rel_err_1 of a sample of such runs against the estimate recomputed in NumPy
   from the problem's own data generator.
3. The linear rate: the theorem gives no constant c, so no run can break it; the check
   states the measured constants (smallest n / n0_hat with >= 95% success, with >= 95%
   inside the 2^-t envelope) and the contraction factor's law in n / n0_hat (fitted exponent
   with its interval beside the theory's -1/2), and the transition points (n at 50% and 95%
   success of a logistic in log n, per setting) with the constant c of n = c n0_hat they
   would share if the curves collapse across (d, s), and says it is not a pass/fail check.

Then a line per setting with its transition points, a per-grid-point table (all of it in ``summary.csv``). Figures: :mod:`.figures`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from analysis.checks import Check, checked, not_checked
from analysis.plotting import MIN_BAND_SEEDS, as_python, describe_point, parameter_values, run_parameters
from analysis.stats import CONFIDENCE, point_dims
from analysis.tables import markdown_rows, table_section
from sweep.problems.relu_pgd.figures import FIGURES
from analysis.transition import Crossing
from sweep.problems.relu_pgd.summary import (CROSSINGS, FIT_SHARE, LARGE_SAMPLE_RATIO, REFERENCE, SHARES,
                                             TARGET_SHARE, collapse, contraction_law, crossing_column,
                                             measured_constants, point_table, seeds_with_values, theorem_schedule,
                                             transition_points, with_fixed)
from sweep.problems.relu_pgd.theory import CONTRACTION_EXPONENT
from sweep.problems.relu_pgd.variables import ITERATION

FIRST_STEP_RUNS = 20          # runs whose first step is recomputed (evenly spread over the eligible ones)
FIRST_STEP_TOLERANCE = {"float64": 1e-9, "float32": 1e-4}  # relative, on rel_err_1
SHARE_TITLES = {"success": f"success (rel_err_T < 1e-6) in >= {TARGET_SHARE:.0%} of seeds from",
                "envelope_ok": f"inside 2^-t at every t in >= {TARGET_SHARE:.0%} of seeds from"}

__all__ = ["FIGURES", "checks", "sections", "summary"]


def checks(ds: xr.Dataset) -> list[Check]:
    return [stays_at_zero_check(ds), first_step_check(ds), rate_check(ds)]


def sections(ds: xr.Dataset) -> list[str]:
    table = point_table(ds)
    return [transition_section(table, ds), point_section(table, point_dims(ds))]


def summary(ds: xr.Dataset) -> pd.DataFrame:
    return point_table(ds)


def first_step_runs(ds: xr.Dataset) -> tuple[list[dict], int]:
    """The grid points of up to FIRST_STEP_RUNS finished runs with mu0 relu'(0) = 1, evenly
    spread over them in grid order, and how many such runs there are (read from ``done``
    and the grid's coordinates, not run by run)."""
    def value(name: str):
        return ds[name] if name in ds.dims else parameter_values(ds, name)[0]

    done = ds["done"]
    dims = list(done.dims)
    eligible = (done & (abs(value("relu_slope_at_zero") * value("mu0") - 1.0) <= 1e-12)).transpose(*dims).values
    runs = np.flatnonzero(eligible)
    if runs.size == 0:
        return [], 0
    picked = runs[np.unique(np.linspace(0, runs.size - 1, FIRST_STEP_RUNS).round().astype(int))]
    return [{dim: as_python(ds[dim].values[i]) for dim, i in zip(dims, index)}
            for index in zip(*np.unravel_index(picked, eligible.shape))], int(runs.size)


def stays_at_zero_check(ds: xr.Dataset) -> Check:
    """Every finished run with relu'(0) = 0 has rel_err_t = 1 and an empty support at every t."""
    title = "relu'(0) = 0 keeps w at 0 (THEORY.md §6.1, derived)"
    if 0.0 not in parameter_values(ds, "relu_slope_at_zero"):
        return not_checked(title, "relu'(0) = 0", "no run has `relu_slope_at_zero` = 0")
    at = {"relu_slope_at_zero": 0.0} if "relu_slope_at_zero" in ds.dims else {}
    done = ds["done"].sel(at)
    rel_err, overlap = ds["rel_err"].sel(at), ds["support_overlap"].sel(at)
    stays = (((rel_err == 1.0) | rel_err.isnull()).all(ITERATION) & ((overlap == 0.0) | overlap.isnull()).all(ITERATION)
             & rel_err.isel({ITERATION: 0}).notnull())
    runs, moved = int(done.sum()), int((done & ~stays).sum())
    if runs == 0:
        return not_checked(title, "relu'(0) = 0", "no run with `relu_slope_at_zero` = 0 has finished")
    if moved == 0:
        return checked(title, f"**{runs} of {runs} runs with relu'(0) = 0 stay at w = 0** (rel_err_t = 1 and "
                              f"support overlap 0 at every t): at w = 0 every pre-activation is 0, so the gradient is 0.",
                       f"relu'(0) = 0: {runs} of {runs} runs stay at w = 0", True)
    return checked(title, "The gradient at 0 vanishes with relu'(0) = 0: the implementation is wrong.",
                   f"{moved} of {runs} runs with relu'(0) = 0 left w = 0", False)


def first_step_rel_err(ds: xr.Dataset, point: dict) -> float:
    """||P_K((2/n) sum_i y_i x_i) - w*|| / ||w*|| for the run at ``point``, recomputed in
    float64 NumPy from the problem's data generator (THEORY.md §6.1)."""
    from kernels.projections import project, projection_code
    from sweep.problems.relu_pgd.data import make_instance
    from sweep.problems.relu_pgd.params import ReluPGDParams
    from sweep.problems.relu_pgd.run import projection_level

    p = ReluPGDParams.from_mapping(run_parameters(ds, point))
    data = make_instance(p)
    estimate = (2.0 / p.n) * (data.X.T.astype(np.float64) @ data.y.astype(np.float64))
    project(estimate, projection_code(p.constraint), projection_level(p.constraint, data.w_star))
    return float(np.linalg.norm(estimate - data.w_star) / np.linalg.norm(data.w_star))


def first_step_check(ds: xr.Dataset) -> Check:
    """The stored rel_err_1 of up to FIRST_STEP_RUNS runs with mu0 relu'(0) = 1 against
    the projected unbiased estimate recomputed from their data."""
    title = "First step = P_K((2/n) sum_i y_i x_i) when mu0 relu'(0) = 1 (THEORY.md §6.1, derived)"
    picked, eligible = first_step_runs(ds)
    if not picked:
        return not_checked(title, "first step", "no finished run has mu0 relu'(0) = 1")
    offenders = []
    for point in picked:
        stored = float(ds["rel_err"].sel(point).isel({ITERATION: 1}))
        expected = first_step_rel_err(ds, point)
        dtype = point["dtype"] if "dtype" in point else parameter_values(ds, "dtype")[0]
        if not abs(stored - expected) <= FIRST_STEP_TOLERANCE[dtype] * expected:
            offenders.append(f"- {point}: stored {stored:.12g}, recomputed {expected:.12g}")
    sampled = len(picked)
    what = (f"{sampled} of the {eligible} finished runs with mu0 relu'(0) = 1 (evenly spread over the grid): "
            f"stored rel_err_1 against ||P_K((2/n) sum_i y_i x_i) - w*|| recomputed in NumPy from the run's data "
            f"(relative tolerance {FIRST_STEP_TOLERANCE['float64']:g} in float64)")
    if not offenders:
        return checked(title, f"**{sampled} of {sampled} runs agree**: {what}. At w = 0 with relu'(0) = 1/2, "
                              f"-mu0 grad L = (mu0/n) sum y_i x_i, and E[y x] = w*/2.",
                       f"first step: {sampled} of {sampled} sampled runs equal the projected unbiased estimate", True)
    listed = "\n".join(offenders)
    return checked(title, f"{what}.\n\n{listed}",
                   f"{len(offenders)} of {sampled} sampled runs' first step is not P_K((2/n) sum y_i x_i)", False)


def _ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def constants_table(constants: pd.DataFrame, setting: list[str]) -> str:
    """The measured constants per setting, as markdown."""
    header = [*setting, "n/n0_hat in grid", "seeds per point", *(SHARE_TITLES[name] for name in SHARES)]
    rows = []
    for row in constants.to_dict("records"):
        cells = [str(row[dim]) for dim in setting]
        cells += [f"{row['ratio_min']:.3g} - {row['ratio_max']:.3g} ({row['points']} points)", str(row["min_runs"])]
        for name in SHARES:
            sustained = "" if row[f"{name}_sustained"] or math.isnan(row[f"{name}_from"]) else " (not at every larger n)"
            cells.append(_ratio(row[f"{name}_from"]) + sustained)
        rows.append(cells)
    return markdown_rows(header, rows)


def _ranges(constants: pd.DataFrame, name: str) -> str:
    """'2.5-3.2 (l0), 12-16 (l1)': the range of ``{name}_from`` over settings, per constraint."""
    parts = []
    groups = constants.groupby("constraint") if "constraint" in constants else [("", constants)]
    for constraint, group in groups:
        values = group[f"{name}_from"].dropna()
        missing = len(group) - len(values)
        text = "none" if values.empty else (f"{values.min():.3g}" if values.min() == values.max()
                                             else f"{values.min():.3g}-{values.max():.3g}")
        text += f" ({constraint}" if constraint else " ("
        text += f"; not reached in {missing} of {len(group)} settings)" if missing else ")"
        parts.append(text.replace(" ()", ""))
    return ", ".join(parts)


def rate_check(ds: xr.Dataset) -> Check:
    """The measured constants of the linear rate; holds None: the theorem's c is unknown."""
    title = "Linear rate: the measured constants (THEORY.md §6.1)"
    table = point_table(ds)
    if table.empty:
        return not_checked(title, "linear rate", "no run has finished")
    dims = point_dims(ds)
    setting = [dim for dim in dims if dim != "n"]
    constants = with_fixed(measured_constants(table, dims), ds, ("constraint",))
    points = transitions(table, ds)
    large = with_fixed(table[(table["n_over_n0"] >= LARGE_SAMPLE_RATIO) & theorem_schedule(table, ds)], ds,
                       ("constraint",))
    if large.empty:
        large_text = (f"No run of this store has n >= {LARGE_SAMPLE_RATIO} n0_hat with the schedule of THEORY.md "
                      f"§6.1 (relu'(0) = 1/2, mu0 = 2, mu = 1, float64).")
    else:
        counts = "; ".join(f"{constraint}: **{int(group['envelope_ok_count'].sum())} of {int(group['runs'].sum())} "
                           f"runs**" for constraint, group in large.groupby("constraint"))
        large_text = (f"Inside 2^-t at every step at n >= {LARGE_SAMPLE_RATIO} n0_hat with the schedule of THEORY.md "
                      f"§6.1 (relu'(0) = 1/2, mu0 = 2, mu = 1, float64): {counts}. (The tests assert every seed of "
                      f"a small grid at 25 n0_hat for l0 and at 40 n0_hat for l1.)")
    reference = (f"The reference implementation of THEORY.md §6.1 (d = 1000, s = 20, l0, 20 trials, 40 steps) "
                 f"measured 95% success at {REFERENCE['success']} n0_hat and every run inside the envelope from "
                 f"{REFERENCE['envelope_ok']} n0_hat.")
    markdown = (
        f"The theorem: from w_0 = 0, ||w_t - w*|| <= 2^-t ||w*|| for every t, with high probability, once "
        f"n > c n0. It does not give c, so no run can break it: **this is not a pass/fail check**; it states c as "
        f"this store measures it. Per setting (every grid dim but n and seed): the smallest n / n0_hat of the grid "
        f"at which at least {TARGET_SHARE:.0%} of the seeds succeed (rel_err_T < 1e-6), and at which at least "
        f"{TARGET_SHARE:.0%} stay inside 2^-t at every step; '-' when no n of the grid gets there, "
        f"'not at every larger n' when a larger n of the grid falls below {TARGET_SHARE:.0%} again. "
        f"The resolution is the grid's spacing in n.\n\n"
        f"{constants_table(constants, setting)}\n\n{reference}\n\n{large_text}\n\n{law_text(ds)}\n\n"
        f"{collapse_text(points)}")
    line = (f"linear rate (c not given; measured, not pass/fail): >= {TARGET_SHARE:.0%} success from n/n0_hat "
            f"{_ranges(constants, 'success')}; >= {TARGET_SHARE:.0%} inside 2^-t from "
            f"{_ranges(constants, 'envelope_ok')}{collapse_line(points)}")
    return Check(title, markdown, line, None)


def collapse_line(points: pd.DataFrame) -> str:
    """'; n at 50% success = c n0_hat with c 2.66 (l0, 6 settings 1.46x apart), ...' (or '')."""
    if points.empty or points["points"].max() < 3:
        return ""
    rows = collapse(points, "success")
    parts = [f"{row['c']:.3g} ({row['constraint']}, " + (f"{row['bounded']} settings {row['ratio_max'] / row['ratio_min']:.2f}x "
             f"apart)" if row["bounded"] > 1 else "1 setting)")
             for row in rows[(rows["share"] == 0.5) & (rows["bounded"] > 0)].to_dict("records")]
    return f"; n at 50% success = c n0_hat with c {', '.join(parts)}" if parts else ""


def transitions(table: pd.DataFrame, ds: xr.Dataset) -> pd.DataFrame:
    """:func:`.summary.transition_points` of the store's point table, constraint as a column."""
    return with_fixed(transition_points(table, point_dims(ds)), ds, ("constraint",))


def collapse_text(points: pd.DataFrame) -> str:
    """Per constraint: the constant c of n = c n0_hat at 50% and 95% success, and how far the
    settings' own n / n0_hat spread around it (the collapse across (d, s)), in words."""
    if points.empty or points["points"].max() < 3:
        return "Transition points: not fitted (fewer than 3 n per setting)."
    parts = []
    for row in collapse(points, "success").to_dict("records"):
        if not row["bounded"]:
            parts.append(f"{row['constraint']}, {row['share']:.0%}: bounded in none of the {row['settings']} settings")
            continue
        if row["settings"] == 1:
            parts.append(f"{row['constraint']}, {row['share']:.0%}: c = **{row['c']:.3g}** (one setting: no collapse "
                         f"to judge)")
            continue
        parts.append(f"{row['constraint']}, {row['share']:.0%}: c = **{row['c']:.3g}** from {row['bounded']} of "
                     f"{row['settings']} settings, their n / n0_hat {row['ratio_min']:.3g}-{row['ratio_max']:.3g} "
                     f"(a factor {row['ratio_max'] / row['ratio_min']:.2f})")
    return ("Transition points (section 'Transition points', figure `phase_transition`): the n at which a logistic "
            "in log n fitted to the success counts crosses 50% and 95%, as a multiple c of n0_hat = 2 s ln(d/s) "
            "(the geometric mean over the settings whose crossing the counts bound); the curves collapse across "
            "(d, s) as far as the settings' ratios agree: " + "; ".join(parts) + ".")


def _crossing(row: dict, name: str, share: float) -> str:
    """'412 [380, 450] (2.06)': a setting's crossing, its interval and n / n0_hat; '-' without one."""
    crossing = Crossing(share, *(row[crossing_column(name, share, part)] for part in ("", "lo", "hi")))
    if math.isnan(crossing.x):
        return "-"
    ends = ("open" if crossing.lo == 0 else f"{crossing.lo:.4g}", "open" if math.isinf(crossing.hi) else f"{crossing.hi:.4g}")
    interval = f"[{ends[0]}, {ends[1]}]" if row["min_runs"] >= MIN_BAND_SEEDS else f"(n = {row['min_runs']})"
    return f"{crossing.x:.4g} {interval} ({crossing.x / row['n0_hat']:.3g})"


def transition_section(table: pd.DataFrame, ds: xr.Dataset) -> str:
    """A line per setting: its n at 50% and 95% success and inside the envelope, with intervals."""
    points = transitions(table, ds)
    if points.empty or points["points"].max() < 3:
        return "## Transition points\n\nNot fitted: fewer than 3 n per setting."
    setting = [dim for dim in point_dims(ds) if dim != "n"]
    header = [*setting, "n0_hat", "seeds per point",
              *(f"{'success' if name == 'success' else 'inside 2^-t'} at {share:.0%}: n [interval] (n / n0_hat)"
                for name in SHARES for share in CROSSINGS)]
    rows = [[*(str(row[dim]) for dim in setting), f"{row['n0_hat']:.4g}", str(row["min_runs"]),
             *(_crossing(row, name, share) for name in SHARES for share in CROSSINGS)]
            for row in points.to_dict("records")]
    return (f"## Transition points\n\nPer setting, a logistic in log n fitted by maximum likelihood to the counts "
            f"along n (analysis/transition.py): the n at which it crosses 50% and {TARGET_SHARE:.0%}, with the "
            f"{CONFIDENCE:.0%} profile-likelihood interval ('open' where the counts do not bound it; no interval "
            f"from fewer than {MIN_BAND_SEEDS} seeds per point, 'n = k' instead), and n / n0_hat. '-': the counts "
            f"hold no transition (none or all succeed). Counts that jump from 0 to all within one step of the grid "
            f"are separated: the interval is then about that step.\n\n" + markdown_rows(header, rows))


def law_text(ds: xr.Dataset) -> str:
    """The contraction factor's power law in n / n0_hat at the figure's setting, in words."""
    if "n" not in ds.dims or ds.sizes["n"] < 2:
        return "The contraction factor's law in n / n0_hat: not fitted (n is not swept)."
    held, _, factors, law = contraction_law(ds)
    where = f" at {describe_point(held)}" if held else ""
    if law is None:
        return (f"The contraction factor's law in n / n0_hat{where}: not fitted (fewer than two n where >= "
                f"{FIT_SHARE:.0%} of the seeds reach the fit window).")
    seeds = seeds_with_values(factors)
    fitted = (f"fitted on the {law.x.size} n with >= {FIT_SHARE:.0%} of the seeds in the window, n/n0_hat "
              f"{law.x.min():.3g}-{law.x.max():.3g}")
    if seeds < MIN_BAND_SEEDS:
        return (f"The contraction factor per step against n / n0_hat{where} (figure `rate`): seed medians "
                f"{law.amplitude:.3g} (n/n0_hat)^**{law.exponent:.3f}** ({fitted}; n = {seeds} seeds: no interval, "
                f"so the theory's exponent {CONTRACTION_EXPONENT:g} is neither inside nor outside one).")
    verdict = "inside" if law.contains(CONTRACTION_EXPONENT) else "outside"
    return (f"The contraction factor per step against n / n0_hat{where} (figure `rate`): seed medians "
            f"{law.amplitude:.3g} (n/n0_hat)^**{law.exponent:.3f}** [{law.lo:.3f}, {law.hi:.3f}] (95% bootstrap "
            f"interval over seeds, {fitted}); the theory's exponent {CONTRACTION_EXPONENT:g} "
            f"(derived, constant unknown) is {verdict} that interval.")


def point_section(table: pd.DataFrame, dims: tuple[str, ...]) -> str:
    """Per grid point: shares with their 95% Wilson intervals and seed medians, as markdown."""
    columns = [*dims, "n/n0_hat", "success", "inside 2^-t", "diverged", "contraction", "t_success", "rel_err_T",
               "test_rel_err"]

    def cells(row: dict) -> list[str]:
        shares = [f"{int(row[f'{name}_count'])}/{int(row['runs'])} "
                  + (f"[{row[f'{name}_lo']:.2f}, {row[f'{name}_hi']:.2f}]" if row["runs"] >= MIN_BAND_SEEDS
                     else "(no interval)") for name in SHARES]
        return [*(str(row[dim]) for dim in dims), f"{row['n_over_n0']:.3g}", *shares, str(int(row["diverged"])),
                f"{row['contraction_median']:.3g}", f"{row['t_success_median']:.3g}",
                f"{row['rel_err_final_median']:.3g}", f"{row['test_rel_err_median']:.3g}"]

    return table_section("Per grid point", "Runs that succeed and that stay inside the envelope, of the finished "
                         f"runs, with the 95% Wilson interval of the share (none from fewer than {MIN_BAND_SEEDS} "
                         "runs); seed medians of the contraction factor, of t_success (over the runs that succeed), "
                         "of rel_err_T and of the relative test error.",
                         table, columns, cells)
