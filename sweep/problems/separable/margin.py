"""Exact hard-margin SVMs without bias (THEORY.md §1 and §4).

Both problems are least-distance programs, min ||z|| subject to G z >= h, which
:func:`least_distance` solves with the Lawson–Hanson reduction to non-negative least
squares, made exact at any scale:

- :func:`svm_margin`: min ||w|| s.t. y_i <w, x_i> >= 1 gives s_min = ||w|| and the
  geometric margin gamma = 1/s_min of THEORY.md §1.
- :func:`par_svm`: the PAR-SVM of THEORY.md §4 on transformed points in R^{2d},
  optionally with the sign constraints that keep the solution PAR-consistent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

FEASIBILITY_RTOL = 1e-8         # relative slack allowed in G z >= h after solving
INFEASIBLE_RESIDUAL = 1e-10     # NNLS residual of the scaled problem at or below which G z >= h cannot hold
_POLISH_RTOL = 1e-12            # multipliers below this share of the largest count as 0 when polishing
_POLISH_STEPS = 50              # active-set steps of the polish before it gives up
_WIDE = np.longdouble           # residuals of the polishing step (80-bit on x86; float64 elsewhere)
_ROUNDING = 32 * float(np.finfo(_WIDE).eps)  # rounding allowance of a long-double residual, per unit of sum |G_ij z_j|


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
    """Solve min ||z|| s.t. G z >= h, exact up to the conditioning of the active constraints.

    Lawson–Hanson: with E = [G^T; h^T] (dim+1, m) and f = e_{dim+1}, let u = argmin_{u>=0}
    ||E u - f|| and r = E u - f. Then ||r||^2 = 1 / (1 + ||z||^2), so r = 0 means the
    constraints are infeasible, and otherwise z = -r[:dim] / r[dim] with multipliers
    u / ||r||^2 (because -r[dim] = 1 - h^T u = ||r||^2 at the NNLS optimum).
    That formula loses about ||z||^2 x 1e-16 to cancellation, and at ||z|| > 1e8 it
    cannot even tell feasible from infeasible. Hence three steps, all scale-free:

    1. substitute z = t z' (t a power of 2, so exactly) with t = 1 / max_i ||G_i||, solve,
       and read ||z'|| off ||r|| alone; InfeasibleError if ||r|| <= INFEASIBLE_RESIDUAL,
       i.e. if ||z|| max_i ||G_i|| would exceed about 1 / INFEASIBLE_RESIDUAL;
    2. rescale t by the power of 2 nearest ||z'||, so that ||z'|| ~ 1, and solve again;
    3. polish (:func:`_polished`): from the constraints NNLS made active, a short
       active-set search for the KKT point, each solve refined with long-double
       residuals; if it does not settle (degenerate sets), step 2 stands.

    Accuracy (tests/test_margin.py, against an mpmath reference certified by its duality
    gap): relative error of ||z|| about 1e-16 at any scale of G; on degenerate sets with
    s R_x >= 1e7 (several constraints nearly active at once, margins 1e-7 R_x) it can
    reach about 1e-16 s R_x.

    After solving, G z >= h is checked to relative tolerance FEASIBILITY_RTOL.
    """
    G = np.asarray(G, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    if G.ndim != 2 or h.shape != (G.shape[0],):
        raise ValueError(f"least_distance: G must be (m, dim) and h (m,), got {G.shape} and {h.shape}")
    if not (np.all(np.isfinite(G)) and np.all(np.isfinite(h))):
        raise ValueError("least_distance: G and h must be finite")
    if h.size == 0 or h.max() <= 0:
        return LeastDistance(z=np.zeros(G.shape[1]), dual=np.zeros(h.size))  # z = 0 is feasible
    largest_row = float(np.max(np.linalg.norm(G, axis=1)))
    if largest_row == 0:
        raise InfeasibleError("least_distance: no z satisfies G z >= h (G = 0 and some h_i > 0)")
    t = _power_of_two(1.0 / largest_row)
    norm = _solution_norm(t * G, h)
    if norm > 0:
        t *= _power_of_two(norm)
    z, dual = _nnls_solution(t * G, h)
    z, dual = _polished(t * G, h, z, dual)
    z, dual = t * z, t * t * dual  # G z >= h with z = t z', and z' = (t G)^T dual'
    slack = G @ z - h
    scale = max(1.0, float(np.max(np.abs(h))), largest_row * float(np.linalg.norm(z)))
    if slack.min() < -FEASIBILITY_RTOL * scale:
        raise InfeasibleError(f"least_distance: solution violates G z >= h by {-slack.min():.3g}")
    return LeastDistance(z=z, dual=dual)


def _power_of_two(value: float) -> float:
    return math.ldexp(1.0, round(math.log2(value)))


def _nnls(G: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Lawson–Hanson on (G, h): (u, r, ||r||)."""
    dim = G.shape[1]
    E = np.vstack([G.T, h[None, :]])
    f = np.zeros(dim + 1)
    f[dim] = 1.0
    u, residual_norm = nnls(E, f, maxiter=max(50 * E.shape[1], 1000))
    if residual_norm <= INFEASIBLE_RESIDUAL:
        raise InfeasibleError("least_distance: no z satisfies G z >= h")
    return u, E @ u - f, residual_norm


