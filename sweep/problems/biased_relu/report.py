"""The report of a ``biased_relu`` store (the protocol: ``sweep.problems.contract.REPORT_PROTOCOL``).

Checks (THEORY.md §6.3), each "not checked" with the reason when the store lacks the sweep:

- the moment estimates T_hat_2 converge at the rate N^{-1/2} (the streamed estimator);
- the moment learner's direction error falls like N^{-1/2} (the slope's interval contains
  -1/2 and excludes -1/4 and -3/4; undecided when it contains both);
- a neuron with b = 0 is recovered by the pencil anchored on T_2 and not by T_3 alone;
- an observation: a neuron's direction error grows like 1/phi(b) with its own bias, over the
  range of |b| where the store's fit says so, and withdrawn where it does not.

Sections: the slopes per learner, the pencil's imaginary-part flags, and the seed medians per grid point (all in ``summary.csv``).
"""
from __future__ import annotations

import pandas as pd
import xarray as xr

from analysis import stats
from analysis.checks import OBSERVATION, Check, checked, not_checked
from analysis.plotting import MIN_BAND_SEEDS
from analysis.tables import frame, markdown_rows, table_section
from sweep.problems.biased_relu import evidence
from sweep.problems.biased_relu.evidence import BAND, ERROR, Rate, finite
from sweep.problems.biased_relu.figures import FIGURES

SUMMARISED = (ERROR, "err_w", "err_b_sign_agnostic", "err_a", "flipped", "test_rel_l2", "moment_err_2")
ESTIMATION_BAND = (-0.6, -0.4)  # the slope of ||T_hat_2 - T_2|| in N (a CLT rate: tight)
ZERO_BIAS_SHARE = 0.8           # the ablation holds when the pencil recovers the b = 0 neuron on this share of
                                # seeds and T_3 alone on at most 1 - this share

__all__ = ["FIGURES", "checks", "sections", "summary"]


def checks(ds: xr.Dataset) -> list[Check]:
    return [estimation_check(ds), rate_check(ds), zero_bias_check(ds), bias_law_check(ds)]


def sections(ds: xr.Dataset) -> list[str]:
    return [rates_table(ds), flags_section(ds), summary_table(ds)]


def summary(ds: xr.Dataset) -> pd.DataFrame:
    return frame(seed_summary(ds))


@stats.once_per_dataset
def seed_summary(ds: xr.Dataset) -> xr.Dataset:
    """Median, bootstrap interval and count over seeds of every SUMMARISED variable the store has
    (once per Dataset: the report's table and summary.csv share it)."""
    runs = evidence.loaded(ds, *(name for name in SUMMARISED if name in ds))
    return stats.seed_summary({name: finite(runs, name) for name in SUMMARISED if name in runs})


def _moment_rate(ds: xr.Dataset, variable: str, local: bool) -> Rate | None:
    return next((r for r in evidence.rates(ds, variable, local) if r.learner == "moments"), None)


def estimation_check(ds: xr.Dataset) -> Check:
    """||T_hat_2 - T_2||_F of the moment learner against N: slope in ESTIMATION_BAND."""
    title = "T_2 is estimated at the rate N^(-1/2) (THEORY.md §6.3, streamed moments)"
    rate = _moment_rate(ds, "moment_err_2", local=False)
    if rate is None:
        reason = "the store does not sweep N over two values with the moment learner"
        return not_checked(title, "T_2 rate", reason)
    holds = ESTIMATION_BAND[0] <= rate.slope <= ESTIMATION_BAND[1]
    text = (f"slope of the seed-median ||T_hat_2 - T_2||_F in N: **{rate.slope:.3f}** [{rate.lo:.3f}, {rate.hi:.3f}] "
            f"(all N, pooled over the other swept dims; must lie in {list(ESTIMATION_BAND)}); "
            f"{rate.share_in_band:.0%} of {rate.series} seed series have their own slope in {list(rate.band)}.")
    line = f"T_2 rate: slope {rate.slope:.3f} {'in' if holds else 'OUTSIDE'} {list(ESTIMATION_BAND)}"
    return checked(title, text, line, holds)


