"""The 2D picture of one run of the ``separable`` problem: its training data, its network
N_W on a square around the data, and the shape of its decision boundary (THEORY.md §3-5).

Shared by the figures (:mod:`.figures`, which draw it) and the claims (:mod:`.claims`,
which measure it), so both look at the same square: the points (x_1, x_2) with
|x_1|, |x_2| <= ``limit`` = 1.15 max_i max(|x_i1|, |x_i2|), on GRID_POINTS x GRID_POINTS
points, with the bias coordinate 1 appended when the run has one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import contourpy
import numpy as np
import xarray as xr

from analysis.plotting import run_parameters
from kernels.network import network_output
from sweep.problems.separable.datasets import DataSet, make_dataset
from sweep.problems.separable.params import SeparableParams

GRID_POINTS = 200  # per axis


@dataclass(frozen=True)
class Plane:
    """N_W of one run on the square: ``axis`` (GRID_POINTS,), ``output`` (GRID_POINTS, GRID_POINTS)
    with output[i, j] = N_W at (axis[j], axis[i]); ``data`` the run's data set."""

    params: SeparableParams
    data: DataSet
    W: np.ndarray
    axis: np.ndarray
    output: np.ndarray

    @property
    def limit(self) -> float:
        return float(self.axis[-1])

    def inputs(self) -> np.ndarray:
        """The grid's points as network inputs (GRID_POINTS^2, d): (x_1, x_2[, 1])."""
        xx, yy = np.meshgrid(self.axis, self.axis)
        extra = self.data.X.shape[1] - 2
        return np.column_stack([xx.ravel(), yy.ravel(), np.ones((xx.size, extra))])


def run_params(ds: xr.Dataset, point: dict[str, Any]) -> SeparableParams:
    """The parameters of the run at ``point`` (all grid dims)."""
    return SeparableParams.from_mapping(run_parameters(ds, point))


def final_weights(ds: xr.Dataset, point: dict[str, Any]) -> np.ndarray:
    """The saved final W (2k, d) at ``point``, NaN padding dropped (w-rows first, then u-rows).

    The store pads rows to the largest width and columns to the largest input dimension
    (d, or d + 1 with ``bias``), so padding columns go first, then padding rows.
    """
    return unpadded(ds["weights"].sel(point).values)


def unpadded(weights: np.ndarray) -> np.ndarray:
    """W without the NaN rows and columns the store pads it with."""
    weights = weights[:, np.any(np.isfinite(weights), axis=0)]
    return weights[np.all(np.isfinite(weights), axis=1)]


def plane(params: SeparableParams, W: np.ndarray) -> Plane:
    """N_W on the square around the run's training data (2D inputs, with or without bias)."""
    data = make_dataset(params)
    limit = 1.15 * float(np.abs(data.X[:, :2]).max())
    axis = np.linspace(-limit, limit, GRID_POINTS)
    empty = Plane(params, data, W, axis, np.empty(0))
    output = network_output(empty.inputs(), W, params.alpha, params.v).reshape(GRID_POINTS, GRID_POINTS)
    return Plane(params, data, W, axis, output)


def boundary_bend(p: Plane) -> float:
    """How far the decision boundary inside the square is from a straight line.

    The zero level set of N_W (every piece of it) is fitted by its total-least-squares
    line; the result is the largest distance of the level set from that line, as a share
    of the square's half-width ``limit``. 0 for a straight boundary; NaN if N_W has no
    zero crossing in the square. Where N_W = 0 on whole regions (ReLU) the boundary is
    taken as the edge of the region N_W > 0.
    """
    field = (p.output > 0).astype(float) - 0.5 if np.any(p.output == 0) else p.output
    lines = contourpy.contour_generator(p.axis, p.axis, field).lines(0.0)
    points = np.concatenate([line for line in lines if len(line)]) if lines else np.empty((0, 2))
    if len(points) < 2:
        return np.nan
    centred = points - points.mean(axis=0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][-1]
    return float(np.abs(centred @ normal).max() / p.limit)


def output_along_means(p: Plane, samples: int = 401) -> tuple[np.ndarray, np.ndarray]:
    """N_W along the line through the two class means (t = 0 at the negative mean, 1 at the
    positive), over the part of the line inside the square: (t, N_W(t))."""
    X, y = p.data.X, p.data.y
    negative, positive = X[y < 0].mean(axis=0), X[y > 0].mean(axis=0)
    direction = positive - negative
    planar = np.abs(direction[:2]).max()
    reach = (p.limit + np.abs(negative[:2]).max()) / planar  # the square lies within |t| <= reach
    t = np.linspace(-reach, reach, samples)
    points = negative + t[:, None] * direction
    inside = np.all(np.abs(points[:, :2]) <= p.limit, axis=1)
    return t[inside], network_output(points[inside], p.W, p.params.alpha, p.params.v)


def slope_spread(t: np.ndarray, values: np.ndarray) -> float:
    """1 - min |slope| / max |slope| of ``values`` along ``t`` (central differences): 0 for a
    linear function of t, near 1 when a piecewise-linear function bends sharply."""
    slopes = np.abs(np.gradient(values, t))
    return float(1.0 - slopes.min() / slopes.max()) if slopes.max() > 0 else 0.0
