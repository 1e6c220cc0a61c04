"""The one place that sets how kernels are compiled (as numbagg's decorators module does).

Every kernel is compiled with :func:`jit`: Numba's ``njit`` with the GIL released
(``nogil``: Dask runs tasks in threads) and the on-disk cache on (``cache``: a new
process, e.g. a Dask worker, loads the machine code compiled by an earlier one instead
of compiling again; the cache lives in ``__pycache__`` beside each module, or under
``NUMBA_CACHE_DIR``). ``inline`` asks for a helper to be inlined into its callers.

    @jit                      # a kernel
    @jit(inline=True)         # a small helper, inlined where it is called

There is no fastmath option. A stored number must not depend on which process compiled
what, nor on the machine: with reassociation allowed, LLVM sums in an order of its own
choosing, which depends on the CPU's vector width and on whether a function is compiled
standalone or again inside a caller (issue 22: a cache written by Dask workers changed
the last bits of a run). Without fast-math flags LLVM keeps every operation as written,
so the code alone decides the numbers; sums that must vectorise say their order
explicitly (kernels.ordered_sums, the partial sums of kernels.sgd_loops.neuron_total,
runs as SIMD lanes in kernels.sgd_lanes). tests/test_kernel_cache.py checks that cached
and freshly compiled kernels, and kernels compiled by Dask workers, give the same bits.

Numba keys a function's cache on its own source file only, so a kernel would keep
running the cached code of a callee in another file after that file changed. Here the
cache of every kernel is keyed on all the sources of this package (:func:`package_stamp`):
editing any kernel file recompiles every kernel once. :func:`cache_is_cold` says whether
the next run compiles (`sweep run` says so before a first run).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba import njit
from numba.core import caching

OPTIONS = {"nogil": True, "cache": True}


def jit(function=None, *, inline: bool = False):
    """``numba.njit`` with the project's options (see the module docstring)."""
    options = dict(OPTIONS)
    if inline:
        options["inline"] = "always"
    compile_ = njit(**options)
    return compile_ if function is None else compile_(function)


KERNELS_DIR = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def package_stamp() -> bytes:
    """SHA-256 of every source file of the kernels package, in name order."""
    digest = hashlib.sha256()
    for path in sorted(KERNELS_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


class _PackageStamp:
    """A cache locator whose freshness stamp is the whole package's (see the module docstring)."""

    def get_source_stamp(self):
        return package_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != KERNELS_DIR:
            return None
        return super().from_function(py_func, py_file)


def cache_is_cold() -> bool:
    """Whether the disk cache holds no machine code of the package's current sources: no
    index file (``.nbi``, one per cached function: Numba's "Notes on Caching") in the
    kernels' cache directory written after the newest kernel source. Read from the files
    alone (Numba's index format is private). False when the cache lives elsewhere (no
    writable ``__pycache__`` and no ``NUMBA_CACHE_DIR``)."""
    for locator_class in (_UserProvidedKernelsLocator, _InTreeKernelsLocator):
        locator = locator_class.from_function(jit, __file__)
        if locator is not None:
            break
    else:
        return False
    newest_source = max(path.stat().st_mtime for path in KERNELS_DIR.glob("*.py"))
    indexes = Path(locator.get_cache_path()).glob("*.nbi")
    return not any(index.stat().st_mtime >= newest_source for index in indexes)


class _UserProvidedKernelsLocator(_PackageStamp, caching.UserProvidedCacheLocator):
    """Under ``NUMBA_CACHE_DIR``."""


class _InTreeKernelsLocator(_PackageStamp, caching.InTreeCacheLocator):
    """In ``__pycache__`` beside the kernel's module."""


caching.CacheImpl._locator_classes[:0] = [_UserProvidedKernelsLocator, _InTreeKernelsLocator]