def rate_check(ds: xr.Dataset) -> Check:
    """The moment learner's direction error against N, in the local regime: the slope's
    interval contains -1/2 and excludes -1/4 and -3/4 (:meth:`.evidence.Rate.verdict`)."""
    title = "The moment learner's error falls like N^(-1/2) (THEORY.md §6.3)"
    rate = _moment_rate(ds, ERROR, local=True)
    if rate is None:
        reason = (f"the store does not sweep N with the moment learner over two values where its median "
                  f"{ERROR} is below {evidence.LOCAL}")
        return not_checked(title, "N^(-1/2) rate", reason)
    holds = rate.verdict()
    text = (f"slope of the seed-median {ERROR} in N: **{rate.slope:.3f}** [{rate.lo:.3f}, {rate.hi:.3f}] "
            f"({stats.CONFIDENCE:.0%} bootstrap interval over seeds), fitted on the grid points in the local regime "
            f"(seed median below {evidence.LOCAL}; above it the largest direction error is of order 1 and saturates "
            f"at sqrt 2), pooled over the other swept dims. Holds when the interval contains {rate.expected:g} and "
            f"excludes {rate.alternatives[1]:g} and {rate.alternatives[0]:g} (a slope within {BAND:g} of "
            f"{rate.expected:g}); seed by seed, {rate.share_in_band:.0%} of {rate.series} series with two such points "
            f"have their slope in {list(rate.band)}.")
    if holds is None:
        text = (f"**Undecided: the measured exponent is {rate.slope:.3f}**, and its interval contains "
                f"{rate.expected:g} and an alternative rate too, so this store (its N range and seeds) cannot tell "
                f"N^({rate.expected:g}) from it. " + text)
        line = (f"N^(-1/2) rate: undecided, measured slope {rate.slope:.3f} [{rate.lo:.3f}, {rate.hi:.3f}] "
                f"contains {rate.expected:g} and an alternative")
        return Check(title, text, line, None)
    line = (f"N^(-1/2) rate: slope {rate.slope:.3f} [{rate.lo:.3f}, {rate.hi:.3f}] "
            f"{'contains' if holds else 'EXCLUDES'} {rate.expected:g}"
            + (f", excludes {rate.alternatives[1]:g} and {rate.alternatives[0]:g}" if holds else ""))
    return checked(title, text, line, holds)


def zero_bias_check(ds: xr.Dataset) -> Check:
    """The b = 0 neuron: recovered by the pencil on >= ZERO_BIAS_SHARE of the seeds, by T_3
    alone on <= 1 - ZERO_BIAS_SHARE (at the largest N)."""
    title = "A neuron with b = 0: the pencil anchored on T_2 recovers it, T_3 alone does not (THEORY.md §6.3)"
    result = evidence.zero_bias(ds)
    if result is None:
        reason = "the store fixes no bias to 0 (bias_values) or has no moment-learner runs"
        return not_checked(title, "zero-bias ablation", reason)
    pencil, t3 = result.pencil / result.seeds, result.t3_only / result.seeds
    holds = pencil >= ZERO_BIAS_SHARE and t3 <= 1 - ZERO_BIAS_SHARE
    text = (f"At N = {result.N:.0e}, the b = 0 neuron (neuron {result.neuron}) has direction error < "
            f"{evidence.RECOVERED} on **{result.pencil} of {result.seeds} seeds with the pencil** and on "
            f"**{result.t3_only} of {result.seeds} with T_3 alone**; the other neurons on {result.others_pencil} "
            f"and {result.others_t3_only} of {result.others}. Holds when the pencil recovers it on >= "
            f"{ZERO_BIAS_SHARE:.0%} of the seeds and T_3 alone on <= {1 - ZERO_BIAS_SHARE:.0%}.")
    line = f"zero-bias ablation: pencil {result.pencil}/{result.seeds}, T_3 alone {result.t3_only}/{result.seeds} seeds"
    return checked(title, text, line, holds)


