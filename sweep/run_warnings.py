"""The warnings a run raises, collected by kind instead of printed.

A diverging run raises NumPy floating-point warnings by the thousand (overflow, invalid
value, divide by zero), and library code warns through :func:`warnings.warn` (NumPy's
"Mean of empty slice", SciPy's ill-conditioned solves): printed, they would land in the
progress bar from every worker. Inside :func:`collected_warnings` they are not printed;
their kinds are collected for the run, whose task counts them (``RunTally.warnings``)
and `sweep run` reports them in its summary.
"""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np

__all__ = ["collected_warnings"]

MAX_MESSAGE_CHARS = 80        # a Python warning's kind: its category and at most this much of its message

_this_thread = threading.local()     # .kinds: the set of the run this thread is in (None outside a run)
_install_lock = threading.Lock()
_shown_outside_runs = None           # warnings.showwarning as it was before _show_or_collect replaced it


@contextmanager
def collected_warnings() -> Iterator[set[str]]:
    """Inside, the warnings this thread raises are collected in the set yielded, by kind,
    instead of being shown.

    - A NumPy floating-point error that would warn (those set to "warn": by default divide
      by zero, overflow, invalid value) adds its kind ("overflow"). NumPy's error state is
      per thread and context, so runs in other threads keep their own.
    - A :func:`warnings.warn` that the filters would show adds "Category: message" (the
      first line, cut to MAX_MESSAGE_CHARS). It counts in every run that raises it: the
      registries of warnings already shown once per location are reset on entry. Warnings
      of other threads, and those the filters ignore or turn into errors, are untouched.
    """
    _show_through_collector()
    kinds: set[str] = set()
    outer, _this_thread.kinds = getattr(_this_thread, "kinds", None), kinds
    warnings.simplefilter("default", append=True)  # a no-op filter (the default action); resets the registries
    warned = {name: "call" for name, action in np.geterr().items() if action == "warn"}
    try:
        with np.errstate(**warned, call=lambda kind, flag: kinds.add(kind)):
            yield kinds
    finally:
        _this_thread.kinds = outer


def _show_through_collector() -> None:
    """Replace warnings.showwarning by one that collects a warning of a thread inside a
    run and shows the others as before (again if a ``warnings.catch_warnings`` block put
    another one back)."""
    global _shown_outside_runs
    with _install_lock:
        if warnings.showwarning is not _show_or_collect:
            _shown_outside_runs, warnings.showwarning = warnings.showwarning, _show_or_collect


def _show_or_collect(message, category, filename, lineno, file=None, line=None) -> None:
    kinds = getattr(_this_thread, "kinds", None)
    if kinds is None:
        _shown_outside_runs(message, category, filename, lineno, file, line)
        return
    text = str(message).splitlines()[0] if str(message) else ""
    kinds.add(f"{category.__name__}: {text[:MAX_MESSAGE_CHARS]}")
