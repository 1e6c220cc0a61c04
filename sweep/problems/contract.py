"""What a problem declares, and the checks that hold a declaration to it when it is made.

A *problem* is one teacher–student setting (THEORY.md §1-4 and §6.1-6.3): its run
parameters, how one run goes, what a run records, the theory a run is held against and
the report sections and figures that make sense for it. The engine (spec, tasks, Dask,
store, CLI) knows no problem by name: it asks the registry (:mod:`sweep.problems`) for a
:class:`Problem` and uses only what is declared here.

A declaration checks itself when it is made (:meth:`Problem.__post_init__`), without
importing the problem's numerics: its import strings name a module that exists and a
function defined at its top level (read from the source), its report module defines every
name of :data:`REPORT_PROTOCOL`, ``run_many`` comes with ``batch_key``, and its parameters
are a :class:`~sweep.problems.parameters.ProblemParams` whose fields all have a default and
a supported kind. A broken one raises :class:`DeclarationError`, one line naming the field.
:func:`sweep.check.check_problem` goes further (imports, runs and reports a small sweep).

This module is light (the standard library only): the spec imports it without Numba.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import keyword
from dataclasses import dataclass
from typing import Any, Callable

from sweep.problems.parameters import KINDS, ProblemParams
from sweep.problems.results import RunResult
from sweep.problems.schema import Layout, Values

# The report protocol: what `sweep report` (sweep/report.py) takes from ``Problem.report``.
REPORT_PROTOCOL = {
    "checks": "checks(ds) -> list[analysis.checks.Check]: the theory's checks, each saying what it checked, "
              "or that it checked nothing and why",
    "sections": "sections(ds) -> list[str]: markdown sections after the checks",
    "summary": "summary(ds) -> pandas.DataFrame: the per-setting table written as summary.csv (a row per grid "
               "point, or per setting over its seeds)",
    "FIGURES": "a sequence of figure(ds, out_dir) -> list[Path] (analysis.plotting.figure_file)",
}
# Names a report module may define besides REPORT_PROTOCOL's.
OPTIONAL_REPORT = {
    "study": "study(stores: dict[str, xarray.Dataset]) -> str: a markdown section over the stores of the problem's "
             "presets (by preset name), written by `sweep paper` into its index",
}


class DeclarationError(ValueError):
    """A problem's declaration is broken; the one-line message names the problem and the field."""