def rates_table(ds: xr.Dataset) -> str:
    """Slopes in N of the direction error, the test error and ||T_hat_2 - T_2||, per learner."""
    header = (f"## Rates in N\n\nd log(median over seeds) / d log N, pooled over the other swept dims; "
              f"{stats.CONFIDENCE:.0%} bootstrap interval over seeds; the expected rate (parameter errors "
              f"N^(-1/2), the squared test error N^(-1)) and the share of seed series whose own slope is within "
              f"{BAND} of it.\n\n")
    rows = [(r.learner, r.variable, r.fitted_on, f"{r.slope:.3f}", f"[{r.lo:.3f}, {r.hi:.3f}]", f"{r.expected:g}",
             f"{r.share_in_band:.0%} of {r.series}")
            for variable, local in ((ERROR, True), ("test_rel_l2", True), ("moment_err_2", False))
            for r in evidence.rates(ds, variable, local)]
    if not rows:
        return header + "N is not swept."
    return header + markdown_rows(["learner", "error", "fitted on", "slope", "interval", "expected",
                                   "seed series near it"], rows)


def _bin_verdict(law: evidence.BiasLaw, column: int) -> str:
    bins = law.bins
    if bins.neurons[column] < evidence.MIN_INTERVAL:
        return f"not tested (n = {bins.neurons[column]})"
    if bins.median[column] >= evidence.LOCAL:
        return "not tested (saturated)"
    if law.holds_from is not None and bins.edges[column] >= law.holds_from:
        return "holds"
    return "withdrawn"


def bias_law_check(ds: xr.Dataset) -> Check:
    """The 1/phi(|b|) law of the moment learner's per-neuron errors (:func:`.evidence.bias_law`):
    an observation, with the |b| range where it holds and where it is withdrawn."""
    title = "A neuron's error grows like 1/phi(b) (THEORY.md §6.3)"
    law = evidence.bias_law(ds)
    if law is None:
        reason = ("the store does not sweep beta over two values" if "beta" not in ds.dims or ds.sizes["beta"] < 2
                  else f"the store has no moment-learner runs with two bins of |b| (width {evidence.BIAS_BIN:g}) of "
                       f">= {evidence.MIN_INTERVAL} neurons in the local regime")
        return not_checked(title, "bias law", reason)
    bins, whole = law.bins, law.scan[0][1]
    rows = []
    for column in range(bins.median.size):
        if not bins.neurons[column]:
            continue
        interval = (f"[{bins.lo[column]:.3g}, {bins.hi[column]:.3g}]" if bins.neurons[column] >= evidence.MIN_INTERVAL
                    else f"(n = {bins.neurons[column]})")
        rows.append((f"{bins.edges[column]:g}-{bins.edges[column + 1]:g}", bins.neurons[column], f"{bins.bias[column]:.3g}",
                     f"{bins.median[column]:.3g} {interval}", f"{bins.q25[column]:.3g}-{bins.q75[column]:.3g}",
                     f"{float(law(bins.bias[column])):.3g}", f"{bins.median[column] / float(law(bins.bias[column])):.2f}",
                     _bin_verdict(law, column)))
    scan = [(f">= {edge:g}", int(fit.x.size), f"{fit.exponent:.3f}", f"[{fit.lo:.3f}, {fit.hi:.3f}]",
             "yes" if fit.contains(1.0) else "no") for edge, fit in law.scan]
    if law.holds_from is None:
        verdict = (f"**The law is withdrawn over the whole range**: no range of |b| up to the saturated bins has a "
                   f"fitted k whose interval contains 1 (over every testable bin, k = {whole.exponent:.3f} "
                   f"[{whole.lo:.3f}, {whole.hi:.3f}]).")
        line = f"bias law 1/phi(b): withdrawn everywhere, k = {whole.exponent:.2f} [{whole.lo:.2f}, {whole.hi:.2f}]"
    else:
        held = law.fit(law.holds_from)
        below = "" if law.holds_from == law.scan[0][0] else (
            f" and **is withdrawn for |b| < {law.holds_from:g}**, where the pencil's eigenvalues -b_i <w_i, u> crowd "
            f"together (at b = 0 they vanish) and the error exceeds the law (ratio column)")
        verdict = (f"**The law holds from |b| >= {law.holds_from:g}** (k = {held.exponent:.3f} [{held.lo:.3f}, "
                   f"{held.hi:.3f}] on {held.x.size} bins, c = {law.c:.3g}"
                   + ("; the interval contains 1/2 too: the store bounds k only loosely" if held.lo <= 0.5 else "")
                   + f"){below}. Over the whole testable range "
                   f"k = {whole.exponent:.3f} [{whole.lo:.3f}, {whole.hi:.3f}].")
        line = (f"bias law 1/phi(b): holds from |b| >= {law.holds_from:g} (k = {held.exponent:.2f} [{held.lo:.2f}, "
                f"{held.hi:.2f}])" + (f", withdrawn below" if below else ""))
    text = (f"Each neuron's direction error (`neuron_err_w`, moment learner) against its own |b|, pooled over beta "
            f"and seeds in bins of {evidence.BIAS_BIN:g}: err = c / phi(|b|)^k, the exponent fitted on log-log axes "
            f"to the bins' medians ({stats.CONFIDENCE:.0%} bootstrap interval over runs) from each bin edge on, over "
            f"the bins in the local regime (median < {evidence.LOCAL}; above, the error saturates at the random "
            f"level) with >= {evidence.MIN_INTERVAL} neurons. The law (k = 1) holds from the smallest edge whose "
            f"interval contains 1. {verdict}\n\n"
            + markdown_rows(["from abs(b)", "bins", "k", "interval", "contains 1"], scan) + "\n\n"
            + markdown_rows(["abs(b)", "neurons", "median abs(b)", f"median error [{stats.CONFIDENCE:.0%} interval]",
                             "interquartile", "law c / phi(|b|)", "median / law", "law"], rows))
    return checked(title, text, line, law.holds_from is not None, kind=OBSERVATION)


