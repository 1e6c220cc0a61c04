"""Figures of the ``separable`` problem: the bound check and the paper's figures (THEORY.md §2-5).

Each figure follows the contract of :mod:`analysis.plotting` (``figure(ds, out_dir) ->
list[Path]``, [] when the store lacks what it needs: no weights, d != 2, no such curve,
...). :data:`FIGURES` lists them all, in report order. Decision boundaries regenerate
the training data with the problem's own generator (:mod:`.datasets`).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from analysis.plotting import (FigureFile, describe_point, draw_curves, figure_file, first_seed_point, has, panels,
                               parameter_values, reference_point, run_parameters)
from analysis.stats import point_dims
from sweep.problems.separable.bounds import scaling_parameters, seed_summary, summarised_values
from sweep.problems.separable.datasets import make_dataset
from sweep.problems.separable.params import SeparableParams
from sweep.problems.separable.variables import EPOCH

W_COLOR, U_COLOR = "tab:red", "tab:blue"  # w-neurons / label +1, u-neurons / label -1
LABELS = {
    "alpha": "Leaky-ReLU slope α", "width": "width k (neurons per sign)",
    "init_scale": "init scale (expected row norm of W0)", "eps": "loss level ε (nats)",
    "margin": "margin γ (data units)", "epoch": "epoch",
}
MNIST_DATASETS = ("mnist_0_1", "mnist_3_5")
GRID_POINTS = 200  # per axis, for decision-boundary contours


def run_params(ds: xr.Dataset, point: dict[str, Any]) -> SeparableParams:
    """The parameters of the run at ``point`` (all grid dims)."""
    return SeparableParams.from_mapping(run_parameters(ds, point))


def _is_planar(ds: xr.Dataset) -> bool:
    """Saved weights and 2D inputs (the decision-boundary figures)."""
    return ("weights" in ds and parameter_values(ds, "d") == [2]
            and not _uses_dataset(ds, *MNIST_DATASETS))


def _uses_dataset(ds: xr.Dataset, *names: str) -> bool:
    return any(str(dataset) in names for dataset in parameter_values(ds, "dataset"))


# ---------------------------------------------------------------- epochs against the bound (THEORY.md §2)

@figure_file
def epochs_vs_parameters(ds: xr.Dataset) -> Figure | None:
    """Per swept parameter: E_clean per seed, its median with bootstrap interval, E_conv and E_bound."""
    parameters = scaling_parameters(ds)
    if not parameters:
        return None
    summary = seed_summary(ds)
    fig, axes = panels(len(parameters))
    for ax, parameter in zip(axes, parameters):
        held = reference_point(ds, (parameter,))
        at = summary.sel(held)
        x = at[parameter].values
        seeds = summarised_values(ds)["epochs_clean"].sel(held).transpose(parameter, ...).values
        ax.plot(np.repeat(x, seeds.size // x.size), seeds.reshape(-1), ".", color="0.6", ms=3,
                label="E_clean, each seed")
        median = at["epochs_clean_median"].values
        ax.errorbar(x, median, yerr=[median - at["epochs_clean_lo"].values, at["epochs_clean_hi"].values - median],
                    fmt="o-", color="k", capsize=3, label="E_clean, median (95% CI)")
        ax.plot(x, at["epochs_conv_median"].values, "s--", color="tab:green", label="E_conv, median")
        ax.plot(x, at["epochs_bound_median"].values, "^-", color="tab:purple", label="Theorem 4.1 bound, median")
        ax.set(xscale="log", yscale="log", xlabel=LABELS[parameter], ylabel="epochs",
               title=describe_point(held) or "all runs")
        ax.legend()
    return fig


@figure_file
def ratio_heatmap(ds: xr.Dataset) -> Figure | None:
    """Median E_clean / E_bound over the first two point dims with >= 2 values (others held)."""
    swept = [dim for dim in point_dims(ds) if ds.sizes[dim] >= 2][:2]
    if len(swept) < 2:
        return None
    held = reference_point(ds, tuple(swept))
    ratio = seed_summary(ds)["ratio_median"].sel(held).transpose(*swept)
    values = ratio.values
    if not np.any(values > 0):
        return None
    fig, (ax,) = panels(1)
    image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis",
                      norm=LogNorm(np.nanmin(values[values > 0]), np.nanmax(values)))
    for axis, dim in ((ax.set_yticks, swept[0]), (ax.set_xticks, swept[1])):
        axis(range(ds.sizes[dim]), [f"{v:g}" if isinstance(v, float) else str(v) for v in parameter_values(ds, dim)])
    ax.set(ylabel=LABELS.get(swept[0], swept[0]), xlabel=LABELS.get(swept[1], swept[1]),
           title=f"median E_clean / E_bound over seeds{'; ' + describe_point(held) if held else ''}")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="E_clean / E_bound (must be <= 1)")
    return fig


# ---------------------------------------------------------------- decision boundaries (THEORY.md §3-5)

def _neurons(ds: xr.Dataset, point: dict[str, Any]) -> np.ndarray:
    """The saved final W (2k, d) at ``point``, NaN padding dropped (w-rows first, then u-rows).

    The store pads rows to the largest width and columns to the largest input dimension
    (d, or d + 1 with ``bias``), so padding columns go first, then padding rows.
    """
    weights = ds["weights"].sel(point).values
    weights = weights[:, np.any(np.isfinite(weights), axis=0)]
    return weights[np.all(np.isfinite(weights), axis=1)]


def _draw_boundary(ax, W: np.ndarray, params, title: str, dashed: np.ndarray | None = None) -> None:
    """Training data, the sign regions and zero level of N_W, and the neurons as arrows.

    ``dashed``: a second weight matrix (e.g. the PAR prediction) drawn dashed on top.
    """
    from kernels import network_output

    data = make_dataset(params)
    X = data.X
    limit = 1.15 * float(np.abs(X[:, :2]).max())
    axis = np.linspace(-limit, limit, GRID_POINTS)
    xx, yy = np.meshgrid(axis, axis)
    plane = np.column_stack([xx.ravel(), yy.ravel(), np.ones((xx.size, X.shape[1] - 2))])
    for weights, style in ((W, "solid"), (dashed, "dashed")):
        if weights is None:
            continue
        out = network_output(weights, plane, params.alpha, params.v).reshape(xx.shape)
        sign = np.sign(out)
        if style == "solid":
            # Three regions: N_W < 0, N_W = 0 exactly (every neuron inactive, only possible
            # with ReLU, alpha = 0: shaded grey), N_W > 0.
            ax.contourf(xx, yy, sign, levels=[-1.5, -0.5, 0.5, 1.5], colors=[U_COLOR, "0.4", W_COLOR],
                        alpha=0.12)
        if np.any(sign == 0):
            # N_W vanishes on whole regions, where its zero level set is no curve: draw the
            # boundary of the region predicted +1 and that of the region predicted -1.
            ax.contour(xx, yy, sign, levels=[-0.5, 0.5], colors="k", linestyles=style, linewidths=1.5)
        else:
            ax.contour(xx, yy, out, levels=[0.0], colors="k", linestyles=style, linewidths=1.5)
        _draw_neurons(ax, weights, limit, style)
    for label, color in ((1, W_COLOR), (-1, U_COLOR)):
        ax.scatter(*X[data.y == label, :2].T, s=8, color=color, alpha=0.6, label=f"y = {label:+d}")
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal", xlabel="x₁", ylabel="x₂", title=title)


def _draw_neurons(ax, W: np.ndarray, limit: float, style: str) -> None:
    """Neuron directions as arrows from the origin, longest scaled to 0.9 * limit (hollow if dashed)."""
    k = W.shape[0] // 2
    scale = 0.9 * limit / max(float(np.linalg.norm(W[:, :2], axis=1).max()), 1e-300)
    for rows, color in ((W[:k], W_COLOR), (W[k:], U_COLOR)):
        ax.quiver(np.zeros(len(rows)), np.zeros(len(rows)), rows[:, 0] * scale, rows[:, 1] * scale,
                  angles="xy", scale_units="xy", scale=1, width=0.006, linewidth=1.0,
                  facecolor="none" if style == "dashed" else color, edgecolor=color)


def _boundary_panels(ds: xr.Dataset, dim: str, values: list, describe: Callable[[Any], str]) -> Figure:
    """One decision-boundary panel per value of ``dim`` (first seed, other dims held)."""
    fig, axes = panels(len(values))
    held = first_seed_point(ds, (dim,))
    for ax, value in zip(axes, values):
        point = {**held, dim: value}
        _draw_boundary(ax, _neurons(ds, point), run_params(ds, point), f"{describe(value)}\n{describe_point(held)}")
    axes[0].legend(loc="lower right")
    return fig


@figure_file
def fig1_boundaries(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 1: small init gives clustered neurons and a near-linear boundary, large init not."""
    if not (_is_planar(ds) and "init_scale" in ds.dims and ds.sizes["init_scale"] >= 2):
        return None
    scales = parameter_values(ds, "init_scale")
    return _boundary_panels(ds, "init_scale", [min(scales), max(scales)], lambda s: f"init scale {s:g}")


