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

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from kernels.jit import jit

_SHIFT = 6755399441055744.0           # 1.5 * 2^52: x + _SHIFT - _SHIFT rounds x to an integer
_LOG2E = 1.4426950408889634           # 1 / ln 2
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits (k * _LN2_HI is exact) ...
_LN2_LO = 1.90821492927058770002e-10  # ... and the rest
_P1, _P2, _P3 = 1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05
_P4, _P5 = -1.65339022054652515390e-06, 4.13813679705723846039e-08
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
    """e^x for x <= 0 within 1 ulp (fdlibm), 0.0 below -745.2, NaN for NaN.

    Not for x > 0 (the result is then wrong, not an error): callers pass -|z|.
    """
    clamped = x if x > _LOWEST else _LOWEST  # also maps NaN, handled at the end
    kf = (clamped * _LOG2E + _SHIFT) - _SHIFT  # the integer nearest x / ln 2, in [-1077, 0]
    hi = clamped - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    y = 1.0 - ((lo - quotient(r * c, 2.0 - c)) - hi)  # e^r, in [0.7, 1.42]
    k = int(kf)
    half = k >> 1  # 2^k as two normal factors, so that a subnormal result is rounded once
    result = (y * _power_of_two(half)) * _power_of_two(k - half)
    return result if x == x else x
