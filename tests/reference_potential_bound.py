"""BOUND.md §9 written out plainly, from the document alone (THEORY.md §2.1): the tests'
reference for sweep/problems/separable/potential_bound.py.

One mu at a time (a Python loop over the Z grid), D_v by the cell bound of Lemma 5(c)
on cuts built here, the refinement by a hand-written golden section, Corollary 3 in
closed form, and delta(g, rho; mu) of Lemma 3(ii) in mpmath for the exact infima.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np

C = float(mpmath.lambertw(1 / mpmath.e).real)
G_PEAK = 1.0 / (1.0 + math.exp(1.0 + C))   # argmax of h(g) = g log((1-g)/g)


def constants(k, alpha, v, lr, eps, R_x):
    ge = 1.0 - math.exp(-eps)
    ze = -math.log(math.expm1(eps))
    kap = k * lr * v * v * R_x * R_x
    pairs = [(2 * k * v * alpha, kap * alpha * alpha), (2 * k * v, kap)]
    return ge, ze, kap, pairs


def h(g):
    return g * (np.log1p(-g) - np.log(g))


def cuts(ge, N=20000, last=1e-13):
    """g_eps = g_0 < ... < g_N = 1 - last: geometric in g up to 1/2, in 1 - g after."""
    if ge >= 0.5:
        j = np.arange(N + 1)
        out = 1.0 - (1.0 - ge) * (last / (1.0 - ge)) ** (j / N)
    else:
        m = N // 2
        j = np.arange(m + 1)
        lower = ge * (0.5 / ge) ** (j / m)
        upper = 1.0 - 0.5 * (last / 0.5) ** (np.arange(1, N - m + 1) / (N - m))
        out = np.concatenate([lower, upper])
    out[0] = ge
    return out


def Dn(mu, k, alpha, v, lr, eps, R_x):
    ge, _, _, pairs = constants(k, alpha, v, lr, eps, R_x)
    return -mu * max(math.exp(-1 - (A - mu * B * ge) / mu) for A, B in pairs)


def Dv(mu, k, alpha, v, lr, eps, R_x, N=20000):
    ge, _, _, pairs = constants(k, alpha, v, lr, eps, R_x)
    g = cuts(ge, N)
    lo, hi = g[:-1], g[1:]
    hmax = h(np.minimum(np.maximum(G_PEAK, lo), hi))
    best = math.inf
    for A, B in pairs:
        cells = A * lo - mu * hmax - mu * B * hi ** 2
        last = A * g[-1] - mu * h(g[-1]) - mu * B
        best = min(best, float(cells.min()), float(last))
    return best


def start_worst(k, s, R_0):
    return lambda mu: k * (s + mu * R_0) ** 2 / mu


def start_instance(k, s, F0, G0):
    return lambda mu: k * s * s / mu - F0 + mu * G0 * G0 / 2


def _search(objective):
    """min over Z of objective(Z) on §9's grid, then golden section between neighbours; (value, Z)."""
    grid = list(np.linspace(0.05, 3, 60)) + list(np.geomspace(3, 1e7, 600)[1:])
    values = [objective(Z) for Z in grid]
    i = int(np.argmin(values))
    if not math.isfinite(values[i]):
        return math.inf, math.nan
    a, b = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
    phi = (math.sqrt(5) - 1) / 2
    f = lambda t: objective(math.exp(t))
    c, d = b - phi * (b - a), a + phi * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - phi * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + phi * (b - a)
            fd = f(d)
    t = c if fc < fd else d
    return (min(values[i], f(t)), grid[i] if values[i] <= f(t) else math.exp(t))


def epochs(n, k, alpha, v, lr, eps, s, R_x, start):
    """Theorem 2(b): (1 + floor(min over mu of B(mu) / (lr (D_v + (n-1) D_n))), the best Z)."""
    def objective(Z):
        mu = 2 * k * v * alpha / Z
        dv, dn = Dv(mu, k, alpha, v, lr, eps, R_x), Dn(mu, k, alpha, v, lr, eps, R_x)
        den = lr * (dv + (n - 1) * dn)
        return start(mu) / den if dv > 0 and den > 0 else math.inf

    value, Z = _search(objective)
    return 1 + math.floor(value), Z


def violating(k, alpha, v, lr, eps, s, R_x, R_0, T):
    """Theorem 2(a), worst-case start: floor(min over mu of (B/lr - T D_n) / (D_v - D_n))."""
    start = start_worst(k, s, R_0)

    def objective(Z):
        mu = 2 * k * v * alpha / Z
        dv, dn = Dv(mu, k, alpha, v, lr, eps, R_x), Dn(mu, k, alpha, v, lr, eps, R_x)
        return (start(mu) / lr - T * dn) / (dv - dn) if dv > 0 else math.inf

    return math.floor(_search(objective)[0])


def corollary_3(Z, n, k, alpha, v, lr, eps, s, R_x, R_0):
    """Corollary 3 at one Z: the bound (a float, before 1 + floor), or None when Z is not
    admissible (Lemma 5(b)) or the bracket is not positive."""
    ge, ze, kap, _ = constants(k, alpha, v, lr, eps, R_x)
    a = alpha
    if Z < ze - math.exp(eps) + 2 * kap * a * a or Z < a * (ze - math.exp(eps) + 2 * kap):
        return None
    m_v = min(Z - ze - kap * a * a * ge, Z / a - ze - kap * ge)
    m_n = max(math.exp(-1 - Z + kap * a * a * ge), math.exp(-1 - Z / a + kap * ge))
    bracket = ge * m_v - (n - 1) * m_n
    if bracket <= 0:
        return None
    return (s * Z + 2 * k * v * a * R_0) ** 2 / (4 * k * v * v * a * a * lr * bracket)


def delta(g, rho, mu, k, alpha, v, lr, eps, R_x, dps=40):
    """delta(g, rho; mu) = 2 k v rho g - mu [h(g) + kappa ((1 + alpha) rho - alpha) g^2] in mpmath (Lemma 3(ii))."""
    with mpmath.workdps(dps):
        g, rho, mu = mpmath.mpf(g), mpmath.mpf(rho), mpmath.mpf(mu)
        kap = mpmath.mpf(k) * lr * v * v * R_x * R_x
        hg = g * (mpmath.log(1 - g) - mpmath.log(g))
        return 2 * k * v * rho * g - mu * (hg + kap * ((1 + alpha) * rho - alpha) * g * g)
