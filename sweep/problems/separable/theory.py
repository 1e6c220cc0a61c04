"""The Theorem 4.1 epoch bound and its ingredients (THEORY.md §2).

Pure Python/NumPy formulas:

- :func:`epoch_bound`: E_bound(eps) = floor(T_max) + 1, the worst case over inits
  with row norms <= R_0.
- :func:`epoch_bound_instance`: the same argument started from a run's own
  F(W_0) and G(W_0); reported beside the worst-case bound, never instead of it.
- :func:`teacher_stack` and :func:`progress_measures`: W* and the quantities
  F(W) = <W, W*>, G(W) = ||W||_F the proof tracks.
- :func:`lr_for_two_eps`: the learning rate under which E_conv(2 eps) <= E_bound(eps).

Both bounds are computed in decimal floating point with BOUND_DIGITS significant
digits and an exponent range far beyond float64's, so no intermediate (s / a, lr v R_x,
...) can overflow or underflow: the bound is exact (floor of T_max evaluated to 40
digits) whenever it fits a float, and BoundOverflowError is raised when it does not.
Invalid arguments raise ValueError naming the argument and its value.
"""
from __future__ import annotations

import decimal
import math
import sys
from decimal import Decimal

import numpy as np

LAMBERT_C = 0.2784645427610738  # c = W0(1/e), the maximum of z / (1 + e^z) (THEORY.md §2)
BOUND_DIGITS = 40               # significant digits of the decimal arithmetic of the bounds
_EXPONENT_RANGE = 10 ** 6       # decimal exponents; float64's are within +-324
_FLOAT_MAX = Decimal(sys.float_info.max)


def epoch_bound(*, n: int, k: int, alpha: float, v: float, lr: float, eps: float,
                s: float, R_x: float, R_0: float) -> int:
    """E_bound(eps) = floor(T_max) + 1 epochs (THEORY.md §2), as a Python int.

    a = alpha v lr (1 - e^{-eps}), beta = c lr / k + lr^2 v^2 R_x^2 and
    T_max = 2 s R_0 / a + s^2 n beta / a^2. For alpha = 0 (ReLU) there is no bound
    and ValueError is raised; BoundOverflowError (a ValueError) when T_max exceeds the
    float range. Never ZeroDivisionError or OverflowError: see the module docstring.
    """
    check_nonnegative("R_0", R_0)
    with _bound_arithmetic():
        a, beta = _step_terms(n=n, k=k, alpha=alpha, v=v, lr=lr, eps=eps, s=s, R_x=R_x)
        s_over_a = Decimal(s) / a
        t_max = 2 * s_over_a * Decimal(R_0) + s_over_a * s_over_a * n * beta
        return _epochs_from_horizon(t_max)


def epoch_bound_instance(*, n: int, k: int, alpha: float, v: float, lr: float, eps: float,
                         s: float, R_x: float, F0: float, G0: float) -> int:
    """The instance bound of THEORY.md §2 from the run's own F0 = <W0, W*> and G0 = ||W0||_F.

    With A = 2k a and beta as in :func:`epoch_bound`, every epoch that still holds
    a point with loss >= eps raises F by at least A, and every epoch raises G^2 by
    at most 2k n beta. With F <= ||W*|| G = sqrt(2k) s G (Cauchy–Schwarz), the
    first T epochs can all hold such a point only if

        F0 + A T <= sqrt(2k) s sqrt(G0^2 + 2k n beta T),

    i.e. T <= r, the largest root of A^2 T^2 + (2 A F0 - B) T + (F0^2 - C) = 0 with
    B = 4 k^2 s^2 n beta and C = 2k s^2 G0^2 (when F0 + A T <= 0 the inequality
    holds trivially, but such T are below r too). The bound is floor(max(r, 0)) + 1.
    With the worst-case start F0 = -2k s R_0, G0 = sqrt(2k) R_0 it equals
    :func:`epoch_bound`.

    Numerics: in x = A T the quadratic reads x^2 - 2 P x - Q = 0 with
    P = B / (2A) - F0 and Q = C - F0^2 = (K G0 - F0)(K G0 + F0), K = sqrt(2k) s.
    So r = (P + sqrt(P^2 + Q)) / A, or Q / (sqrt(P^2 + Q) - P) / A when P < 0: no
    cancellation. In decimal arithmetic, like :func:`epoch_bound`.
    """
    check_finite("F0", F0)
    check_nonnegative("G0", G0)
    with _bound_arithmetic():
        a, beta = _step_terms(n=n, k=k, alpha=alpha, v=v, lr=lr, eps=eps, s=s, R_x=R_x)
        K = Decimal(2 * k).sqrt() * Decimal(s)
        F, G = Decimal(F0), Decimal(G0)
        if abs(F) > K * G * (1 + Decimal("1e-9")):
            raise ValueError(
                f"epoch_bound_instance: 'F0' = {F0!r} exceeds sqrt(2k) s G0 = {float(K * G)!r} "
                "(Cauchy–Schwarz); F0 and G0 must come from the same W0 and W*"
            )
        A = 2 * k * a
        P = k * Decimal(s) * (Decimal(s) / a) * n * beta - F  # B / (2A) - F0
        Q = max(K * G - F, Decimal(0)) * max(K * G + F, Decimal(0))  # clipped at 0 against rounding
        hypotenuse = (P * P + Q).sqrt()
        if P >= 0:
            x = P + hypotenuse
        else:
            x = Q / (hypotenuse - P) if hypotenuse - P > 0 else Decimal(0)
        return _epochs_from_horizon(max(x / A, Decimal(0)))


