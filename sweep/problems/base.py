"""What a problem declares, and what the engine needs from it.

A *problem* is one teacher–student setting (THEORY.md §1-4 and §6.1-6.3): its run
parameters, how one run goes, what a run records, the theory a run is held against and
the report sections and figures that make sense for it. The engine (spec, tasks, Dask,
store, CLI) knows no problem by name: it asks the registry (:mod:`sweep.problems`) for a
:class:`Problem` and uses only what is declared here.

This module is light (NumPy only): the spec and the store import it without Numba.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

# Run statuses, the same for every problem (CF flag_values / flag_meanings of ``status``).
STATUS = {"done": 0, "diverged": 1, "max_epochs": 2, "failed": 3}
STATUS_NOT_RUN = -1
STATUS_MEANINGS = {
    "done": "the run reached what it set out to reach",
    "diverged": "the iterates or the loss blew up; the run's numbers are recorded as they are",
    "max_epochs": "stopped at its budget (epochs, steps or iterations) before reaching it",
    "failed": "the run raised; `error` holds the message",
}


class ParamError(ValueError):
    """A run parameter has a wrong type or value; the message names the field and the value."""


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (error messages never embed huge values)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
_KINDS: dict[str, Callable[[Any], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "tuple[float, ...]": lambda value: isinstance(value, (list, tuple)) and all(_KINDS["float"](v) for v in value),
}


@dataclass(frozen=True)
class ProblemParams:
    """Base of a problem's run parameters: a frozen dataclass with defaults.

    Subclasses declare their fields with one of the annotations ``str``, ``int``,
    ``float``, ``bool`` or ``tuple[float, ...]`` and a default, a comment per field (the
    README table is built from ``FIELD_DOCS``), and implement :meth:`validate`.
    ``from_mapping`` checks names and types; ``validate`` checks values. Both raise
    :class:`ParamError` naming the field and the value.
    """

    FIELD_DOCS: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dataclasses.asdict(cls())

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ProblemParams":
        """Build and validate from a mapping; unknown keys are an error (with a suggestion)."""
        known = cls.names()
        for key in values:
            if key not in known:
                raise ParamError(f"unknown parameter {short_repr(key)}{did_you_mean(key, known)}; "
                                 f"known parameters: {sorted(known)}")
        params = cls(**{name: cls.coerce(name, value) for name, value in values.items()})
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
        if not _KINDS[kind](value):
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
        annotation = {f.name: f.type for f in fields(cls)}[name]
        return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))

    def replace(self, **changes: Any) -> "ProblemParams":
        return type(self).from_mapping({**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise ParamError naming the first field whose value is out of range."""


def is_seed(name: str) -> bool:
    """Whether field ``name`` is a random seed (``seed``, ``data_seed``, ...): in [0, 2**63)."""
    return name == "seed" or name.endswith("_seed")


def _float(name: str, value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ParamError(f"parameter {name!r} must be a number that fits in a 64-bit float, "
                         f"got {short_repr(value)}") from None


def did_you_mean(key: Any, known) -> str:
    """" (did you mean 'width'?)" for a close known name, else ""."""
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Variable:
    """One stored variable: on the grid dims, then ``dims`` (declared extra dims).

    ``dtype`` is a NumPy dtype name, or "str"; ``fill`` is what an unwritten entry reads
    as (NaN, -1, "" or False), never a value a run can produce.
    """

    name: str
    dtype: str
    fill: Any
    units: str | None  # None: no units attribute (flags, text)
    long_name: str
    dims: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def all_attrs(self) -> dict[str, Any]:
        units = {} if self.units is None else {"units": self.units}
        return {**units, "long_name": self.long_name, **self.attrs}


@dataclass(frozen=True)
class Dim:
    """A dim that is not a grid dim (e.g. ``epoch``): its size and, optionally, its
    coordinate values (an int64 or float64 array) with their attributes."""

    name: str
    size: int
    values: np.ndarray | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """What a sweep of a problem stores: its extra dims and its variables (the schema)."""

    dims: tuple[Dim, ...]
    variables: tuple[Variable, ...]


# Variables every store has, whatever the problem: written by the engine.
ENGINE_VARIABLES = (
    Variable("status", "int8", STATUS_NOT_RUN, "1", "run status",
             attrs={"flag_values": [STATUS_NOT_RUN, *STATUS.values()],
                    "flag_meanings": " ".join(["not_run", *STATUS])}),
    Variable("wall_time", "float64", np.nan, "s", "wall time of the run"),
    Variable("error", "str", "", None, "error message of a failed run"),
    Variable("done", "bool", False, None, "the run's results are complete (written after them)"),
)


@dataclass
class RunResult:
    """What one run returns: its status (a key of STATUS) and a value per variable.

    A scalar variable gets a scalar; a variable with extra dims gets an array whose
    shape may be smaller than those dims (the rest stays fill), e.g. a curve cut at the
    run's last epoch or a weight matrix of a narrower network than the widest.
    """

    status: str
    values: dict[str, Any]


Values = Callable[[str], tuple]  # every value a parameter takes in a sweep


@dataclass(frozen=True)
class Problem:
    """A teacher–student setting, as the engine sees it.

    - ``params``: its ProblemParams subclass (defaults, types, validation).
    - ``layout(values)``: the extra dims and the variables of a sweep, given
      ``values(name)``, every value a parameter takes in it (e.g. the ``epoch`` dim
      covers the longest run). The single declaration of what is stored.
    - ``run``: "module:function" of ``run(params) -> RunResult``, imported where it runs
      (so that declaring a problem imports no kernels).
    - ``run_seconds(params)``: an estimate of one run's wall time (task sizing).
    - ``run_many`` (optional): "module:function" of ``run_many(list of params) -> list of
      RunResult`` (in that order), for runs with equal ``batch_key(params)``: the engine
      then trains each such group of a task in one call (e.g. many small networks per
      kernel call). Each result must equal what ``run`` returns for its params, whatever
      the group.
    - ``report``: "module" with ``sections(ds) -> list[str]`` (markdown) and ``FIGURES``
      (each ``figure(ds, out_dir) -> list[Path]``), or None.
    - ``presets``: the names (files in presets/) that reproduce its paper's figures.
    """

    name: str
    summary: str
    theory: str
    params: type
    layout: Callable[[Values], Layout]
    run: str
    run_seconds: Callable[[Any], float]
    report: str | None = None
    presets: tuple[str, ...] = ()
    run_many: str | None = None
    batch_key: Callable[[Any], Any] | None = None

    def runner(self) -> Callable[[Any], RunResult]:
        """The run function (imports the problem's numerics on first use)."""
        return _imported(self.run)

    def many_runner(self) -> Callable[[list], list] | None:
        """The batched run function, or None when the problem has none."""
        return _imported(self.run_many) if self.run_many else None

    def report_module(self):
        """The module with ``sections`` and ``FIGURES``, or None."""
        return importlib.import_module(self.report) if self.report else None


def _imported(path: str) -> Callable:
    """The function at "module:function"."""
    module, function = path.split(":")
    return getattr(importlib.import_module(module), function)
