"""Losses of a prediction f against a label y, and the derivatives gradient methods need.

Picked by name from :data:`LOSSES` (a code the kernels branch on):

- ``logistic`` (THEORY.md §1): labels y in {+1, -1}, l = log(1 + e^{-z}) on the margin
  z = y f, computed stably (:func:`softplus_neg`; never exp of a large positive number);
  -dl/dz = :func:`neg_loss_slope`, in (0, 1) (:func:`neg_loss_slope_vectorisable` for
  loops that must vectorise: SGD).
- ``squared`` (THEORY.md §6): real labels, l = (f - y)^2 / 2, dl/df = f - y. (§6.1 writes
  its loss without the 1/2: its kernels double the step accordingly.)
"""
from __future__ import annotations

import math

from kernels.exp import exp_nonpositive, quotient
from kernels.jit import jit

LOGISTIC, SQUARED = 0, 1
LOSSES = {"logistic": LOGISTIC, "squared": SQUARED}
BINARY_LABELS = {"logistic"}  # losses whose labels must be +1 or -1


@jit(inline=True)
def softplus_neg(z):
    """l(z) = log(1 + e^{-z}) without overflow (THEORY.md §1)."""
    if z > 0.0:
        return math.log1p(math.exp(-z))
    return -z + math.log1p(math.exp(z))


@jit(inline=True)
def neg_loss_slope(z):
    """g = -l'(z) = 1 / (1 + e^z), in (0, 1), without overflow (THEORY.md §1)."""
    if z >= 0.0:
        e = math.exp(-z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(z))


@jit(inline=True)
def neg_loss_slope_vectorisable(z):
    """:func:`neg_loss_slope` by arithmetic alone (kernels.exp), so that a loop over
    runs vectorises and each run's slope is the same in any lane: the SGD kernels' slope.
    Within 1 ulp of e^{-|z|} before the one division."""
    e = exp_nonpositive(-abs(z))
    return quotient(e if z >= 0.0 else 1.0, 1.0 + e)


def loss_code(name: str) -> int:
    """The code of loss ``name``; ValueError naming the known losses otherwise."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]
