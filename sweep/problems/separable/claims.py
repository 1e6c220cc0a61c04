"""What each of the paper's figures claims, measured run by run on a store (THEORY.md §5).

Every figure of :mod:`.figures` shows one claim of the paper; the function of the same
name here measures it on every run of the store and returns a :class:`Claim`: on how
many runs (seeds, per grid point) it holds, with the numbers that decide it. The report
turns each into an observation check (:mod:`.report`), the figure states the share in
its title. A claim applies to a store exactly when its figure does (the same
``applies_*`` tests); otherwise its function returns None.

The thresholds say what the paper's words mean here, fixed before looking at the runs:

- a boundary is *straight* when it stays within STRAIGHT = 1% of the plotted square's
  half-width of one line, and *bent* when it leaves it by BENT = 5%;
- an output is *non-linear* when its slope along the line through the class means
  varies by KINKED = 20% (1 - min |slope| / max |slope|);
- a share "goes to 0" when it ends at or below NEAR_ZERO = 1%; a measure of clustering
  "goes to 0" when it ends below SHRUNK = 1/10 of its value after the first epoch;
- a neuron follows a predicted direction when its cosine with it reaches ALIGNED = 0.999,
  and another candidate stays *visibly below* when every neuron's cosine with it stays
  at least APART = 0.005 under its cosine with the prediction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import xarray as xr

from analysis.plotting import as_python, describe_point, has, parameter_values
from analysis.stats import SEED_DIM, grid_dims
from sweep.problems.separable.datasets import make_dataset
from sweep.problems.separable.margin import svm_margin
from sweep.problems.separable.par import ParPrediction, par_prediction
from sweep.problems.separable.planar import (boundary_bend, final_weights, output_along_means, plane, run_params,
                                             slope_spread)

STRAIGHT, BENT = 0.01, 0.05
KINKED = 0.2
NEAR_ZERO = 0.01
SHRUNK = 0.1
ALIGNED, APART = 0.999, 0.005
WEDGE = 0.001  # a ReLU network's N_W = 0 region counts when it covers this share of the square
SMALL_INIT = 0.01  # the init scales THEORY.md §5 calls small

MNIST_FIG2 = ("mnist_0_1", "mnist_3_5")
DIM_NAMES = {"init_scale": "init scale", "alpha": "α", "width": "width k", "data_seed": "data set",
             "dataset": "data", "eps": "ε", "margin": "margin γ", "seed": "seed", "epoch": "epoch"}


@dataclass(frozen=True)
class Claim:
    """A paper figure's claim measured on a store.

    ``held`` of ``total`` runs show it; ``numbers`` is one line of the measured values
    (ranges over the runs); ``per_point`` one line per grid point without the seed.
    """

    figure: str
    statement: str
    held: int
    total: int
    numbers: str
    per_point: tuple[str, ...] = ()

    @property
    def holds(self) -> bool:
        return self.held == self.total

    @property
    def share(self) -> str:
        return f"{self.held}/{self.total} runs"


# ---------------------------------------------------------------- which store shows which figure

def applies_planar(ds: xr.Dataset) -> bool:
    """Saved final weights and 2D inputs (the decision-boundary figures)."""
    return "weights" in ds and parameter_values(ds, "d") == [2] and not uses_dataset(ds, *mnist_datasets(ds))


def uses_dataset(ds: xr.Dataset, *names: str) -> bool:
    return any(str(dataset) in names for dataset in parameter_values(ds, "dataset"))


def mnist_datasets(ds: xr.Dataset) -> tuple[str, ...]:
    return tuple(str(name) for name in parameter_values(ds, "dataset") if str(name).startswith("mnist_"))


def applies_fig1(ds: xr.Dataset) -> bool:
    return applies_planar(ds) and "init_scale" in ds.dims and ds.sizes["init_scale"] >= 2


def applies_fig2(ds: xr.Dataset) -> bool:
    return has(ds, "linear_frac_train", "linear_frac_test") and bool(mnist_datasets(ds))


def applies_fig3(ds: xr.Dataset) -> bool:
    """Planar SGD runs of clustered networks: one init scale, small (<= SMALL_INIT), alpha > 0,
    width >= 2, no outlier (Fig. 1 sweeps the init, Fig. 4 uses full-batch GD, Fig. 9 the outlier)."""
    return (applies_planar(ds) and "init_scale" not in ds.dims and max(parameter_values(ds, "init_scale")) <= SMALL_INIT
            and min(parameter_values(ds, "alpha")) > 0 and min(parameter_values(ds, "width")) >= 2
            and parameter_values(ds, "optimizer") == ["sgd"] and not uses_dataset(ds, "gaussians_outlier"))


def applies_fig4(ds: xr.Dataset) -> bool:
    return applies_planar(ds) and "weight_history" in ds and min(parameter_values(ds, "alpha")) > 0 and \
        not uses_dataset(ds, "gaussians_outlier")


def applies_fig5(ds: xr.Dataset) -> bool:
    alphas = parameter_values(ds, "alpha") if "alpha" in ds.dims else []
    return applies_planar(ds) and 0.0 in alphas and max(alphas) > 0 and parameter_values(ds, "width") == [1]


def records_metrics(ds: xr.Dataset) -> bool:
    """Whether some run recorded its metrics along training (``record_metrics``; else the curves are NaN)."""
    return True in parameter_values(ds, "record_metrics")


def applies_fig7(ds: xr.Dataset) -> bool:
    """Clustering over training at small init (<= SMALL_INIT) in more than two dimensions
    (the planar stores have their own figures), with two or more neurons of a type."""
    return (has(ds, "cluster_ratio", "max_angle") and records_metrics(ds) and min(parameter_values(ds, "width")) >= 2
            and max(parameter_values(ds, "init_scale")) <= SMALL_INIT and max(parameter_values(ds, "d")) > 2
            and not mnist_datasets(ds))


def applies_fig8(ds: xr.Dataset) -> bool:
    """PAR share on symmetric Gaussians with two or more neurons of a type, where some run starts
    outside PAR (else every line is flat at 1: nothing to see)."""
    if not (has(ds, "par_share_w", "par_share_u") and records_metrics(ds) and uses_dataset(ds, "gaussians")
            and min(parameter_values(ds, "width")) >= 2):
        return False
    first = np.minimum(ds["par_share_w"].isel(epoch=0), ds["par_share_u"].isel(epoch=0))
    return bool((first < 1).any())


def applies_fig9(ds: xr.Dataset) -> bool:
    return has(ds, "disagree_w", "disagree_u", "par_share_w", "par_share_u") and \
        uses_dataset(ds, "gaussians_outlier")


# ---------------------------------------------------------------- helpers

def runs(ds: xr.Dataset) -> Iterator[dict[str, Any]]:
    """Every finished run's grid point, in grid order."""
    dims = grid_dims(ds)
    done = ds["done"].values
    for index in np.ndindex(done.shape):
        if done[index]:
            yield {dim: as_python(ds[dim].values[i]) for dim, i in zip(dims, index)}


