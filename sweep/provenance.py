"""What a store records of the machine that wrote it, beside the versions of its code:
the OpenBLAS kernels that computed its BLAS products (``blas_kernels``, a root attribute).

The same kernels compute the same bits (THEORY.md's numbers pass through BLAS in the loss
passes and the SVM solver); other kernels (another CPU, another ``OPENBLAS_CORETYPE``)
sum in another order and change the last bits of those values. :mod:`sweep.replay`
compares a replayed run bit for bit only where this process runs the store's kernels.
"""
from __future__ import annotations


def blas_kernels() -> list[str]:
    """The OpenBLAS kernels of this process's BLAS libraries (``OPENBLAS_CORETYPE`` or the
    CPU picks them), e.g. ["Haswell", "Haswell"]: NumPy's and SciPy's (which Numba's
    ``np.dot`` calls), sorted."""
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS)
    import scipy.linalg  # noqa: F401  (and SciPy's)
    from threadpoolctl import threadpool_info

    return sorted(str(info.get("architecture")) for info in threadpool_info() if info["internal_api"] == "openblas")
