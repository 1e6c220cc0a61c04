"""A sweep spec: a problem, fixed run parameters and a grid of swept ones, read from YAML.

::

    name: demo
    problem: separable                                             # default: separable
    params: {dataset: linear_teacher, n: 200, max_epochs: 2000}   # fixed values
    grid:                                                          # swept values; the
      seed: [0, 1, 2, 3]                                           # store's dims, in
      width: [4, 16, 64]                                           # this order

Every field of the problem's parameters (its ``Problem.params`` class, see
:mod:`sweep.problems`) may stand in ``params`` or in ``grid`` (not both); fields in
neither take their defaults. :func:`load_spec` and :func:`parse_spec` validate
everything, every grid point included, and raise :class:`SpecError` naming the
offending key and value before any work starts.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from sweep.problems import DEFAULT_PROBLEM, get_problem
from sweep.problems.base import ParamError, Problem, ProblemParams, did_you_mean, short_repr

TOP_LEVEL_KEYS = ("name", "description", "problem", "params", "grid")
FULL_VALIDATION_LIMIT = 100_000  # grids up to this many points have every point validated


class SpecError(ValueError):
    """A sweep spec is malformed; the message names the key and the value."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep of ``problem``: ``fixed`` holds every parameter not in ``grid``
    (defaults filled in); ``grid`` maps each swept parameter, in dim order, to its values."""

    name: str
    description: str
    problem: Problem
    fixed: dict[str, Any]
    grid: dict[str, tuple[Any, ...]]

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.grid)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(values) for values in self.grid.values())

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def params_at(self, index: tuple[int, ...]) -> ProblemParams:
        """The run parameters of the grid point with this index (one int per dim)."""
        swept = {key: values[i] for (key, values), i in zip(self.grid.items(), index)}
        return self.problem.params.from_mapping({**self.fixed, **swept})

    def all_values(self, name: str) -> tuple[Any, ...]:
        """Every value ``name`` takes in the sweep (one value if it is fixed)."""
        return self.grid[name] if name in self.grid else (self.fixed[name],)

    def normalised(self) -> dict[str, Any]:
        """The JSON-ready form: the problem, full fixed parameters (sorted) and the grid in dim order."""
        return {
            "name": self.name,
            "description": self.description,
            "problem": self.problem.name,
            "params": dict(sorted(self.fixed.items())),
            "grid": [[key, list(values)] for key, values in self.grid.items()],
        }

    @property
    def hash(self) -> str:
        """SHA-256 of the stable JSON of :meth:`normalised`: the identity of a sweep."""
        text = json.dumps(self.normalised(), sort_keys=False, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a YAML spec file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SpecError(f"cannot read spec file {str(path)!r}: {error.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_SpecLoader)
    except yaml.YAMLError as error:
        raise SpecError(f"spec file {str(path)!r} is not valid YAML: {error}") from None
    return parse_spec(raw)


def parse_spec(raw: Any) -> SweepSpec:
    """Validate a spec given as a mapping (as read from YAML) and normalise it."""
    _require(isinstance(raw, Mapping), "spec", raw, "a mapping with keys " + ", ".join(TOP_LEVEL_KEYS))
    for key in raw:
        _require(key in TOP_LEVEL_KEYS, key, raw[key], f"a known top-level key (one of {list(TOP_LEVEL_KEYS)})")
    name = raw.get("name")
    _require(isinstance(name, str) and name.strip() != "", "name", name, "a non-empty string")
    description = raw.get("description", "")
    _require(isinstance(description, str), "description", description, "a string")
    try:
        problem = get_problem(raw.get("problem", DEFAULT_PROBLEM))
    except ParamError as error:
        raise SpecError(f"spec key 'problem': {error}") from None
    params = _section(raw, "params", problem)
    grid = _section(raw, "grid", problem)
    _require(len(grid) > 0, "grid", grid, "a mapping with at least one swept parameter")

    fixed = {key: _parameter_value(problem, f"params.{key}", key, value) for key, value in params.items()}
    swept = {key: _grid_values(problem, key, values) for key, values in grid.items()}
    for key in swept:
        _require(key not in fixed, key, grid[key], "in only one of 'params' and 'grid'")
    defaults = problem.params.defaults()
    spec = SweepSpec(
        name=name,
        description=description,
        problem=problem,
        fixed={key: fixed.get(key, defaults[key]) for key in problem.params.names() if key not in swept},
        grid=swept,
    )
    _validate_points(spec)
    return spec


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does."""


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _section(raw: Mapping[str, Any], section: str, problem: Problem) -> Mapping[str, Any]:
    """``params`` or ``grid``: a mapping of the problem's parameter names (absent = empty)."""
    value = raw.get(section) or {}
    _require(isinstance(value, Mapping), section, value, "a mapping of parameter names to values")
    names = problem.params.names()
    for key in value:
        _require(key in names, f"{section}.{key}", value[key],
                 f"a parameter of problem {problem.name!r}{did_you_mean(key, names)} (one of {list(names)})")
    return value


def _parameter_value(problem: Problem, where: str, key: str, value: Any) -> Any:
    """One value of parameter ``key``, type-checked and coerced by the problem's params class
    and range-checked on the defaults of the others (a problem whose checks tie fields
    together has them checked again at every grid point, :func:`_validate_points`)."""
    try:
        return problem.params.coerce(key, value)
    except ParamError as error:
        raise SpecError(f"spec {where} = {short_repr(value)}: {error}") from None


def _grid_values(problem: Problem, key: str, values: Any) -> tuple[Any, ...]:
    """The list of values of one swept parameter: non-empty, scalars, no duplicates."""
    where = f"grid.{key}"
    _require(isinstance(values, list), where, values, "a list of values")
    _require(len(values) > 0, where, values, "a non-empty list")
    coerced = tuple(_parameter_value(problem, where, key, value) for value in values)
    for i, value in enumerate(coerced):
        _require(value not in coerced[:i], where, values, f"a list without duplicates ({value!r} repeats)")
    return coerced


def _validate_points(spec: SweepSpec) -> None:
    """Build the run parameters of every grid point (or, for huge grids, of every grid
    value combined with the fixed parameters and the first value of every other dim)."""
    if spec.size <= FULL_VALIDATION_LIMIT:
        points: Iterator[tuple[int, ...]] = itertools.product(*(range(n) for n in spec.shape))
    else:
        points = (tuple(i if dim == axis else 0 for dim in range(len(spec.shape)))
                  for axis, n in enumerate(spec.shape) for i in range(n))
    for index in points:
        try:
            spec.params_at(index)
        except ParamError as error:
            raise SpecError(f"spec {_where(spec, str(error))}: {error}") from None


def _where(spec: SweepSpec, message: str) -> str:
    """The spec section holding the parameter a ParamError message names."""
    match = re.search(r"parameter '(\w+)'", message)
    key = match.group(1) if match else "params"
    return f"grid.{key}" if key in spec.grid else f"params.{key}"


def _require(condition: bool, key: str, value: Any, expected: str) -> None:
    if not condition:
        raise SpecError(f"spec key {key!r} must be {expected}, got {short_repr(value)}")