def without_seed(point: dict[str, Any]) -> dict[str, Any]:
    return {dim: value for dim, value in point.items() if dim != SEED_DIM}


def last_value(ds: xr.Dataset, name: str, point: dict[str, Any]) -> float:
    """The curve's value at the last epoch it was recorded (NaN if never)."""
    return _recorded(ds, name, point, -1)


def first_value(ds: xr.Dataset, name: str, point: dict[str, Any]) -> float:
    """The curve's value at the first epoch it was recorded (NaN if never)."""
    return _recorded(ds, name, point, 0)


def _recorded(ds: xr.Dataset, name: str, point: dict[str, Any], which: int) -> float:
    curve = ds[name].sel(point).values
    finite = np.flatnonzero(np.isfinite(curve))
    return float(curve[finite[which]]) if finite.size else np.nan


def at_most(value: float, threshold: float) -> bool:
    """value <= threshold up to float rounding (a share of 3 of 300 points is 1%, not 1.0000000000000009%)."""
    return value <= threshold * (1 + 1e-9)


def span(values: list[float], fmt: str = ".3g") -> str:
    """'a' or 'a to b' over the runs."""
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "n/a"
    low, high = min(values), max(values)
    return f"{low:{fmt}}" if low == high else f"{low:{fmt}} to {high:{fmt}}"


def tally(ds: xr.Dataset, figure: str, statement: str, measure: Callable[[dict[str, Any]], tuple[bool, dict]],
          numbers: Callable[[list[dict]], str], select: Callable[[dict[str, Any]], bool] = lambda point: True) -> Claim:
    """Apply ``measure(point) -> (holds, values)`` to every run that ``select`` keeps; count
    per grid point; ``numbers`` turns the list of values into the claim's line of numbers."""
    results = [(point, *measure(point)) for point in runs(ds) if select(point)]
    groups: dict[str, list[bool]] = {}
    for point, held, _ in results:
        groups.setdefault(describe_point(without_seed(point), DIM_NAMES), []).append(held)
    per_point = tuple(f"{name or 'all runs'}: {sum(flags)}/{len(flags)}" for name, flags in groups.items())
    return Claim(figure, statement, sum(held for _, held, _ in results), len(results),
                 numbers([values for _, _, values in results]), per_point)