@figure_file
def fig5_relu_vs_leaky(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 5 (App. D.1): ReLU (alpha = 0) vs Leaky-ReLU boundaries of small networks."""
    alphas = parameter_values(ds, "alpha") if "alpha" in ds.dims else []
    if not (_is_planar(ds) and 0.0 in alphas and max(alphas) > 0):
        return None
    return _boundary_panels(ds, "alpha", [0.0, max(alphas)],
                            lambda a: "ReLU (α = 0)" if a == 0 else f"Leaky ReLU (α = {a:g})")


@figure_file
def fig4_par_prediction(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 4: learned boundary and neurons (solid) vs the PAR-SVM prediction (dashed), THEORY.md §4.

    The prediction is the PAR-SVM when it is PAR-consistent, else the sign-constrained one.
    """
    from analysis.par import par_prediction

    if not (_is_planar(ds) and parameter_values(ds, "dataset") == ["gaussians"]):
        return None
    point = first_seed_point(ds, ())
    params = run_params(ds, point)
    if params.alpha <= 0:
        return None
    data = make_dataset(params)
    prediction = par_prediction(data.X, data.y, params.alpha)
    chosen = prediction.unconstrained if prediction.par_consistent else prediction.sign_constrained
    predicted = np.vstack([chosen.w_dir, chosen.u_dir])  # one w- and one u-neuron (THEORY.md §4)
    W = _neurons(ds, point)
    fig, (ax,) = panels(1)
    kind = "PAR-SVM" if prediction.par_consistent else "sign-constrained PAR-SVM"
    _draw_boundary(ax, W, params, f"learned (solid) vs {kind} prediction (dashed)\n{describe_point(point)}", dashed=predicted)
    ax.legend(loc="lower right")
    return fig


# ---------------------------------------------------------------- curves over training (THEORY.md §3-4)

@figure_file
def fig2_linear_regime(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 2 / App. D.2: share of points OUTSIDE the linear regime (1 - linear_frac), MNIST pairs."""
    if not (has(ds, "linear_frac_train", "linear_frac_test") and _uses_dataset(ds, *MNIST_DATASETS)):
        return None
    fig, axes = panels(2)
    for ax, split in zip(axes, ("train", "test")):
        draw_curves(ax, ds, (f"linear_frac_{split}",), EPOCH, f"share of {split} points outside the linear regime",
                     transform=lambda x: 1 - x, prefix="1 - ")
        ax.set_ylim(-0.02, 1.02)
    return fig


@figure_file
def fig7_clustering(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 7 / App. D.3: clustering ratio 2R/||wbar - ubar|| and largest intra-type angle."""
    if not has(ds, "cluster_ratio", "max_angle"):
        return None
    fig, axes = panels(2)
    draw_curves(axes[0], ds, ("cluster_ratio",), EPOCH, "clustering ratio 2R / ||w̄ - ū||")
    draw_curves(axes[1], ds, ("max_angle",), EPOCH, "largest angle between same-type neurons (degrees)")
    return fig


@figure_file
def fig8_par_share(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 8 / App. I: share of w- and u-neurons in PAR over training, Gaussian data."""
    if not (has(ds, "par_share_w", "par_share_u") and _uses_dataset(ds, "gaussians")):
        return None
    fig, (ax,) = panels(1)
    draw_curves(ax, ds, ("par_share_w", "par_share_u"), EPOCH, "share of neurons in PAR")
    ax.set_ylim(-0.02, 1.02)
    return fig


@figure_file
def fig9_outlier(ds: xr.Dataset) -> Figure | None:
    """Paper Fig. 9 / App. J: with an outlier the disagreements reach 0 (NAR) but the PAR share stays < 1."""
    if not (has(ds, "disagree_w", "disagree_u", "par_share_w", "par_share_u")
            and _uses_dataset(ds, "gaussians_outlier")):
        return None
    fig, axes = panels(2)
    draw_curves(axes[0], ds, ("disagree_w", "disagree_u"), EPOCH,
                 "most points two same-type neurons disagree on")
    draw_curves(axes[1], ds, ("par_share_w", "par_share_u"), EPOCH, "share of neurons in PAR")
    axes[1].set_ylim(-0.02, 1.02)
    return fig


FIGURES: tuple[FigureFile, ...] = (
    epochs_vs_parameters, ratio_heatmap, fig1_boundaries, fig2_linear_regime, fig4_par_prediction,
    fig5_relu_vs_leaky, fig7_clustering, fig8_par_share, fig9_outlier,
)
