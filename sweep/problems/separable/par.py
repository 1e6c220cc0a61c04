"""The PAR prediction of the learned neurons' directions (THEORY.md §4, Theorem 6.2).

In PAR the network acts as a linear model on transformed points, so gradient flow turns
every w-neuron towards z_w and every u-neuron towards z_u, where z = (z_w, z_u) is the
PAR-SVM of :func:`.margin.par_svm`. When z is not strictly PAR-consistent the
flow may instead end at the sign-constrained PAR-SVM, so both are predicted and the
learned neurons are compared with each.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sweep.problems.separable.margin import PARSVMResult, par_svm

PREDICTIONS = ("unconstrained", "sign_constrained")


@dataclass(frozen=True)
class ParDirections:
    """Unit directions (w_dir, u_dir), each in R^d; a zero part of z stays the zero vector."""

    w_dir: np.ndarray
    u_dir: np.ndarray


@dataclass(frozen=True)
class ParPrediction:
    """Both PAR-SVM predictions of THEORY.md §4.

    ``par_consistent``: the unconstrained solution is strictly PAR-consistent, so
    Theorem 6.2 applies and both predictions coincide.
    """

    unconstrained: ParDirections
    sign_constrained: ParDirections
    par_consistent: bool


def _directions(solution: PARSVMResult) -> ParDirections:
    """The PAR-SVM solution's two parts, each scaled to unit length."""
    return ParDirections(w_dir=_unit(solution.z_w), u_dir=_unit(solution.z_u))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vector)
    return vector / norm if norm > 0 else vector


def par_prediction(X: np.ndarray, y: np.ndarray, alpha: float) -> ParPrediction:
    """The unconstrained and sign-constrained PAR-SVM directions for (X, y) (THEORY.md §4).

    Raises :class:`.margin.NotSeparableError` if the transformed points are not separable.
    """
    unconstrained = par_svm(X, y, alpha, sign_constrained=False)
    sign_constrained = par_svm(X, y, alpha, sign_constrained=True)
    return ParPrediction(unconstrained=_directions(unconstrained),
                         sign_constrained=_directions(sign_constrained),
                         par_consistent=unconstrained.par_consistent)


def par_cosines(W: np.ndarray, prediction: ParPrediction) -> dict[str, np.ndarray]:
    """Cosine of each row of W (2k, d) with its predicted direction (THEORY.md §4).

    Returns {name: (2k,) array} for each name in PREDICTIONS; entry j compares row j
    with w_dir if j < k (a w-neuron), else with u_dir. NaN for a zero row or a zero
    predicted direction.
    """
    W = np.asarray(W, dtype=np.float64)
    k = W.shape[0] // 2
    row_norms = np.linalg.norm(W, axis=1)
    cosines = {}
    for name in PREDICTIONS:
        directions = getattr(prediction, name)
        along = np.concatenate([W[:k] @ directions.w_dir, W[k:] @ directions.u_dir])
        target_norms = np.repeat([np.linalg.norm(directions.w_dir), np.linalg.norm(directions.u_dir)], k)
        with np.errstate(invalid="ignore", divide="ignore"):
            cosines[name] = along / (row_norms * target_norms)
    return cosines
