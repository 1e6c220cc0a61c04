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
    decorate = njit(**options)
    return decorate if function is None else decorate(function)
