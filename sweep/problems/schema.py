"""What a sweep of a problem stores: its variables and extra dims (the store's schema),
beside the engine's own variables that every store has."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from sweep.problems.results import STATUS, STATUS_NOT_RUN


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


Values = Callable[[str], tuple]  # every value a parameter takes in a sweep


# Variables every store has, whatever the problem: written by the engine.
ENGINE_VARIABLES = (
    Variable("status", "int8", STATUS_NOT_RUN, "1", "run status",
             attrs={"flag_values": [STATUS_NOT_RUN, *STATUS.values()],
                    "flag_meanings": " ".join(["not_run", *STATUS])}),
    Variable("wall_time", "float64", np.nan, "s", "wall time of the run"),
    Variable("error", "str", "", None, "error message of a failed run"),
    Variable("done", "bool", False, None, "the run's results are complete (written after them)"),
)
