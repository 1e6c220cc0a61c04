"""The certified potential bound: THEORY.md §2.1, BOUND.md Theorem 2 and §9.

For every mu > 0 the potential Phi_mu(W) = <W, W*> - (mu/2) ||W||_F^2 is at most
k s^2 / mu, a violating step (sampled point at loss >= eps) raises it by at least
lr D_v(mu) and any other step lowers it by at most lr |D_n(mu)| (BOUND.md Lemma 5).
Writing mu = 2 k v alpha / Z (any Z > 0 is a valid mu):

- :func:`epochs_bound_potential`: Theorem 2(b)-(c), E_clean <= 1 + floor(B(mu) /
  (lr (D_v + (n - 1) D_n))) minimised over mu, with the worst-case start
  B(mu) = k (s + mu R_0)^2 / mu (every W0 with row norms <= R_0);
- :func:`epochs_bound_potential_instance`: the same from the run's own start,
  B(mu) = k s^2 / mu - F0 + (mu / 2) G0^2 with F0 = <W0, W*>, G0 = ||W0||_F;
- :func:`violating_steps_bound`: Theorem 2(a), V_T <= (B(mu) / lr - T D_n) / (D_v - D_n)
  at T steps, worst-case start, minimised over mu;
- :func:`step_increments`: (D_v(mu), D_n(mu)) of Lemma 5: D_n by 5(a), D_v certified
  for every mu by the grid of 5(c) (``VIOLATING_CELLS`` cells of [g_eps, 1)).

The minimum over mu is taken as BOUND.md §9 says: Z on ``Z_GRID`` (60 points in
[0.05, 3], 600 geometric in [3, 1e7]), then refined between the best point's
neighbours by SciPy's bounded scalar minimiser in log Z; every Z tried is a valid mu,
so the refinement can only lower the bound. Float64 throughout (the ratios are of
moderate numbers); the bounds are Python ints. BoundOverflowError (from
:mod:`.theory`) when no Z gives a finite bound or it exceeds the float range; ValueError
naming a bad argument (as :mod:`.theory`'s bounds).
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.optimize import minimize_scalar

from sweep.problems.separable.theory import (LAMBERT_C, BoundOverflowError, check_alpha, check_count, check_finite,
                                             check_nonnegative, check_positive)

VIOLATING_CELLS = 20_000    # cells of [g_eps, 1) in Lemma 5(c): geometric in g up to 1/2, in 1 - g above
LAST_CUT = 1e-13            # the last cut is 1 - LAST_CUT; on [1 - LAST_CUT, 1) h decreases
Z_GRID = np.concatenate([np.linspace(0.05, 3.0, 60), np.geomspace(3.0, 1e7, 600)[1:]])
_Z_CHUNK = 32               # Z values whose cell minima are taken at once (caps the work array)
# h(g) = g log((1 - g) / g) is concave with its maximum c = W0(1/e) at z = log((1 - g) / g)
# = 1 + c, i.e. g = 1 / (1 + e^{1 + c}) (BOUND.md §1).
H_PEAK = 1.0 / (1.0 + math.exp(1.0 + LAMBERT_C))


def epochs_bound_potential(*, n: int, k: int, alpha: float, v: float, lr: float, eps: float, s: float, R_x: float,
                           R_0: float) -> int:
    """Theorem 2(b)-(c) of BOUND.md, worst-case start: E_clean <= this for every W0 with
    row norms <= R_0, every visiting order and every lr (THEORY.md §2.1)."""
    check_nonnegative("R_0", R_0)
    return _epochs(n=n, k=k, alpha=alpha, v=v, lr=lr, eps=eps, s=s, R_x=R_x, start=_worst_case_start(k, s, R_0))


def epochs_bound_potential_instance(*, n: int, k: int, alpha: float, v: float, lr: float, eps: float, s: float,
                                    R_x: float, F0: float, G0: float) -> int:
    """Theorem 2(b) of BOUND.md from the run's own F0 = <W0, W*> and G0 = ||W0||_F
    (THEORY.md §2.1); reported beside :func:`epochs_bound_potential`, never instead."""
    check_finite("F0", F0)
    check_nonnegative("G0", G0)
    return _epochs(n=n, k=k, alpha=alpha, v=v, lr=lr, eps=eps, s=s, R_x=R_x, start=_instance_start(k, s, F0, G0))


def violating_steps_bound(*, k: int, alpha: float, v: float, lr: float, eps: float, s: float, R_x: float, R_0: float,
                          steps: int) -> int:
    """Theorem 2(a) of BOUND.md, worst-case start: the number of violating steps (sampled
    point at loss >= eps, before its update) among the first ``steps`` SGD steps is at
    most this, for every W0 with row norms <= R_0 and every visiting order (THEORY.md §2.1)."""
    check_nonnegative("R_0", R_0)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"'steps' must be an integer >= 0, got {steps!r}")
    scaled = _scaled_increments_on_grid(k, alpha, v, lr, eps, R_x)
    start = _worst_case_start(k, s, R_0)
    mu_of = 2 * k * v * alpha

    def bound(Z, u, w):  # (B / lr - T D_n) / (D_v - D_n), with D = mu (u, w)
        mu = mu_of / Z
        value = (start(mu) / (lr * mu) - steps * w) / (u - w)
        return np.where(u > 0, value, np.inf)

    return _floor_of_minimum(bound, scaled, k, alpha, v, lr, eps, R_x)


def step_increments(mu: float, *, k: int, alpha: float, v: float, lr: float, eps: float, R_x: float
                    ) -> tuple[float, float]:
    """(D_v(mu), D_n(mu)) of BOUND.md Lemma 5: every violating step raises Phi_mu by at
    least lr D_v (certified by the grid of 5(c)), every other step by at least lr D_n <= 0
    (5(a))."""
    check_positive("mu", mu)
    _check_step_arguments(k, alpha, v, lr, eps, R_x)
    u, w = _scaled_increments(np.array([2 * k * v * alpha / mu]), k, alpha, v, lr, eps, R_x)
    return float(mu * u[0]), float(mu * w[0])


def _epochs(*, n, k, alpha, v, lr, eps, s, R_x, start) -> int:
    """1 + floor(min over Z of B(mu) / (lr (D_v + (n - 1) D_n))), Theorem 2(b)."""
    check_count("n", n)
    scaled = _scaled_increments_on_grid(k, alpha, v, lr, eps, R_x)
    mu_of = 2 * k * v * alpha

    def bound(Z, u, w):
        mu = mu_of / Z
        bracket = u + (n - 1) * w
        return np.where((u > 0) & (bracket > 0), start(mu) / (lr * mu * np.where(bracket > 0, bracket, 1.0)), np.inf)

    return 1 + _floor_of_minimum(bound, scaled, k, alpha, v, lr, eps, R_x)


def _worst_case_start(k, s, R_0):
    """B(mu) = k (s + mu R_0)^2 / mu (Theorem 2(c))."""
    check_positive("s", s)
    return lambda mu: k * (s + mu * R_0) ** 2 / mu


def _instance_start(k, s, F0, G0):
    """B(mu) = k s^2 / mu - F0 + (mu / 2) G0^2 (>= 0 by Lemma 3(i); clipped at 0 against rounding)."""
    check_positive("s", s)
    return lambda mu: np.maximum(k * s * s / mu - F0 + 0.5 * mu * G0 * G0, 0.0)


def _floor_of_minimum(bound, scaled, k, alpha, v, lr, eps, R_x) -> int:
    """floor(min over Z of bound(Z, D_v / mu, D_n / mu)): the grid, then the bounded
    minimiser in log Z between the best grid point's neighbours."""
    u, w = scaled
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        values = bound(Z_GRID, u, w)
    best = int(np.argmin(values))
    lowest = float(values[best])
    if math.isfinite(lowest):
        def at(log_Z):
            Z = np.array([math.exp(log_Z)])
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                value = float(bound(Z, *_scaled_increments(Z, k, alpha, v, lr, eps, R_x))[0])
            return value if math.isfinite(value) else 2 * lowest + 1.0  # outside the valid mu

        edges = math.log(Z_GRID[max(best - 1, 0)]), math.log(Z_GRID[min(best + 1, Z_GRID.size - 1)])
        refined = minimize_scalar(at, bounds=edges, method="bounded", options={"xatol": 1e-6})
        lowest = min(lowest, at(float(refined.x)))
    if not math.isfinite(lowest) or lowest > np.finfo(np.float64).max / 2:
        raise BoundOverflowError(f"the potential bound has no finite value for mu on the grid (best {lowest:.4g})")
    return int(math.floor(max(lowest, 0.0)))