@dataclass(frozen=True)
class Problem:
    """A teacher–student setting, as the engine sees it.

    - ``params``: its ProblemParams subclass (defaults, types, meanings, validation).
    - ``layout(values)``: the extra dims and the variables of a sweep, given
      ``values(name)``, every value a parameter takes in it (e.g. the ``epoch`` dim
      covers the longest run). The single declaration of what is stored.
    - ``run``: "module:function" of ``run(params) -> RunResult``, imported where it runs
      (so that declaring a problem imports no kernels).
    - ``run_seconds(params)``: an estimate of one run's wall time (task sizing).
    - ``run_many`` (optional, with ``batch_key``): "module:function" of ``run_many(list of
      params) -> list of RunResult`` (in that order), for runs with equal
      ``batch_key(params)``: the engine then trains each such group of a task in one call
      (e.g. many small networks per kernel call). Each result must equal what ``run``
      returns for its params, whatever the group.
    - ``report`` (optional): "module" defining every name of :data:`REPORT_PROTOCOL`.
    - ``presets``: the names (files in presets/) that reproduce its paper's figures.
    - ``replay`` (optional): "module:function" of ``replay(params) ->
      sweep.problems.replay.Replay``: the run again, its RunResult equal to ``run``'s,
      with its full trajectory (what it records along training, at every step it can) as
      an ``xarray.Dataset`` (``sweep replay``, :mod:`sweep.replay`).
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
    replay: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name.isidentifier() and not keyword.iskeyword(self.name)):
            raise DeclarationError(f"a problem's field 'name' must be an identifier, got {self.name!r}")
        for field in ("summary", "theory"):
            self._require(isinstance(getattr(self, field), str), field, "a string")
        self._check_params()
        for field in ("layout", "run_seconds"):
            self._require(callable(getattr(self, field)), field, "a function")
        self._check_function("run", self.run)
        if self.run_many is not None or self.batch_key is not None:
            self._require(self.run_many is not None, "batch_key", "given only with run_many (nothing else batches)")
            self._require(callable(self.batch_key), "batch_key",
                          "a function of the params, given with run_many (without it no run is ever batched)")
            self._check_function("run_many", self.run_many)
        if self.replay is not None:
            self._check_function("replay", self.replay)
        if self.report is not None:
            self._require(isinstance(self.report, str), "report", "a module name or None")
            defined = _top_level_names(self.report)
            self._require(defined is not None, "report", f"an importable module, got {self.report!r}")
            missing = [name for name in REPORT_PROTOCOL if name not in defined]
            self._require(not missing, "report", f"a module defining {', '.join(REPORT_PROTOCOL)}; "
                                                 f"{self.report} lacks {', '.join(missing)}")
        self._require(isinstance(self.presets, tuple) and all(isinstance(p, str) for p in self.presets),
                      "presets", "a tuple of preset names")

    def _require(self, condition: bool, field: str, expected: str) -> None:
        if not condition:
            raise DeclarationError(f"problem {self.name!r}: field {field!r} must be {expected}")

    def _check_params(self) -> None:
        params = self.params
        self._require(isinstance(params, type) and issubclass(params, ProblemParams)
                      and dataclasses.is_dataclass(params), "params", "a dataclass subclassing ProblemParams")
        for f in dataclasses.fields(params):
            self._require(params.kind(f.name) in KINDS, "params",
                          f"fields of the kinds {list(KINDS)}; {f.name!r} is {params.kind(f.name)!r}")
            self._require(f.default is not dataclasses.MISSING, "params", f"fields with defaults; {f.name!r} has none")

    def _check_function(self, field: str, path: Any) -> None:
        """``path`` is "module:function" and the module's source defines ``function``."""
        self._require(isinstance(path, str) and path.count(":") == 1, field, f'"module:function", got {path!r}')
        module, function = path.split(":")
        defined = _top_level_names(module)
        self._require(defined is not None, field, f"in an importable module; {module!r} is not found")
        self._require(function in defined, field, f"a function of {module}; it defines no {function!r}")

    def runner(self) -> Callable[[Any], RunResult]:
        """The run function (imports the problem's numerics on first use)."""
        return imported(self.run)

    def many_runner(self) -> Callable[[list], list] | None:
        """The batched run function, or None when the problem has none."""
        return imported(self.run_many) if self.run_many else None

    def replayer(self) -> Callable[[Any], Any] | None:
        """The replay function, or None when the problem declares none."""
        return imported(self.replay) if self.replay else None

    def report_module(self):
        """The module of :data:`REPORT_PROTOCOL`, or None."""
        return importlib.import_module(self.report) if self.report else None


def imported(path: str) -> Callable:
    """The function at "module:function"."""
    module, function = path.split(":")
    return getattr(importlib.import_module(module), function)


def _top_level_names(module: str) -> set[str] | None:
    """The names ``module`` binds at its top level, read from its source without running it
    (its parent packages are imported); None when there is no such module. A module without
    Python source, or with ``import *``, is imported and its attributes are the names."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not (spec.origin or "").endswith(".py"):
        return set(dir(importlib.import_module(module)))
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read(), spec.origin)
    names: set[str] = set()
    blocks = [tree.body]
    while blocks:
        for node in blocks.pop():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                if any(alias.name == "*" for alias in node.names):
                    return set(dir(importlib.import_module(module)))
                names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                blocks += [node.body, *(getattr(node, key, []) for key in ("orelse", "finalbody"))]
                blocks += [handler.body for handler in getattr(node, "handlers", [])]
    return names
