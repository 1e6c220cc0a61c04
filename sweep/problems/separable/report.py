"""The report of a ``separable`` store (the protocol: ``sweep.problems.contract.REPORT_PROTOCOL``).

The theorem checks come first and loudly (:data:`.bounds.THEOREMS`: Theorem 4.1, THEORY.md
§2; the potential bound on E_clean and the violating-steps bound, §2.1), each stating what
it checked and why the other runs were not; then one observation check per paper figure
the store shows (:mod:`.claims`: on how many runs the paper's claim holds, with its
numbers); then the exponents of the measured epochs and V beside the bounds' (per data set), the
tightness of the bounds (min / median / max of bound / measured) and the per-grid-point
seed medians (the full table also in ``summary.csv``). Figures: :mod:`.figures`.
"""
from __future__ import annotations

import pandas as pd
import xarray as xr

from analysis.checks import OBSERVATION, Check, checked, not_checked
from analysis.stats import CONFIDENCE, N_BOOTSTRAP, Slope, point_dims
from analysis.tables import frame, markdown_rows, table_section
from sweep.problems.separable.bounds import (EXPONENT_COLUMNS, MEASURED, SCALING_PARAMETERS, SUMMARISED, THEOREMS,
                                             Theorem, Tightness, bound_coverage, check_bound, exponents, seed_summary,
                                             study_fits, tightness)
from sweep.problems.separable.claims import Claim, claims
from sweep.problems.separable.figures import FIGURES

__all__ = ["FIGURES", "checks", "sections", "study", "summary"]


def checks(ds: xr.Dataset) -> list[Check]:
    return [*(bound_check(ds, theorem) for theorem in THEOREMS), *(claim_check(found) for found in claims(ds))]


def sections(ds: xr.Dataset) -> list[str]:
    return [exponent_table(exponents(ds)), tightness_table(tightness(ds)),
            summary_table(seed_summary(ds), point_dims(ds))]


def summary(ds: xr.Dataset) -> pd.DataFrame:
    return frame(seed_summary(ds))


def bound_check(ds: xr.Dataset, theorem: Theorem = THEOREMS[0]) -> Check:
    """A theorem's check (THEORY.md §2, §2.1): one calm line when it holds, a big WARNING
    when not, and "not checked" with the reason when no run reached the measured value
    with a bound, or the store predates the theorem's variables. Runs left out are counted
    by reason, never silently."""
    title = f"{theorem.name} check ({theorem.source})"
    missing = [name for name in theorem.variables if name not in ds]
    if missing:
        return not_checked(title, theorem.name, f"the store was written before {', '.join(missing)} were recorded")
    check, coverage = check_bound(ds, theorem), bound_coverage(ds, theorem)
    left_out = _left_out(coverage)
    if check.checked == 0:
        return not_checked(title, theorem.name, _nothing_checked(coverage, theorem))
    note = f"\n\nNot held against the bound: {left_out}." if left_out else ""
    which = "worst-case and instance-specific" if len(theorem.bounds) > 1 else "worst-case"
    runs = ("the runs that reached E_clean" if theorem.measured == MEASURED else
            f"{theorem.measured} of every SGD run, over the steps it ran")
    if check.holds:
        text = f"**0 of {check.checked} runs exceed {theorem.bound}** ({which}; {runs}).{note}"
        return checked(title, text, f"{theorem.name}: 0 of {check.checked} runs exceed the bound ({runs})"
                                    + (f"; {left_out}" if left_out else ""), True)
    counts = [check.above[name] for name in theorem.bounds]
    offenders = "\n".join(f"- {point}" for point in check.offenders)
    line = f"{counts[0]} of {check.checked} runs exceed {theorem.bound}" + (
        f" ({counts[1]} the instance-specific one)" if len(counts) > 1 else "")
    text = (f"**{max(counts)} of {check.checked} runs exceed {theorem.bound}** ({', '.join(theorem.bounds)}: "
            f"{', '.join(map(str, counts))} runs above). The bound holds for every run ({theorem.source}): the "
            f"implementation is wrong.\n\nOffending runs (up to {len(check.offenders)} shown):\n\n{offenders}{note}")
    return checked(title, text, line, False)


def _nothing_checked(coverage, theorem: Theorem) -> str:
    """Why no run was held against the bound, in one phrase."""
    total = coverage.finished
    if coverage.unbounded_optimizer == total:
        return f"{theorem.name} is about SGD and every run ({total}/{total}) uses full-batch GD"
    if coverage.relu == total:
        return f"every run ({total}/{total}) is ReLU (α = 0), which has no bound"
    if coverage.no_margin == total:
        return f"no run's SVM margin could be computed ({total}/{total})"
    return f"no run reached E_clean with a finite bound ({_left_out(coverage)})"


def _left_out(coverage) -> str:
    """The runs not held against the bound, by reason (empty if none)."""
    parts = [(coverage.unbounded_optimizer, "use full-batch GD (the theorem is about SGD)"),
             (coverage.relu, "are ReLU (α = 0): no bound"),
             (coverage.no_margin, "have no bound because their SVM margin could not be computed"),
             (coverage.not_clean, "never reached E_clean (stopped at max_epochs or diverged)"),
             (coverage.infinite, "have a bound beyond the float range (it holds trivially)")]
    return "; ".join(f"{count}/{coverage.finished} runs {why}" for count, why in parts if count)