def _solution_norm(G: np.ndarray, h: np.ndarray) -> float:
    """||z|| of min ||z|| s.t. G z >= h from the NNLS residual: sqrt(1/||r||^2 - 1)."""
    _, _, residual_norm = _nnls(G, h)
    return math.sqrt(max(1.0 / residual_norm ** 2 - 1.0, 0.0))


def _nnls_solution(G: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z, dual) from Lawson–Hanson; accurate when ||z|| is about 1."""
    u, residual, _ = _nnls(G, h)
    last = residual[-1]
    if last >= 0:
        raise InfeasibleError("least_distance: no z satisfies G z >= h")
    return -residual[:-1] / last, u / -last


def _polished(G: np.ndarray, h: np.ndarray, z: np.ndarray, dual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refine (z, dual) by a short active-set search started at NNLS's active set S.

    Each step takes the min-norm z with G_S z = h_S (least squares, refined twice with
    long-double residuals) and its multipliers; it drops the constraint with the most
    negative multiplier (below -_POLISH_RTOL of the largest), or else adds the most
    violated one (G_i z < h_i beyond the rounding of a long-double residual), and stops
    when neither exists: a KKT point. S starts without multipliers below _POLISH_RTOL
    of the largest (NNLS noise). If no KKT point is found within _POLISH_STEPS steps
    (on degenerate sets, with more nearly active constraints than dimensions, the search
    can cycle), (z, dual) is returned unchanged.
    """
    active = list(np.flatnonzero(dual > _POLISH_RTOL * max(float(dual.max()), 0.0)))
    wide_G, wide_h = G.astype(_WIDE), h.astype(_WIDE)
    for _ in range(_POLISH_STEPS):
        if not active:
            return z, dual
        G_S, h_S = G[active], h[active]
        polished = np.linalg.lstsq(G_S, h_S, rcond=None)[0].astype(_WIDE)
        for _ in range(2):
            residual = (wide_h[active] - wide_G[active] @ polished).astype(np.float64)
            polished = polished + np.linalg.lstsq(G_S, residual, rcond=None)[0]
        multipliers = np.linalg.lstsq(G_S.T, polished.astype(np.float64), rcond=None)[0]
        if multipliers.min() < -_POLISH_RTOL * float(np.abs(multipliers).max()):
            active.pop(int(np.argmin(multipliers)))
            continue
        slack = (wide_G @ polished - wide_h).astype(np.float64)
        tolerance = _ROUNDING * (np.abs(G) @ np.abs(polished.astype(np.float64)) + np.abs(h))
        violated = slack < -tolerance
        if violated.any():
            active.append(int(np.argmin(np.where(violated, slack / tolerance, 0.0))))
            continue
        polished_dual = np.zeros_like(dual)
        polished_dual[active] = np.maximum(multipliers, 0.0)
        return polished.astype(np.float64), polished_dual
    return z, dual


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

    Scale-free: svm_margin(c X, y).s = svm_margin(X, y).s / c to rounding, for any c > 0
    (see :func:`least_distance`). Raises NotSeparableError if no such w exists, or if
    the geometric margin is below about INFEASIBLE_RESIDUAL R_x (s R_x > 1e10), where
    float64 data cannot tell separable from not.
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