def flags_section(ds: xr.Dataset) -> str:
    """Runs by learner and status, and how many moment runs had complex pencil eigenvectors."""
    rows = []
    for learner in evidence.learners(ds):
        runs = evidence.at_learner(ds, learner)
        done = int(runs["done"].sum())
        diverged = int((runs["status"].where(runs["done"]) == 1).sum())
        flagged = int((runs["imag_flag"] == 1).sum())
        rows.append((learner, done, diverged, flagged if learner != "sgd" else "-"))
    return "## Runs by learner\n\n" + markdown_rows(["learner", "runs done", "diverged", "imag_flag = 1"], rows)


def summary_table(ds: xr.Dataset) -> str:
    """Per grid point: median [interval] of the direction error and the test error, as markdown."""
    dims = list(stats.point_dims(ds))
    shown = [ERROR, "test_rel_l2"]

    def cell(row: dict, name: str) -> str:
        if row[f"{name}_n"] < MIN_BAND_SEEDS:
            return f"{row[f'{name}_median']:.3g} (n = {int(row[f'{name}_n'])})"
        return f"{row[f'{name}_median']:.3g} [{row[f'{name}_lo']:.3g}, {row[f'{name}_hi']:.3g}]"

    def cells(row: dict) -> list[str]:
        return [*(str(row[dim]) for dim in dims), *(cell(row, name) for name in shown)]

    return table_section("Medians over seeds", f"median [{stats.CONFIDENCE:.0%} bootstrap interval], or (n = k) "
                         f"from fewer than {MIN_BAND_SEEDS} seeds; every variable of {list(SUMMARISED)} is in "
                         f"summary.csv.", frame(seed_summary(ds)), [*dims, *shown], cells)
