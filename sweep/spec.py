"""A sweep spec: a problem, fixed run parameters and a grid of swept ones, read from YAML.

::

    name: demo
    problem: separable                                             # default: DEFAULT_PROBLEM
    params: {dataset: linear_teacher, n: 200, max_epochs: 2000}   # fixed values
    grid:                                                          # swept values; the
      seed: [0, 1, 2, 3]                                           # store's dims, in
      width: [4, 16, 64]                                           # this order

Every field of the problem's parameters (its ``Problem.params`` class, see
:mod:`sweep.problems`) may stand in ``params`` or in ``grid`` (not both); fields in
neither take their defaults. :func:`load_spec` and :func:`parse_spec` validate
everything, every grid point included, and raise :class:`SpecError` naming the
offending key and value before any work starts.

Input is bounded: a spec file of at most MAX_SPEC_BYTES, at most MAX_SPEC_NODES YAML
nodes with every alias expanded (a "billion laughs" file is refused before it is
built), no key twice in a mapping, and a grid of at most ``max_runs`` runs (default
MAX_GRID_RUNS), checked before any value is converted. Messages show values cut to 80
characters.

A sweep's identity (:attr:`SweepSpec.hash`) is its computation: the problem, every
parameter and the grid. ``name`` and ``description`` are labels: changing them does
not make another sweep.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from sweep.files import FileTooLarge, read_bounded
from sweep.problems import DEFAULT_PROBLEM, get_problem
from sweep.messages import did_you_mean, short_repr
from sweep.problems.contract import Problem
from sweep.problems.parameters import ParamError, ProblemParams

TOP_LEVEL_KEYS = ("name", "description", "problem", "params", "grid")
IDENTITY_KEYS = ("problem", "params", "grid")  # the part of normalised() that is the computation
FULL_VALIDATION_LIMIT = 100_000  # grids up to this many points have every point validated
MAX_SPEC_BYTES = 2**20           # a spec file larger than this is refused unread
MAX_SPEC_NODES = 1_000_000       # YAML nodes, every alias expanded (bounds what parsing may build)
MAX_GRID_RUNS = 10**7            # default limit on the runs of one sweep (--max-runs)


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
        return self.problem.params.from_coerced({**self._coerced_fixed, **swept})

    @functools.cached_property
    def _coerced_fixed(self) -> dict[str, Any]:
        """``fixed`` through the params' ``coerce`` (the grid's values went through it when
        parsed; the defaults among ``fixed`` did not), so that a run's params are built
        without checking every field again."""
        return {key: self.problem.params.coerce(key, value) for key, value in self.fixed.items()}

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
        """SHA-256 of the stable JSON of the IDENTITY_KEYS of :meth:`normalised` (problem,
        parameters, grid): the identity of a sweep. Name and description are not part of it."""
        identity = {key: value for key, value in self.normalised().items() if key in IDENTITY_KEYS}
        text = json.dumps(identity, sort_keys=False, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()


def spec_from_normalised(normalised: Mapping[str, Any], *, every_point: bool = True) -> SweepSpec:
    """The spec whose :meth:`SweepSpec.normalised` form (as a store keeps it) this is,
    parameters added to the problem since at their defaults. SpecError if the code no
    longer accepts it (``every_point=False``: no run's parameters built, each value checked
    alone: what reading a store for analysis needs, its `sweep run` checked them all)."""
    return parse_spec({key: dict(value) if key == "grid" else value for key, value in normalised.items()},
                      every_point=every_point)


def load_spec(path: str | Path, *, max_runs: int = MAX_GRID_RUNS) -> SweepSpec:
    """Read and validate a YAML spec file (UTF-8, at most MAX_SPEC_BYTES)."""
    path = Path(path)
    try:
        data = read_bounded(path, MAX_SPEC_BYTES)
    except FileTooLarge:
        raise SpecError(f"spec file {str(path)!r} is larger than {MAX_SPEC_BYTES} bytes; a spec lists values, "
                        "it does not need to be this big") from None
    except OSError as error:
        raise SpecError(f"cannot read spec file {str(path)!r}: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"spec file {str(path)!r} is not UTF-8 text (byte {data[error.start]:#04x} at offset "
                        f"{error.start})") from None
    return parse_spec(read_yaml(text, f"spec file {str(path)!r}"), max_runs=max_runs)


def read_yaml(text: str, what: str) -> Any:
    """The YAML document in ``text``, built only if it has at most MAX_SPEC_NODES nodes with
    every alias expanded; a key given twice in a mapping is an error. SpecError naming
    ``what`` otherwise, in one line (a syntax error or a control character says where)."""
    try:
        loader = _SpecLoader(text)  # refuses control characters already
    except yaml.YAMLError as error:
        raise SpecError(f"{what} is not valid YAML: {_yaml_problem(error, text)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        nodes = _expanded_size(node)
        if nodes > MAX_SPEC_NODES:
            raise SpecError(f"{what} expands to more than {MAX_SPEC_NODES} YAML values (through its aliases); "
                            "refusing to build it")
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise SpecError(f"{what} is not valid YAML: {_yaml_problem(error, text)}") from None
    except RecursionError:
        raise SpecError(f"{what} nests its values too deeply") from None
    finally:
        loader.dispose()


def parse_spec(raw: Any, *, max_runs: int = MAX_GRID_RUNS, every_point: bool = True) -> SweepSpec:
    """Validate a spec given as a mapping (as read from YAML) and normalise it.

    A grid of more than ``max_runs`` runs is refused before any of its values is converted.
    ``every_point=False`` checks each value alone, not the run parameters of any grid
    point (:func:`_validate_points`).
    """
    _require(isinstance(raw, Mapping), "spec", raw, "a mapping with keys " + ", ".join(TOP_LEVEL_KEYS))
    for key in raw:
        _require(key in TOP_LEVEL_KEYS, key, raw[key],
                 f"a known top-level key{did_you_mean(key, TOP_LEVEL_KEYS)} (one of {list(TOP_LEVEL_KEYS)})")
    name = raw.get("name")
    _require(isinstance(name, str) and name.strip() != "", "name", name, "a non-empty string")
    description = raw.get("description", "")
    _require(isinstance(description, str), "description", description, "a string")
    for key, value in raw.items():
        _require_storable_text(key, value)
    try:
        problem = get_problem(raw.get("problem", DEFAULT_PROBLEM))
    except ParamError as error:
        raise SpecError(f"spec key 'problem': {error}") from None
    params = _section(raw, "params", problem)
    grid = _section(raw, "grid", problem)
    _require(len(grid) > 0, "grid", grid, "a mapping with at least one swept parameter")
    for key, values in grid.items():
        _require(isinstance(values, list), f"grid.{key}", values, "a list of values")
    runs = math.prod(len(values) for values in grid.values())
    if runs > max_runs:
        raise SpecError(f"spec key 'grid' makes {runs:,} runs ({' x '.join(str(len(v)) for v in grid.values())}), "
                        f"more than the limit of {max_runs:,} (--max-runs)")

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
    if every_point:
        _validate_points(spec)
    return spec


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does, and
    refuses a key given twice in one mapping (YAML forbids it; PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                except TypeError:  # unhashable: SafeLoader says so below
                    continue
                if repeated:
                    raise SpecError(f"spec key {short_repr(key)} is given twice in one mapping "
                                    f"(line {key_node.start_mark.line + 1}); give each key once")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> int:
    """The number of nodes of the document with every alias expanded (a recursive alias
    counts as more than MAX_SPEC_NODES). Iterative, memoised per node: linear in the
    nodes as written."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = ([item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value))
        if children_done:
            on_path.discard(id(node))
            sizes[id(node)] = min(1 + sum(sizes[id(child)] for child in children), MAX_SPEC_NODES + 1)
            continue
        if id(node) in on_path:
            return MAX_SPEC_NODES + 1  # recursive: infinite when expanded
        on_path.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                return MAX_SPEC_NODES + 1
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _yaml_problem(error: yaml.YAMLError, text: str) -> str:
    """What PyYAML found wrong, and where, in one line (its own message spans several,
    with the offending line quoted)."""
    if isinstance(error, yaml.reader.ReaderError):
        character = error.character if isinstance(error.character, int) else ord(error.character)
        return (f"character U+{character:04X} at {_line_column(text, error.position)}: YAML allows no control "
                "characters (other than tab and newline)")
    if isinstance(error, yaml.MarkedYAMLError):
        parts = [(error.problem, error.problem_mark), (error.context and error.context.strip(), error.context_mark)]
        return _cut("; ".join(f"{what}{_at(mark)}" for what, mark in parts if what), 300)
    return _cut(" ".join(str(error).split()), 300)


