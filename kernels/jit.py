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
"""
from __future__ import annotations

from numba import njit

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