def _check_step_arguments(k, alpha, v, lr, eps, R_x) -> None:
    check_count("k", k)
    check_alpha(alpha)
    for name, value in (("v", v), ("lr", lr), ("eps", eps), ("R_x", R_x)):
        check_positive(name, value)


@functools.lru_cache(maxsize=256)
def _cached_grid(k, alpha, v, lr, eps, R_x):
    return _scaled_increments(Z_GRID, k, alpha, v, lr, eps, R_x)


def _scaled_increments_on_grid(k, alpha, v, lr, eps, R_x):
    """(D_v / mu, D_n / mu) on Z_GRID, cached: the runs of one data set share them."""
    _check_step_arguments(k, alpha, v, lr, eps, R_x)
    return _cached_grid(int(k), float(alpha), float(v), float(lr), float(eps), float(R_x))


def _scaled_increments(Z: np.ndarray, k, alpha, v, lr, eps, R_x) -> tuple[np.ndarray, np.ndarray]:
    """(D_v / mu, D_n / mu) at mu = 2 k v alpha / Z for each Z (BOUND.md Lemma 5).

    With A_rho = 2 k v rho and B_rho = kappa ((1 + alpha) rho - alpha), rho in {alpha, 1}
    and kappa = k lr v^2 R_x^2: A_rho / mu = rho Z / alpha, so on a cell [g_i, g_{i+1}]
    delta / mu >= (rho Z / alpha) g_i - max h - B_rho g_{i+1}^2 (5(c)), and
    D_n / mu = -max_rho exp(-1 - rho Z / alpha + B_rho g_eps) (5(a)).
    """
    g_low, h_high, g_high_sq = _violating_cells(float(eps))
    kappa = k * lr * v * v * R_x * R_x
    g_eps = -math.expm1(-eps)
    u = np.full(Z.shape, np.inf)
    w = np.full(Z.shape, -0.0)
    for ratio, B in ((1.0, kappa * alpha * alpha), (1.0 / alpha, kappa)):  # rho / alpha, B_rho
        slope = ratio * Z
        offsets = h_high + B * g_high_sq
        for start in range(0, Z.size, _Z_CHUNK):
            part = slice(start, start + _Z_CHUNK)
            u[part] = np.minimum(u[part], np.min(slope[part, None] * g_low[None, :] - offsets[None, :], axis=1))
        with np.errstate(over="ignore"):
            w = np.minimum(w, -np.exp(-1.0 - slope + B * g_eps))
    return u, w


