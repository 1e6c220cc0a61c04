"""Matrix products for jitted code: BLAS GEMM with accumulation, on row-major arrays.

Numba's ``np.dot`` cannot accumulate into its output (C += A B), which the SGD epoch
with delayed updates needs; ``gemm`` calls the ?gemm of SciPy's BLAS (the library Numba's ``np.dot``
uses) through its Cython function pointers. ``BLAS_AS_WIDE_AS_NUMBA`` says whether that
BLAS runs SIMD kernels as wide as the code Numba compiles here.

The compiled code calls the BLAS functions by symbol name (registered with LLVM in
every process that imports this module), not by an address frozen into the code, so
that Numba's on-disk cache can keep every kernel that uses them (kernels/jit.py).
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np
import scipy
from llvmlite import binding, ir
from numba.core import cgutils, types
from numba.extending import get_cython_function_address, intrinsic

from kernels.jit import jit

_SYMBOLS = {"dgemm": "linear_teachers_scipy_dgemm", "sgemm": "linear_teachers_scipy_sgemm"}
for _name, _symbol in _SYMBOLS.items():
    binding.add_symbol(_symbol, get_cython_function_address("scipy.linalg.cython_blas", _name))


def _fortran_call(symbol: str):
    """An intrinsic calling ``void symbol(13 pointers)`` with the data pointers of 13 arrays
    (Fortran BLAS takes every argument by reference)."""

    @intrinsic
    def call(typingctx, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12):
        arguments = (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12)
        if not all(isinstance(argument, types.Array) for argument in arguments):
            return None

        def codegen(context, builder, signature, args):
            pointer = ir.IntType(8).as_pointer()
            function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [pointer] * 13),
                                                      symbol)
            data = [builder.bitcast(context.make_array(ty)(context, builder, value).data, pointer)
                    for ty, value in zip(signature.args, args)]
            builder.call(function, data)
            return context.get_dummy_value()

        return types.void(*arguments), codegen

    return call


_dgemm = _fortran_call(_SYMBOLS["dgemm"])
_sgemm = _fortran_call(_SYMBOLS["sgemm"])

# Read-only arguments, frozen into the compiled code: the transpose flags and alpha, beta.
_FLAGS = np.array([ord("N"), ord("T")], dtype=np.uint8)
_SCALARS_64 = np.array([1.0, 0.0, 1.0])  # alpha = 1, then beta = 0 at [1] or 1 at [2]
_SCALARS_32 = _SCALARS_64.astype(np.float32)


@jit
def gemm(A, B, C, trans_a, trans_b, accumulate, dims):
    """C = op(A) op(B), or C += op(A) op(B) when ``accumulate``; op transposes when asked.

    A, B, C: 2-D arrays of one dtype (float64 or float32) with unit stride along rows
    (slices of rows and leading blocks are fine). dims: an int32 work array of 6, for
    the dimensions BLAS takes by reference. Shapes are not checked: they must conform.
    """
    m, n = C.shape
    inner = A.shape[0] if trans_a else A.shape[1]
    size = C.itemsize
    # Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, where each
    # row-major array is already its transpose in column-major order.
    dims[0], dims[1], dims[2] = n, m, inner
    dims[3], dims[4], dims[5] = B.strides[0] // size, A.strides[0] // size, C.strides[0] // size
    flag_b = _FLAGS[1:] if trans_b else _FLAGS
    flag_a = _FLAGS[1:] if trans_a else _FLAGS
    beta_at = 2 if accumulate else 1
    if size == 8:
        _dgemm(flag_b, flag_a, dims, dims[1:], dims[2:], _SCALARS_64, B, dims[3:], A, dims[4:],
               _SCALARS_64[beta_at:], C, dims[5:])
    else:
        _sgemm(flag_b, flag_a, dims, dims[1:], dims[2:], _SCALARS_32, B, dims[3:], A, dims[4:],
               _SCALARS_32[beta_at:], C, dims[5:])


# OpenBLAS core types that run AVX-512 kernels.
_AVX512_OPENBLAS_CORES = {"SkylakeX", "Cooperlake", "SapphireRapids"}


def openblas_core() -> str | None:
    """The core type SciPy's bundled OpenBLAS chose (e.g. "Haswell"), or None if SciPy
    uses another BLAS."""
    libs = os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs")
    for path in glob.glob(os.path.join(libs, "libscipy_openblas*.so*")):
        corename = ctypes.CDLL(path).scipy_openblas_get_corename
        corename.restype = ctypes.c_char_p
        return corename().decode()
    return None


def _blas_as_wide_as_numba() -> bool:
    """False when Numba emits AVX-512 but OpenBLAS runs narrower kernels: on Zen 5 this
    machine image sets OPENBLAS_CORETYPE=Haswell, and a matrix product runs slower than
    with the AVX-512 kernels (benchmarks/README.md). True when the BLAS is unknown."""
    core = openblas_core()
    numba_avx512 = binding.get_host_cpu_features().get("avx512f", False)
    return core is None or not numba_avx512 or core in _AVX512_OPENBLAS_CORES


BLAS_AS_WIDE_AS_NUMBA = _blas_as_wide_as_numba()
