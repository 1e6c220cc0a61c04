"""Exact hard-margin SVMs without bias (THEORY.md §1 and §4).

Both problems are least-distance programs, min ||z|| subject to G z >= h, which
:func:`least_distance` solves exactly with the Lawson–Hanson reduction to
non-negative least squares:

- :func:`svm_margin`: min ||w|| s.t. y_i <w, x_i> >= 1 gives s_min = ||w|| and the
  geometric margin gamma = 1/s_min of THEORY.md §1.
- :func:`par_svm`: the PAR-SVM of THEORY.md §4 on transformed points in R^{2d},
  optionally with the sign constraints that keep the solution PAR-consistent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

FEASIBILITY_RTOL = 1e-8       # relative slack allowed in G z >= h after solving
_INFEASIBLE_RESIDUAL = 1e-10  # an NNLS residual this small means the constraints cannot hold


class InfeasibleError(ValueError):
    """No z satisfies the constraints G z >= h."""


class NotSeparableError(InfeasibleError):
    """The labelled points are not linearly separable through the origin."""


@dataclass(frozen=True)
class LeastDistance:
    """Solution of min ||z|| s.t. G z >= h, with its KKT multipliers.

    KKT: z = G^T dual, dual >= 0, dual_i (G_i z - h_i) = 0.
    """

    z: np.ndarray
    dual: np.ndarray


def least_distance(G: np.ndarray, h: np.ndarray) -> LeastDistance:
    """Solve min ||z|| s.t. G z >= h exactly (Lawson–Hanson LDP via NNLS).

    With E = [G^T; h^T] (dim+1, m) and f = e_{dim+1}, let u = argmin_{u>=0} ||E u - f||
    and r = E u - f. If r = 0 the constraints are infeasible (InfeasibleError);
    otherwise z = -r[:dim] / r[dim] and the multipliers are u / ||r||^2
    (because -r[dim] = 1 - h^T u = ||r||^2 at the NNLS optimum). After solving,
    G z >= h is checked to relative tolerance FEASIBILITY_RTOL.
    """
    G = np.asarray(G, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    if G.ndim != 2 or h.shape != (G.shape[0],):
        raise ValueError(f"least_distance: G must be (m, dim) and h (m,), got {G.shape} and {h.shape}")
    if not (np.all(np.isfinite(G)) and np.all(np.isfinite(h))):
        raise ValueError("least_distance: G and h must be finite")
    dim = G.shape[1]
    E = np.vstack([G.T, h[None, :]])
    f = np.zeros(dim + 1)
    f[dim] = 1.0
    u, _ = nnls(E, f, maxiter=max(50 * E.shape[1], 1000))
    residual = E @ u - f
    if np.linalg.norm(residual) <= _INFEASIBLE_RESIDUAL or residual[dim] >= 0:
        raise InfeasibleError("least_distance: no z satisfies G z >= h")
    z = -residual[:dim] / residual[dim]
    dual = u / -residual[dim]
    slack = G @ z - h
    scale = max(1.0, float(np.max(np.abs(h))), float(np.max(np.abs(G), initial=0.0)) * float(np.linalg.norm(z)))
    if slack.size and slack.min() < -FEASIBILITY_RTOL * scale:
        raise InfeasibleError(f"least_distance: solution violates G z >= h by {-slack.min():.3g}")
    return LeastDistance(z=z, dual=dual)


@dataclass(frozen=True)
class SVMResult:
    """Hard-margin SVM without bias (THEORY.md §1).

    ``w`` is the min-norm vector with y_i <w, x_i> >= 1, ``s`` = ||w||, ``gamma``
    = 1/s, ``dual`` the multipliers lambda >= 0 with w = sum_i lambda_i y_i x_i,
    ``support`` the indices with lambda_i > 0.
    """

    w: np.ndarray
    s: float
    gamma: float
    support: np.ndarray
    dual: np.ndarray


def svm_margin(X: np.ndarray, y: np.ndarray) -> SVMResult:
    """The exact hard-margin SVM without bias: min ||w|| s.t. y_i <w, x_i> >= 1 (THEORY.md §1).

    Raises NotSeparableError if no such w exists.
    """
    X, y = _labelled_points(X, y)
    try:
        solution = least_distance(y[:, None] * X, np.ones(len(y)))
    except InfeasibleError as error:
        raise NotSeparableError(
            "data set is not linearly separable through the origin: no w with y<w,x> >= 1"
        ) from error
    s = float(np.linalg.norm(solution.z))
    return SVMResult(
        w=solution.z, s=s, gamma=1.0 / s,
        support=np.flatnonzero(solution.dual > 0), dual=solution.dual,
    )


@dataclass(frozen=True)
class PARSVMResult:
    """PAR-SVM solution z = (z_w, z_u) of THEORY.md §4.

    ``par_consistent``: y<z_w, x> > 0 and -y<z_u, x> > 0 strictly (beyond the
    feasibility tolerance) for every training x. For the unconstrained problem
    this says whether Theorem 6.2's prediction applies; for the sign-constrained
    one it says whether no sign constraint is active (then both solutions agree).
    ``dual`` holds the multipliers of the margin constraints followed, when
    sign-constrained, by those of the w- and u-sign constraints.
    """

    z_w: np.ndarray
    z_u: np.ndarray
    s: float
    par_consistent: bool
    dual: np.ndarray


def par_transform(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Transformed points in R^{2d}: (x, -alpha x) for y = +1, (alpha x, -x) for y = -1 (THEORY.md §4)."""
    positive = (y > 0)[:, None]
    return np.hstack([np.where(positive, X, alpha * X), np.where(positive, -alpha * X, -X)])


