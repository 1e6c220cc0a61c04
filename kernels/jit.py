"""The one place that sets how kernels are compiled (as numbagg's decorators module does).

Every kernel is compiled with :func:`jit`: Numba's ``njit`` with the GIL released
(``nogil``: Dask runs tasks in threads) and the on-disk cache on (``cache``: a new
process, e.g. a Dask worker, loads the machine code compiled by an earlier one instead
of compiling again; the cache lives in ``__pycache__`` beside each module, or under
``NUMBA_CACHE_DIR``). ``inline`` asks for a helper to be inlined into its callers;
``fastmath`` takes one of the flag sets below.

    @jit                      # a kernel
    @jit(inline=True)         # a small helper, inlined where it is called
    @jit(fastmath=REASSOCIATE)  # sums may be reassociated: only rounding changes

Cached code must compute what freshly compiled code computes, bit for bit, or a store
would depend on which process compiled first. A fastmath function's machine code
depends on where it is compiled: standalone, or re-optimised inside a caller's module,
where LLVM may reassociate its sums another way. A process that compiles calls the
standalone version (a callee is compiled, and its symbol defined, before its callers);
a process that loads callers from the disk cache would run the copies inside them. So
every fastmath function loads its own cached machine code as soon as it is defined
(:func:`_load_cached_overloads`), before any caller can be loaded, and the standalone
version is the one that runs in every process (tests/test_kernel_cache.py).

Numba keys a function's cache on its own source file only, so a kernel would keep
running the cached code of a callee in another file after that file changed. Here the
cache of every kernel is keyed on all the sources of this package (:func:`package_stamp`):
editing any kernel file recompiles every kernel once.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba import njit
from numba.core import caching

OPTIONS = {"nogil": True, "cache": True}
# Reassociated sums, fused multiply-adds and no signed zeros: vectorised loops whose
# results differ from the written order only by rounding.
REASSOCIATE = frozenset({"reassoc", "contract", "nsz"})
REASSOCIATE_SUMS = frozenset({"reassoc", "contract"})


def jit(function=None, *, inline: bool = False, fastmath: frozenset = frozenset()):
    """``numba.njit`` with the project's options (see the module docstring)."""
    options = dict(OPTIONS)
    if inline:
        options["inline"] = "always"
    if fastmath:
        options["fastmath"] = set(fastmath)
    compile_ = njit(**options)

    def decorate(python_function):
        dispatcher = compile_(python_function)
        if fastmath:
            _load_cached_overloads(dispatcher)
        return dispatcher

    return decorate if function is None else decorate(function)


def _load_cached_overloads(dispatcher) -> None:
    """Load every overload the disk cache holds for this source and machine (never compile).

    Uses Numba's cache index (``Cache._index_key`` and the index file): an entry counts
    only when its key equals the key this process would write for that signature.
    """
    cache = dispatcher._cache
    codegen = dispatcher.targetctx.codegen()
    for key in cache._cache_file._load_index():
        if cache._index_key(key[0], codegen) == key:
            dispatcher.compile(key[0])


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


class _UserProvidedKernelsLocator(_PackageStamp, caching.UserProvidedCacheLocator):
    """Under ``NUMBA_CACHE_DIR``."""


class _InTreeKernelsLocator(_PackageStamp, caching.InTreeCacheLocator):
    """In ``__pycache__`` beside the kernel's module."""


caching.CacheImpl._locator_classes[:0] = [_UserProvidedKernelsLocator, _InTreeKernelsLocator]