def claim_check(found: Claim) -> Check:
    """A paper figure's claim as an observation check: the share of runs, its numbers, per grid point."""
    verdict = (f"holds on all {found.total} runs" if found.holds else
               f"holds on {found.held} of {found.total} runs")
    per_point = "".join(f"\n- {line}" for line in found.per_point) if len(found.per_point) > 1 else ""
    text = f"**{found.figure} {verdict}**: {found.statement}.\n\nMeasured: {found.numbers}.{per_point}"
    return checked(f"{found.figure}: the paper's claim (THEORY.md §5)", text, f"{found.figure}: {verdict}; {found.numbers}",
                   found.holds, OBSERVATION)


def exponent_table(found: dict[tuple[str, str], dict[str, Slope]]) -> str:
    """Per data set and swept variable of the bound: the fitted exponent of E_clean, E_conv
    and V with intervals, beside the potential bound's and Theorem 4.1's (THEORY.md §2, §2.1), as markdown."""
    header = (f"## Exponents: measured against the bounds\n\nd log(median over seeds) / d log(parameter), "
              f"one common slope pooled over the other swept dims (a fixed effect per group); "
              f"[{CONFIDENCE:.0%} percentile bootstrap, {N_BOOTSTRAP} resamples of the seeds and, where "
              f"`data_seed` is swept, of whole data sets]. Fitted per data set where `dataset` is swept.\n\n")
    if not found:
        return header + "No scaling parameter is swept over two or more positive values."

    def cell(slope: Slope | None) -> str:
        return "" if slope is None else f"{slope.slope:.3f} [{slope.lo:.3f}, {slope.hi:.3f}]"

    rows = [(data_set, parameter, *(cell(slopes.get(name)) for name, _ in EXPONENT_COLUMNS))
            for (data_set, parameter), slopes in found.items()]
    return header + markdown_rows(["data set", "parameter", *(words for _, words in EXPONENT_COLUMNS)], rows)


def tightness_table(found: list[Tightness]) -> str:
    """How far each bound sits above what it bounds, over the runs (THEORY.md §2.1)."""
    header = ("## Tightness of the bounds\n\nEach ratio over the runs where both values are finite and > 0. "
              "THEORY.md §2.1 measured on the default preset (an independent NumPy SGD): median "
              "epochs_bound / epochs_clean 1.4e7, epochs_bound_potential / epochs_clean 4.7e3, "
              "epochs_bound / epochs_bound_potential 4.4e3.\n\n")
    if not found:
        return header + "No run has both values of any ratio."
    rows = [(f"{t.numerator} / {t.denominator}", t.runs, f"{t.min:.3g}", f"{t.median:.3g}", f"{t.max:.3g}")
            for t in found]
    return header + markdown_rows(["ratio", "runs", "min", "median", "max"], rows)


def summary_table(summary: xr.Dataset, dims: tuple[str, ...]) -> str:
    """Per grid point: median [interval] (n counted) of each SUMMARISED variable (that the
    store has), as markdown."""
    names = [name for name in SUMMARISED if f"{name}_median" in summary]

    def cells(row: dict) -> list[str]:
        return [f"{row[dim]}" for dim in dims] + [
            f"{row[f'{name}_median']:.4g} [{row[f'{name}_lo']:.3g}, {row[f'{name}_hi']:.3g}] "
            f"(n={int(row[f'{name}_n'])})" for name in names]

    return table_section("Medians over seeds", f"median [{CONFIDENCE:.0%} bootstrap interval] (runs counted); runs "
                         "not done or not reaching eps are excluded.", frame(summary), [*dims, *names], cells)


STUDY_PREFIX = "thm41_scaling_"  # the presets of the Theorem 4.1 study (each sweeps one variable of the bound)


def study(stores: dict[str, xr.Dataset]) -> str:
    """The joint law over the study's stores (those named STUDY_PREFIX...), as markdown:
    per data set, each variable's exponents in every variable of the bound that the study
    sweeps, with intervals and R^2 (:func:`.bounds.study_fits`; THEORY.md §2, §2.1)."""
    names = sorted(name for name in stores if name.startswith(STUDY_PREFIX))
    header = (f"## Joint fit over the study: log(median) = c + Σ_j b_j log(x_j)\n\nOver the grid points of "
              f"{len(names)} stores ({', '.join(f'`{name}`' for name in names) or 'none'}), least squares on the "
              f"medians over seeds; [{CONFIDENCE:.0%} percentile bootstrap, {N_BOOTSTRAP} resamples of the seeds]; "
              f"R² over the points. One law per data set.\n\n")
    found = study_fits([stores[name] for name in names])
    if not found:
        return header + "No variable of the bound varies over the study's points."
    words = dict(EXPONENT_COLUMNS)
    parameters = sorted({p for fits in found.values() for fit in fits for p in fit.parameters},
                        key=SCALING_PARAMETERS.index)
    rows = []
    for data_set, fits in found.items():
        for fit in sorted(fits, key=lambda fit: [name for name, _ in EXPONENT_COLUMNS].index(fit.variable)):
            law = dict(zip(fit.parameters, zip(fit.exponents, fit.lo, fit.hi)))
            rows.append((data_set, words[fit.variable], fit.rows, f"{fit.r2:.3f}",
                         *(f"{law[p][0]:.3f} [{law[p][1]:.3f}, {law[p][2]:.3f}]" if p in law else ""
                           for p in parameters)))
    return header + markdown_rows(["data set", "variable", "points", "R²", *parameters], rows)
