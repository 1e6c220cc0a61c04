"""The wording of one-line error messages, for every part of the engine: a value cut to a
readable length, and the close name a typo probably meant."""
from __future__ import annotations

import difflib
from typing import Any


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (error messages never embed huge values)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(key: Any, known) -> str:
    """" (did you mean 'width'?)" for a close known name, else ""."""
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
