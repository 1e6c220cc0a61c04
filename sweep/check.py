"""``check_problem(name)``: hold a registered problem to the contract the engine relies on
(scikit-learn's ``check_estimator`` is the model): every problem runs it in its tests.

What a declaration checks when it is made (:class:`sweep.problems.contract.Problem`) is
read from the sources alone; this goes the rest of the way, in this order:

1. the declaration: the run functions import and are callable; the report module's names
   of REPORT_PROTOCOL are functions (``FIGURES`` a sequence of them);
2. the parameters: each field has its meaning (``param(default, doc)``), the defaults
   validate;
3. the layout (README, "The results store"): variable names unique and none of the
   engine's, every extra dim declared, every fill storable in its dtype, every dim's
   coordinate as long as the dim;
4. the presets load as specs of this problem;
5. a small sweep (``params`` fixed, ``grid`` swept; by default two seeds): each run's
   ``run`` returns a RunResult of a known status whose variables are in the layout; with
   ``run_many``, ``batch_key`` is hashable and each group's ``run_many`` results equal
   those of ``run``, run by run; the sweep, run serially into a store, has no failed run;
6. its replay, when it declares one (``sweep replay`` of the sweep's first run): a
   :class:`~sweep.problems.replay.Replay` whose trajectory is an ``xarray.Dataset`` and
   whose run reproduces the stored one, every variable bit for bit;
7. its report (``sweep report`` of that store): written, every check an
   :class:`analysis.checks.Check` of a known kind, ``summary`` a table with rows, and no
   theorem broken.

The first failure raises :class:`ProblemCheckError`, one line naming the problem and what
broke (an exception a problem's code raises names the step it raised in).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from analysis.checks import OBSERVATION, THEOREM, Check
from sweep.messages import short_repr
from sweep.problems import get_problem
from sweep.problems.contract import OPTIONAL_REPORT, REPORT_PROTOCOL, Problem
from sweep.problems.results import STATUS, RunResult
from sweep.problems.schema import ENGINE_VARIABLES

DEFAULT_GRID = {"seed": [0, 1]}


class ProblemCheckError(AssertionError):
    """A problem breaks the contract; the one-line message names the problem and what broke."""


class _Broken(Exception):
    """What broke, raised by a step of the check (check_problem adds the problem's name)."""


def check_problem(name: str, params: Mapping[str, Any] | None = None,
                  grid: Mapping[str, list] | None = None) -> None:
    """Check problem ``name`` (module docstring) with a small sweep of ``params`` (fixed
    parameters: keep the runs short) over ``grid`` (default :data:`DEFAULT_GRID`).

    Raises ProblemCheckError at the first thing that breaks the contract.
    """
    def broken(what: str) -> ProblemCheckError:
        return ProblemCheckError(" ".join(f"problem {name!r}: {what}".split()))

    try:
        problem = get_problem(name)
    except Exception as error:  # not registered, or a declaration refused (DeclarationError)
        raise broken(f"{type(error).__name__}: {error}") from error
    steps = [("its declaration", lambda: _check_functions(problem)),
             ("its parameters", lambda: _check_params(problem)),
             ("its layout", lambda: _check_layout(problem)),
             ("its presets", lambda: _check_presets(problem)),
             ("its check sweep", lambda: _check_sweep(problem, dict(params or {}), dict(grid or DEFAULT_GRID)))]
    for step, check in steps:
        try:
            check()
        except _Broken as error:
            raise broken(str(error)) from None
        except Exception as error:
            raise broken(f"{step}: {type(error).__name__}: {error}") from error


def _check_functions(problem: Problem) -> None:
    if not callable(problem.runner()):
        raise _Broken(f"run {problem.run!r} is not a function")
    if problem.run_many and not callable(problem.many_runner()):
        raise _Broken(f"run_many {problem.run_many!r} is not a function")
    module = problem.report_module()
    if module is None:
        return
    for function in (name for name in REPORT_PROTOCOL if name != "FIGURES"):
        if not callable(getattr(module, function)):
            raise _Broken(f"report {problem.report}.{function} is not a function")
    for function in (name for name in OPTIONAL_REPORT if hasattr(module, name)):
        if not callable(getattr(module, function)):
            raise _Broken(f"report {problem.report}.{function} is not a function")
    if isinstance(module.FIGURES, (str, bytes)) or not all(callable(figure) for figure in module.FIGURES):
        raise _Broken(f"report {problem.report}.FIGURES is not a sequence of functions")


def _check_params(problem: Problem) -> None:
    undocumented = [field for field, doc in problem.params.docs().items() if not doc]
    if undocumented:
        raise _Broken(f"parameters without a meaning (declare them with param(default, doc)): {undocumented}")
    problem.params.from_mapping(problem.params.defaults())  # the defaults are valid


def _check_layout(problem: Problem) -> None:
    defaults = problem.params.defaults()
    # every default, and both values of a flag, so that every optional variable and dim shows
    layout = problem.layout(lambda key: (False, True) if isinstance(defaults[key], bool) else (defaults[key],))
    names = [variable.name for variable in layout.variables]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise _Broken(f"variables declared twice: {twice}")
    engine = sorted(set(names) & {variable.name for variable in ENGINE_VARIABLES})
    if engine:
        raise _Broken(f"variables the engine writes itself: {engine}")
    dims = {dim.name: dim for dim in layout.dims}
    for variable in layout.variables:
        if not set(variable.dims) <= set(dims):
            raise _Broken(f"variable {variable.name!r} has undeclared dims {sorted(set(variable.dims) - set(dims))}")
        if not (variable.units is None or isinstance(variable.units, str)):
            raise _Broken(f"variable {variable.name!r}: units {variable.units!r} is neither a string nor None")
        try:
            np.array(variable.fill).astype(variable.dtype if variable.dtype != "str" else str)
        except (TypeError, ValueError) as error:
            raise _Broken(f"variable {variable.name!r}: fill {variable.fill!r} is not a {variable.dtype} "
                          f"({error})") from None
    for dim in dims.values():
        if dim.values is not None and len(dim.values) != dim.size:
            raise _Broken(f"dim {dim.name!r} is {dim.size} long, its coordinate {len(dim.values)}")


def _check_presets(problem: Problem) -> None:
    from sweep.cli import PRESETS_DIR
    from sweep.spec import load_spec

    for preset in problem.presets:
        path = PRESETS_DIR / f"{preset}.yaml"
        if not path.is_file():
            raise _Broken(f"preset {preset!r}: no file {path}")
        if load_spec(path).problem.name != problem.name:
            raise _Broken(f"preset {preset!r} is a spec of another problem")


def _check_sweep(problem: Problem, params: dict, grid: dict) -> None:
    from sweep.engine import run_sweep
    from sweep.spec import parse_spec
    from sweep.store import layout_for, open_store

    spec = parse_spec({"name": f"check_{problem.name}", "problem": problem.name, "params": params, "grid": grid})
    points = [tuple(int(i) for i in index) for index in np.ndindex(*spec.shape)]
    variables = {variable.name for variable in layout_for(spec).variables}
    alone = {point: _checked_run(problem, spec.params_at(point), point, variables) for point in points}
    if problem.run_many:
        _check_run_many(problem, spec, alone)
    with tempfile.TemporaryDirectory(prefix=f"check_{problem.name}_") as work:
        store = Path(work) / "check.zarr"
        run_sweep(spec, store)
        ds = open_store(store)
        if not bool(ds["done"].all()):
            raise _Broken("a run of the check sweep was not recorded")
        failed = ds["error"].values[ds["status"].values == STATUS["failed"]]
        if failed.size:
            raise _Broken(f"{failed.size} of {len(points)} runs of the check sweep failed, e.g. {failed.flat[0]}")
        if problem.replay:
            _check_replay(spec, ds)
        _check_report(problem, store, Path(work) / "report", len(points))


def _check_replay(spec, ds) -> None:
    """The replay of the first run (a Replay with a Dataset trajectory) reproduces the store."""
    from sweep.replay import replay

    first = {key: values[0] for key, values in spec.grid.items()}
    differences = replay(ds, first).differences
    if differences:
        raise _Broken(f"the replay of the run at {first} does not reproduce the store: {'; '.join(differences)}")


def _checked_run(problem: Problem, params, point: tuple, variables: set) -> RunResult:
    """``run(params)``, checked to be a RunResult the engine can store."""
    result = problem.runner()(params)
    if not isinstance(result, RunResult):
        raise _Broken(f"run at grid index {point} returned {short_repr(result)}, not a RunResult")
    if result.status not in STATUS:
        raise _Broken(f"run at grid index {point} returned status {result.status!r}, not one of {list(STATUS)}")
    unknown = sorted(set(result.values) - variables)
    if unknown:
        raise _Broken(f"run at grid index {point} returned {unknown}, not variables of its layout")
    return result


def _check_run_many(problem: Problem, spec, alone: dict) -> None:
    """Each group of equal ``batch_key`` (as the engine forms them) in one ``run_many``
    call gives, run by run, what ``run`` gave."""
    groups: dict = {}
    for point in alone:
        key = problem.batch_key(spec.params_at(point))
        try:
            hash(key)
        except TypeError:
            raise _Broken(f"batch_key at grid index {point} is {short_repr(key)}, not hashable") from None
        groups.setdefault(key, []).append(point)
    for group in groups.values():
        together = list(problem.many_runner()([spec.params_at(point) for point in group]))
        if len(together) != len(group):
            raise _Broken(f"run_many returned {len(together)} results for {len(group)} runs")
        for point, many in zip(group, together):
            if not _same(alone[point], many):
                raise _Broken(f"run_many's result at grid index {point} is not run's")


def _check_report(problem: Problem, store: Path, out_dir: Path, runs: int) -> None:
    import pandas as pd

    from sweep.report import write_report

    report = write_report(store, out_dir)
    if not all(path.is_file() for path in report.paths) or report.paths[-1].name != "report.md":
        raise _Broken("its report did not write every file it lists, report.md last")
    for check in report.checks:
        if not (isinstance(check, Check) and check.kind in (THEOREM, OBSERVATION) and check.holds in (True, False, None)):
            raise _Broken(f"report check {short_repr(check)} is not an analysis.checks.Check of a known kind")
    if problem.report is not None and pd.read_csv(out_dir / "summary.csv").empty:
        raise _Broken(f"report {problem.report}.summary gave an empty table for {runs} finished runs")
    if report.violated:
        raise _Broken("a run of the check sweep breaks a theorem: "
                      + "; ".join(check.summary for check in report.checks if check.holds is False))


def _same(one: RunResult, other: RunResult) -> bool:
    """The same status and, variable by variable, the same values (NaN equal to NaN)."""
    return (isinstance(other, RunResult) and one.status == other.status and one.values.keys() == other.values.keys()
            and all(np.array_equal(np.asarray(value), np.asarray(other.values[key]),
                                   equal_nan=np.asarray(value).dtype.kind in "fc")
                    for key, value in one.values.items()))