def par_svm(X: np.ndarray, y: np.ndarray, alpha: float, sign_constrained: bool) -> PARSVMResult:
    """The PAR-SVM of THEORY.md §4: min ||z||^2 s.t. y<z, xt> >= 1 for z = (z_w, z_u).

    With ``sign_constrained`` also y<z_w, x> >= 0 and -y<z_u, x> >= 0 for every x.
    Raises NotSeparableError if the constraints cannot hold.
    """
    X, y = _labelled_points(X, y)
    if not (0.0 <= alpha < 1.0):
        raise ValueError(f"par_svm: 'alpha' must be in [0, 1), got {alpha!r}")
    n, d = X.shape
    signed = y[:, None] * X
    G = y[:, None] * par_transform(X, y, alpha)
    h = np.ones(n)
    if sign_constrained:
        zeros = np.zeros_like(signed)
        G = np.vstack([G, np.hstack([signed, zeros]), np.hstack([zeros, -signed])])
        h = np.concatenate([h, np.zeros(2 * n)])
    try:
        solution = least_distance(G, h)
    except InfeasibleError as error:
        raise NotSeparableError(
            f"transformed points are not separable through the origin (alpha = {alpha!r}, "
            f"sign_constrained = {sign_constrained})"
        ) from error
    z_w, z_u = solution.z[:d], solution.z[d:]
    tolerance = FEASIBILITY_RTOL * max(1.0, float(np.linalg.norm(solution.z)) * float(np.abs(X).max()))
    consistent = bool(np.all(signed @ z_w > tolerance) and np.all(-(signed @ z_u) > tolerance))
    return PARSVMResult(
        z_w=z_w, z_u=z_u, s=float(np.linalg.norm(solution.z)),
        par_consistent=consistent, dual=solution.dual,
    )


def _labelled_points(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert a labelled set: X (n, d) finite, y (n,) in {+1, -1}, n >= 1."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or y.shape != (X.shape[0],):
        raise ValueError(f"'X' must be (n, d) with n >= 1 and 'y' (n,), got {X.shape} and {y.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("'X' must be finite")
    if not np.all(np.abs(y) == 1.0):
        raise ValueError(f"'y' must be +1 or -1, got values {np.unique(y)}")
    return X, y
