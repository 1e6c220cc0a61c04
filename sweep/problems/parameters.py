"""A problem's run parameters: the frozen dataclass every problem's ``params`` subclasses,
how a field is declared (:func:`param`: its default and its meaning, written once), how
values are checked, and the error that names the field and the value.

Light by contract (the standard library only): a spec validates with this module and a
problem's ``params.py`` without loading any numerics (tests/test_spec_load.py).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from sweep.messages import did_you_mean, short_repr

DOC = "doc"  # the key of a field's meaning in its dataclass metadata


class ParamError(ValueError):
    """A run parameter has a wrong type or value; the message names the field and the value."""


def param(default: Any, doc: str) -> Any:
    """A parameter field with its default and its meaning: the one place a parameter is
    documented (``sweep problems NAME`` and the README's tables print ``doc``)."""
    return dataclasses.field(default=default, metadata={DOC: doc})


def require(condition: bool, name: str, value: Any, expected: str) -> None:
    """Raise ParamError "parameter 'name' must be <expected>, got <value>" unless ``condition``."""
    if not condition:
        raise ParamError(f"parameter {name!r} must be {expected}, got {short_repr(value)}")


def require_positive(params: Any, *names: str) -> None:
    """Each named field must be a finite number > 0."""
    for name in names:
        value = getattr(params, name)
        require(math.isfinite(value) and value > 0, name, value, "a finite number > 0")


def require_at_least(params: Any, minimum: int, *names: str) -> None:
    """Each named integer field must be >= minimum."""
    for name in names:
        require(getattr(params, name) >= minimum, name, getattr(params, name), f">= {minimum}")


def require_choice(params: Any, name: str, choices) -> None:
    """The named field must be one of ``choices``."""
    value = getattr(params, name)
    require(value in choices, name, value, f"one of {sorted(choices)}")


# The kinds of parameter values a spec may hold, by the annotation of the field.
KINDS: dict[str, Callable[[Any], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "tuple[float, ...]": lambda value: isinstance(value, (list, tuple)) and all(KINDS["float"](v) for v in value),
}


@dataclass(frozen=True)
class ProblemParams:
    """Base of a problem's run parameters: a frozen dataclass with defaults.

    Subclasses declare each field with one of the annotations of :data:`KINDS` and
    ``= param(default, "its meaning")``, and implement :meth:`validate` with names and
    numbers alone (no numerics: the spec validates every grid point with it).
    ``from_mapping`` checks names and types; ``validate`` checks values. Both raise
    :class:`ParamError` naming the field and the value.
    """

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dataclasses.asdict(cls())

    @classmethod
    def docs(cls) -> dict[str, str]:
        """Each field's meaning, as given to :func:`param` ("" where none was)."""
        return {f.name: f.metadata.get(DOC, "") for f in fields(cls)}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ProblemParams":
        """Build and validate from a mapping; unknown keys are an error (with a suggestion)."""
        known = cls.names()
        for key in values:
            if key not in known:
                raise ParamError(f"unknown parameter {short_repr(key)}{did_you_mean(key, known)}; "
                                 f"known parameters: {sorted(known)}")
        return cls.from_coerced({name: cls.coerce(name, value) for name, value in values.items()})

    @classmethod
    def from_coerced(cls, values: Mapping[str, Any]) -> "ProblemParams":
        """Build and validate from a mapping of known names to values already checked by
        :meth:`coerce` (a spec's: a grid point's parameters are built once per run)."""
        params = cls(**values)
        params.validate()
        return params

    @classmethod
    def coerce(cls, name: str, value: Any) -> Any:
        """Check the type of one field; ints are accepted where floats are expected.

        Numbers must fit their storage: an int in int64, a float in float64 (a 400-digit
        integer for a float field is refused, not turned into OverflowError), and a seed
        (a field named ``seed`` or ``*_seed``) in [0, 2**63), what NumPy's generators take.
        """
        kind = cls.kind(name)
        if not KINDS[kind](value):
            raise ParamError(f"parameter {name!r} must be of type {kind}, got {short_repr(value)} "
                             f"({type(value).__name__})")
        if kind == "int":
            if is_seed(name):
                require(0 <= value < 2**63, name, value, "a seed in [0, 2**63)")
            require(-(2**63) <= value < 2**63, name, value, "an integer that fits in 64 bits")
        if kind == "float":
            return _float(name, value)
        if kind == "tuple[float, ...]":
            return tuple(_float(name, v) for v in value)
        return value

    @classmethod
    def kind(cls, name: str) -> str:
        """The annotation of field ``name`` as text ("int", "tuple[float, ...]", ...)."""
        return _kinds(cls)[name]

    def replace(self, **changes: Any) -> "ProblemParams":
        return type(self).from_mapping({**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise ParamError naming the first field whose value is out of range."""


@functools.cache
def _kinds(cls: type) -> dict[str, str]:
    """Each field's annotation as text, once per class (a spec checks every grid point's fields)."""
    return {f.name: f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            for f in fields(cls)}


def is_seed(name: str) -> bool:
    """Whether field ``name`` is a random seed (``seed``, ``data_seed``, ...): in [0, 2**63)."""
    return name == "seed" or name.endswith("_seed")


def _float(name: str, value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ParamError(f"parameter {name!r} must be a number that fits in a 64-bit float, "
                         f"got {short_repr(value)}") from None