@functools.lru_cache(maxsize=16)
def _violating_cells(eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells of [g_eps, 1) (BOUND.md Lemma 5(c)): for each, its lower end g_i, the
    maximum of h over it and its upper end squared; the last cell is [1 - LAST_CUT, 1),
    where h decreases (max h = h(g_N), g^2 <= 1)."""
    g_eps = -math.expm1(-eps)
    tail = math.exp(-eps)  # 1 - g_eps
    if g_eps < 0.5:
        half = VIOLATING_CELLS // 2
        cuts = np.concatenate([np.geomspace(g_eps, 0.5, half + 1), 1.0 - np.geomspace(0.5, LAST_CUT, half + 1)[1:]])
    elif tail > LAST_CUT:
        cuts = 1.0 - np.geomspace(tail, LAST_CUT, VIOLATING_CELLS + 1)
    else:
        cuts = np.array([g_eps])
    cuts[0] = g_eps
    cuts = np.maximum.accumulate(cuts)
    low, high = cuts[:-1], cuts[1:]
    peak = np.clip(H_PEAK, low, high)
    g_low = np.append(low, cuts[-1])
    h_high = np.append(_h(peak), _h(cuts[-1:]))
    g_high_sq = np.append(high * high, 1.0)
    return g_low, h_high, g_high_sq


def _h(g: np.ndarray) -> np.ndarray:
    """h(g) = g log((1 - g) / g) = g z (BOUND.md §1)."""
    return g * (np.log1p(-g) - np.log(g))
