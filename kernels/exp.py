"""e^x by arithmetic alone, so that loops calling it vectorise.

Numba lowers ``math.exp`` to a call into libm, which LLVM cannot vectorise (without
Intel's SVML, absent here): a loop over many runs would make one call per run. The SGD
kernels need e^x only for x <= 0 (the loss slope and the loss of a margin z use
e^{-|z|}), and :func:`exp_nonpositive` computes it with fdlibm's algorithm (Sun
Microsystems' e_exp.c: argument reduction by ln 2 in two parts, a degree-5 rational
remainder, error below 1 ulp) and a scaling by 2^k built from its bits. Every lane of a
vectorised loop, and a scalar call, gives the same result: a run's numbers do not depend
on how many runs a kernel call trains.
"""
from __future__ import annotations

import math

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from kernels.jit import jit

_SHIFT = 6755399441055744.0           # 1.5 * 2^52: x + _SHIFT - _SHIFT rounds x to an integer
_LOG2E = 1.4426950408889634           # 1 / ln 2
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits (k * _LN2_HI is exact) ...
_LN2_LO = 1.90821492927058770002e-10  # ... and the rest
_C2, _C3, _C4, _C5, _C6, _C7 = (1.0 / math.factorial(i) for i in range(2, 8))  # Taylor coefficients 1/i!
_C8, _C9, _C10, _C11, _C12, _C13 = (1.0 / math.factorial(i) for i in range(8, 14))
_LOWEST = -746.0  # e^x < 2^-1075 below: rounds to 0


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE 754 bits are the int64 ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def quotient(typingctx, a, b):
    """a / b for float64 a, b, IEEE (b = 0 gives inf or NaN): Numba's ``/`` checks for
    b = 0 to raise ZeroDivisionError, and that branch stops LLVM from vectorising loops."""
    if not (isinstance(a, types.Float) and isinstance(b, types.Float)):
        return None

    def codegen(context, builder, signature, args):
        left, right = (context.cast(builder, value, ty, types.float64) for value, ty in zip(args, signature.args))
        return builder.fdiv(left, right)

    return types.float64(a, b), codegen


@jit(inline=True)
def _power_of_two(k):
    """2.0 ** k for an integer -1022 <= k <= 1023."""
    return _float64_from_bits((k + 1023) << 52)


@jit(inline=True)
def exp_nonpositive(x):
    """e^x for x <= 0 within 1 ulp, 0.0 below -745.2, NaN for NaN.

    Not for x > 0 (the result is then wrong, not an error): callers pass -|z|.
    """
    clamped = x if x > _LOWEST else _LOWEST  # also maps NaN, handled at the end
    kf = (clamped * _LOG2E + _SHIFT) - _SHIFT  # the integer nearest x / ln 2, in [-1077, 0]
    r = (clamped - kf * _LN2_HI) - kf * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    low = (_C2 + _C3 * r) + (_C4 + _C5 * r) * r2
    middle = (_C6 + _C7 * r) + (_C8 + _C9 * r) * r2
    high = (_C10 + _C11 * r) + (_C12 + _C13 * r) * r2
    y = 1.0 + (r + r2 * ((low + middle * r4) + high * (r4 * r4)))  # e^r, in [0.7, 1.42]
    k = int(kf)
    half = k >> 1  # 2^k as two normal factors, so that a subnormal result is rounded once
    result = (y * _power_of_two(half)) * _power_of_two(k - half)
    return result if x == x else x