def _at(mark: yaml.Mark | None) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _line_column(text: str, position: int) -> str:
    line, line_start = text.count("\n", 0, position) + 1, text.rfind("\n", 0, position) + 1
    return f"line {line}, column {position - line_start + 1}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _section(raw: Mapping[str, Any], section: str, problem: Problem) -> Mapping[str, Any]:
    """``params`` or ``grid``: a mapping of the problem's parameter names (absent = empty)."""
    value = raw.get(section)
    value = {} if value is None else value
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
    _require(len(values) > 0, where, values, "a non-empty list")
    _require(not problem.params.kind(key).startswith("tuple"), where, values,
             "a fixed parameter (a list-valued parameter cannot be a grid dim; give it in 'params')")
    coerced = tuple(_parameter_value(problem, where, key, value) for value in values)
    seen: set = set()
    for value in coerced:  # a set: linear in the values (an axis may have 10**5 of them)
        _require(value not in seen, where, values, f"a list without duplicates ({short_repr(value)} repeats)")
        seen.add(value)
    return coerced


def _require_storable_text(where: str, value: Any) -> None:
    """SpecError unless every string in ``value`` (keys and items of mappings and lists,
    walked iteratively) can be written as UTF-8: a lone surrogate such as "\\ud800" (a
    YAML escape can make one) would break the store's files and the report."""
    stack = [(where, value)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                raise SpecError(f"spec key {where!r} must be text UTF-8 can encode, got {short_repr(value)} (a lone "
                                f"surrogate at character {error.start})") from None
        elif isinstance(value, Mapping):
            stack.extend((f"{where}.{key}", item) for key, item in value.items())
            stack.extend((where, key) for key in value)
        elif isinstance(value, list):
            stack.extend((where, item) for item in value)


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