# ---------------------------------------------------------------- the claims

def fig1_boundaries(ds: xr.Dataset) -> Claim | None:
    """The smallest init gives a straight boundary, the largest a bent one (runs at both)."""
    if not applies_fig1(ds):
        return None
    small, large = min(parameter_values(ds, "init_scale")), max(parameter_values(ds, "init_scale"))

    def measure(point):
        bend = boundary_bend(plane(run_params(ds, point), final_weights(ds, point)))
        ratio = last_value(ds, "cluster_ratio", point) if "cluster_ratio" in ds else np.nan
        if point["init_scale"] == small:
            return bool(bend <= STRAIGHT), {"small": bend, "small_ratio": ratio}
        return bool(bend >= BENT), {"large": bend, "large_ratio": ratio}

    return tally(ds, "Fig. 1", f"init {small:g}: a straight boundary (bend <= {STRAIGHT:g}); init {large:g}: "
                               f"a bent one (bend >= {BENT:g})", measure,
                 lambda rows: f"boundary bend at init {small:g}: {span([r['small'] for r in rows if 'small' in r])} "
                              f"(clustering ratio {span([r['small_ratio'] for r in rows if 'small' in r])}); at init "
                              f"{large:g}: {span([r['large'] for r in rows if 'large' in r])} (clustering ratio "
                              f"{span([r['large_ratio'] for r in rows if 'large' in r])})",
                 select=lambda point: point["init_scale"] in (small, large))


def linear_regime(ds: xr.Dataset, figure: str) -> Claim:
    """Figs. 2 and 6: the share of points outside the linear regime ends near 0."""

    def measure(point):
        train = 1 - last_value(ds, "linear_frac_train", point)
        test = 1 - last_value(ds, "linear_frac_test", point)
        return bool(at_most(train, NEAR_ZERO) and at_most(test, NEAR_ZERO)), {"train": train, "test": test}

    return tally(ds, figure, f"the share of train and test points outside the linear regime ends <= {NEAR_ZERO:g}",
                 measure, lambda rows: f"final share outside: train {span([r['train'] for r in rows])}, "
                                       f"test {span([r['test'] for r in rows])}")


def fig2_linear_regime(ds: xr.Dataset) -> Claim | None:
    if not applies_fig2(ds) or set(mnist_datasets(ds)) - set(MNIST_FIG2):
        return None
    return linear_regime(ds, "Fig. 2")


def fig6_mnist_pairs(ds: xr.Dataset) -> Claim | None:
    if not applies_fig2(ds) or not set(mnist_datasets(ds)) - set(MNIST_FIG2):
        return None
    return linear_regime(ds, "Fig. 6")


def fig3_nonlinear_output(ds: xr.Dataset) -> Claim | None:
    """A clustered network: straight boundary, output not linear along the class means' line."""
    if not applies_fig3(ds):
        return None

    def measure(point):
        p = plane(run_params(ds, point), final_weights(ds, point))
        bend, kink = boundary_bend(p), slope_spread(*output_along_means(p))
        return bool(bend <= STRAIGHT and kink >= KINKED), {"bend": bend, "kink": kink,
                                                           "ratio": last_value(ds, "cluster_ratio", point)}

    return tally(ds, "Fig. 3", f"a clustered network: straight boundary (bend <= {STRAIGHT:g}) but N_W not linear "
                               f"(slope varies by >= {KINKED:.0%} along the class means' line)", measure,
                 lambda rows: f"clustering ratio {span([r['ratio'] for r in rows])}; boundary bend "
                              f"{span([r['bend'] for r in rows])}; slope variation {span([r['kink'] for r in rows])}")


@dataclass(frozen=True)
class Candidates:
    """Unit directions a neuron might follow (THEORY.md §4-5): for w-neurons (``w``) and
    u-neurons (``u``), by name; ``prediction`` names the PAR-SVM one that applies."""

    w: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    prediction: str
    par: ParPrediction


PREDICTED = "PAR-SVM (Theorem 6.2)"
SIGN_CONSTRAINED = "sign-constrained PAR-SVM"


