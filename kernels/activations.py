"""The Leaky-ReLU activation and its derivative with an explicit convention at 0.

sigma(z) = max(alpha z, z), 0 <= alpha < 1 (alpha = 0 is ReLU). A gradient method needs
sigma'(0), which the subgradient leaves open: ``slope_at_zero`` states it. THEORY.md §1
takes sigma'(0) = alpha (the Leaky-ReLU kernels' convention, "1 if z > 0 else alpha");
THEORY.md §6.1 needs relu'(0) = 1/2 (else projected GD never leaves w = 0).
"""
from __future__ import annotations

from kernels.jit import jit


@jit(inline=True)
def leaky_relu(z, alpha):
    """sigma(z) = z if z > 0 else alpha z."""
    return z if z > 0.0 else alpha * z


@jit(inline=True)
def leaky_relu_slope(z, alpha, slope_at_zero):
    """sigma'(z): 1 for z > 0, alpha for z < 0, ``slope_at_zero`` at z = 0."""
    if z > 0.0:
        return 1.0
    if z < 0.0:
        return alpha
    return slope_at_zero
