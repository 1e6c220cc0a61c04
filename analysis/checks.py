"""A report's checks of a problem's theory, and the two ways a check ends: made, or not
made and why.

A check is a THEOREM (a proved statement: a run against it means the implementation is
wrong, and `sweep report` exits 1) or an OBSERVATION (what a paper's figure shows
empirically: the share of runs on which it holds; a share below 1 is a finding, not an
error). One that could not be made says so and why (:func:`not_checked`); one that was
made (:func:`checked`) puts a broken theorem first, and loudly. A check that states
measured constants without a verdict is a :class:`Check` with ``holds`` None.
"""
from __future__ import annotations

from dataclasses import dataclass

THEOREM, OBSERVATION = "theorem", "observation"


@dataclass(frozen=True)
class Check:
    """A check over the runs of a store.

    ``title``: its report heading; ``markdown``: what it checked and found (or why it
    checked nothing); ``summary``: one line for the command line; ``holds``: True, False,
    or None when nothing could be checked or no verdict is possible; ``kind``: THEOREM or
    OBSERVATION (module docstring).
    """

    title: str
    markdown: str
    summary: str
    holds: bool | None
    kind: str = THEOREM


def not_checked(title: str, what: str, reason: str) -> Check:
    """A check that could not be made: "**Not checked** — <reason>." in the report,
    "<what>: not checked — <reason>" on the command line."""
    return Check(title, f"**Not checked** — {reason}.", f"{what}: not checked — {reason}", None)


def checked(title: str, text: str, line: str, holds: bool, kind: str = THEOREM) -> Check:
    """A check that was made: ``text`` in the report, ``line`` on the command line. A
    theorem that fails is headed "# WARNING: <line>" and its line starts with "WARNING:"."""
    if holds or kind == OBSERVATION:
        return Check(title, text, line, holds, kind)
    return Check(title, f"> # WARNING: {line}\n\n{text}", f"WARNING: {line}", False, kind)