def candidate_directions(X: np.ndarray, y: np.ndarray, alpha: float, teacher: np.ndarray | None) -> Candidates:
    """The PAR-SVM prediction (the sign-constrained one when the plain one is not
    PAR-consistent, THEORY.md §4) and the directions it must be told apart from: the
    plain hard-margin SVM, the teacher and the class-mean difference (u-neurons: negated)."""
    par = par_prediction(X, y, alpha)
    chosen = par.unconstrained if par.par_consistent else par.sign_constrained
    name = PREDICTED if par.par_consistent else SIGN_CONSTRAINED
    svm = svm_margin(X, y).w
    others = {"plain SVM": svm, "class-mean difference": X[y > 0].mean(axis=0) - X[y < 0].mean(axis=0)}
    if teacher is not None:
        others["teacher"] = teacher
    others = {key: value / np.linalg.norm(value) for key, value in others.items()}
    return Candidates(w={name: chosen.w_dir, **others}, u={name: chosen.u_dir, **{k: -v for k, v in others.items()}},
                      prediction=name, par=par)


def neuron_cosines(W: np.ndarray, candidates: Candidates) -> dict[str, np.ndarray]:
    """Cosine of every neuron (rows of W (..., 2k, d)) with each candidate: (..., 2k) per name."""
    k = W.shape[-2] // 2
    unit = W / np.linalg.norm(W, axis=-1, keepdims=True)
    return {name: np.concatenate([unit[..., :k, :] @ candidates.w[name], unit[..., k:, :] @ candidates.u[name]],
                                 axis=-1) for name in candidates.w}


def fig4_cosines(ds: xr.Dataset, point: dict[str, Any]) -> tuple[Candidates, dict[str, np.ndarray]]:
    """The candidates of the run's data and every neuron's cosine with each, per recorded
    epoch: {name: (epochs, 2k)} (NaN where the epoch was not reached)."""
    params = run_params(ds, point)
    data = make_dataset(params)
    candidates = candidate_directions(data.X, data.y, params.alpha, data.teacher)
    return candidates, neuron_cosines(weight_history(ds, point), candidates)


def weight_history(ds: xr.Dataset, point: dict[str, Any]) -> np.ndarray:
    """``weight_history`` of the run at ``point`` without the store's padding: (epochs, 2k, d),
    NaN at the epochs the run did not reach."""
    history = ds["weight_history"].sel(point).values
    seen = np.isfinite(history)
    return history[:, seen.any(axis=(0, 2))][:, :, seen.any(axis=(0, 1))]


def fig4_par_prediction(ds: xr.Dataset) -> Claim | None:
    """Every neuron ends along the PAR-SVM prediction, visibly away from the other candidates."""
    if not applies_fig4(ds):
        return None

    def measure(point):
        candidates, cosines = fig4_cosines(ds, point)
        reached = np.flatnonzero(np.isfinite(cosines[candidates.prediction]).all(axis=1))
        final = {name: values[reached[-1]] for name, values in cosines.items()}
        predicted = float(final[candidates.prediction].min())
        others = {name: float(values.max()) for name, values in final.items() if name != candidates.prediction}
        held = predicted >= ALIGNED and all(value <= predicted - APART for value in others.values())
        return bool(held), {"predicted": predicted, "consistent": candidates.par.par_consistent, **others}

    def numbers(rows):
        names = [name for name in rows[0] if name not in ("predicted", "consistent")] if rows else []
        consistent = sum(r["consistent"] for r in rows)
        return (f"min cos with the PAR-SVM prediction {span([r['predicted'] for r in rows], '.5f')}; max cos with "
                + ", ".join(f"{name} {span([r[name] for r in rows if name in r], '.4f')}" for name in names)
                + f"; PAR-SVM PAR-consistent on {consistent}/{len(rows)} data sets")

    return tally(ds, "Fig. 4", f"every neuron ends along Theorem 6.2's PAR-SVM direction (cos >= {ALIGNED:g}), "
                               f"every other candidate visibly below (by >= {APART:g})", measure, numbers)


def fig5_relu_vs_leaky(ds: xr.Dataset) -> Claim | None:
    """Leaky ReLU: a straight boundary; ReLU: N_W = 0 on a wedge, so the boundary is no line."""
    if not applies_fig5(ds):
        return None

    def measure(point):
        p = plane(run_params(ds, point), final_weights(ds, point))
        if point["alpha"] > 0:
            bend = boundary_bend(p)
            return bool(bend <= STRAIGHT), {"bend": bend}
        wedge = float(np.mean(p.output == 0))
        return bool(wedge >= WEDGE), {"wedge": wedge}

    return tally(ds, "Fig. 5", f"Leaky ReLU: a straight boundary (bend <= {STRAIGHT:g}); ReLU: N_W = 0 on a wedge "
                               f"(>= {WEDGE:.1%} of the square), so its boundary is no line", measure,
                 lambda rows: f"Leaky ReLU boundary bend {span([r['bend'] for r in rows if 'bend' in r])}; "
                              f"ReLU wedge {span([r['wedge'] for r in rows if 'wedge' in r], '.1%')} of the square")