def teacher_stack(w_star: np.ndarray, k: int) -> np.ndarray:
    """W* (2k, d): w* in the k w-rows, -w* in the k u-rows; ||W*||_F = sqrt(2k) ||w*|| (THEORY.md §2)."""
    w_star = np.asarray(w_star, dtype=np.float64)
    if w_star.ndim != 1:
        raise ValueError(f"teacher_stack: 'w_star' must be a vector (d,), got shape {w_star.shape}")
    check_count("k", k)
    return np.vstack([np.tile(w_star, (k, 1)), np.tile(-w_star, (k, 1))])


def progress_measures(W: np.ndarray, W_star: np.ndarray) -> tuple[float, float]:
    """(F, G) = (<W, W*>, ||W||_F), the two quantities of the Theorem 4.1 proof (THEORY.md §2)."""
    W = np.asarray(W, dtype=np.float64)
    W_star = np.asarray(W_star, dtype=np.float64)
    if W.shape != W_star.shape:
        raise ValueError(f"progress_measures: 'W' has shape {W.shape} but 'W_star' has {W_star.shape}")
    return float(np.sum(W * W_star)), float(np.linalg.norm(W))


def lr_for_two_eps(*, n: int, k: int, v: float, eps: float, R_x: float) -> float:
    """eta = eps / (2 k n v^2 R_x^2): at or below it, E_conv(2 eps) <= E_bound(eps) (THEORY.md §2)."""
    check_count("n", n)
    check_count("k", k)
    for name, value in (("v", v), ("eps", eps), ("R_x", R_x)):
        check_positive(name, value)
    return eps / (2 * k * n * v * v * R_x * R_x)


def _step_terms(*, n: int, k: int, alpha: float, v: float, lr: float, eps: float,
                s: float, R_x: float) -> tuple[Decimal, Decimal]:
    """Validate the shared arguments; return a = alpha v lr (1 - e^{-eps}) and
    beta = c lr / k + (lr v R_x)^2 (THEORY.md §2) as decimals (in :func:`_bound_arithmetic`)."""
    check_count("n", n)
    check_count("k", k)
    check_alpha(alpha)
    for name, value in (("v", v), ("lr", lr), ("eps", eps), ("s", s), ("R_x", R_x)):
        check_positive(name, value)
    a = Decimal(alpha) * Decimal(v) * Decimal(lr) * _one_minus_exp_minus(Decimal(eps))
    step = Decimal(lr) * Decimal(v) * Decimal(R_x)
    beta = Decimal(LAMBERT_C) * Decimal(lr) / k + step * step
    return a, beta


def _one_minus_exp_minus(eps: Decimal) -> Decimal:
    """1 - e^{-eps} to full decimal precision, by its alternating series for small eps."""
    if eps >= Decimal("0.01"):
        return 1 - (-eps).exp()
    total, term, order = Decimal(0), eps, 1
    while abs(term) > abs(total) * Decimal(10) ** -(BOUND_DIGITS + 5) or order == 1:
        total += term
        order += 1
        term = -term * eps / order
    return total


def _bound_arithmetic() -> decimal.localcontext:
    """The decimal context of the bounds: BOUND_DIGITS digits, exponents within +-10^6."""
    return decimal.localcontext(decimal.Context(prec=BOUND_DIGITS, Emax=_EXPONENT_RANGE, Emin=-_EXPONENT_RANGE,
                                                traps=[decimal.InvalidOperation, decimal.DivisionByZero,
                                                       decimal.Overflow]))


class BoundOverflowError(ValueError):
    """The bound exists but exceeds the float range."""


def _epochs_from_horizon(t_max: Decimal) -> int:
    """floor(T) + 1 as a Python int; BoundOverflowError if T exceeds the float range."""
    if t_max > _FLOAT_MAX:
        raise BoundOverflowError(f"the epoch bound T_max = {t_max:.4E} exceeds the float range")
    return int(t_max.to_integral_value(rounding=decimal.ROUND_FLOOR)) + 1


def check_alpha(alpha: float) -> None:
    """alpha in (0, 1): the bounds need a Leaky ReLU (alpha = 0, ReLU, has none: BOUND.md §6)."""
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha < 1.0):
        raise ValueError(f"'alpha' must be in [0, 1), got {alpha!r}")
    if alpha == 0:
        raise ValueError("alpha = 0 (ReLU) has no epoch bound (THEORY.md §2, BOUND.md §6)")


def check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"'{name}' must be an integer >= 1, got {value!r}")


def check_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
        raise ValueError(f"'{name}' must be a finite number, got {value!r}")


def check_positive(name: str, value: float) -> None:
    check_finite(name, value)
    if value <= 0:
        raise ValueError(f"'{name}' must be > 0, got {value!r}")


def check_nonnegative(name: str, value: float) -> None:
    check_finite(name, value)
    if value < 0:
        raise ValueError(f"'{name}' must be >= 0, got {value!r}")