def fig7_clustering(ds: xr.Dataset) -> Claim | None:
    """The clustering ratio and the largest same-type angle shrink tenfold from epoch 1."""
    if not applies_fig7(ds):
        return None

    def measure(point):
        values = {f"{name}_{end}": get(ds, name, point) for name in ("cluster_ratio", "max_angle")
                  for end, get in (("first", first_value), ("last", last_value))}
        held = all(values[f"{name}_last"] <= SHRUNK * values[f"{name}_first"] for name in ("cluster_ratio", "max_angle"))
        return bool(held), values

    return tally(ds, "Fig. 7", f"the clustering ratio and the largest same-type angle end below {SHRUNK:g} of their "
                               "epoch-1 values", measure,
                 lambda rows: f"clustering ratio {span([r['cluster_ratio_first'] for r in rows])} at epoch 1 -> "
                              f"{span([r['cluster_ratio_last'] for r in rows])}; largest angle "
                              f"{span([r['max_angle_first'] for r in rows], '.2f')} -> "
                              f"{span([r['max_angle_last'] for r in rows], '.2f')} degrees")


def fig8_par_share(ds: xr.Dataset) -> Claim | None:
    """The PAR share of both neuron types reaches 1."""
    if not applies_fig8(ds):
        return None
    epochs = ds["epoch"].values

    def measure(point):
        both = np.minimum(ds["par_share_w"].sel(point).values, ds["par_share_u"].sel(point).values)
        full = np.flatnonzero(both >= 1)
        held = bool(np.isfinite(both).any() and last_value(ds, "par_share_w", point) >= 1
                    and last_value(ds, "par_share_u", point) >= 1)
        return held, {"start": float(both[0]), "reached": float(epochs[full[0]]) if full.size else np.nan}

    return tally(ds, "Fig. 8", "the PAR share of both neuron types ends at 1", measure,
                 lambda rows: f"smaller share at epoch 1 {span([r['start'] for r in rows], '.2f')}; first epoch with "
                              f"both at 1 {span([r['reached'] for r in rows], '.0f')}")


def fig9_outlier(ds: xr.Dataset) -> Claim | None:
    """An NAR (no same-type disagreements) whose w-neurons are not all in PAR, at full accuracy."""
    if not applies_fig9(ds):
        return None

    def measure(point):
        values = {name: last_value(ds, name, point) for name in ("disagree_w", "disagree_u", "par_share_w")}
        values["train_acc"] = float(ds["train_acc"].sel(point).values)
        nar = values["disagree_w"] == 0 and values["disagree_u"] == 0
        values.update(nar=nar, not_par=values["par_share_w"] < 1)
        return bool(nar and values["not_par"] and values["train_acc"] == 1), values

    def numbers(rows):
        total = len(rows)
        return (f"NAR (0 disagreements, both types) in {sum(r['nar'] for r in rows)}/{total}; w-neuron PAR share "
                f"< 1 in {sum(r['not_par'] for r in rows)}/{total}; training accuracy 1 in "
                f"{sum(r['train_acc'] == 1 for r in rows)}/{total}; final disagreements: w "
                f"{span([r['disagree_w'] for r in rows], '.0f')}, u {span([r['disagree_u'] for r in rows], '.0f')}")

    return tally(ds, "Fig. 9", "an NAR that is not a PAR: same-type neurons agree on every point, yet the w-neurons "
                               "are not all in PAR, at training accuracy 1", measure, numbers)


CLAIMS: tuple[Callable[[xr.Dataset], Claim | None], ...] = (
    fig1_boundaries, fig2_linear_regime, fig3_nonlinear_output, fig4_par_prediction, fig5_relu_vs_leaky,
    fig6_mnist_pairs, fig7_clustering, fig8_par_share, fig9_outlier,
)


def claims(ds: xr.Dataset) -> list[Claim]:
    """Every claim that applies to the store."""
    return [claim for claim in (measure(ds) for measure in CLAIMS) if claim is not None]
