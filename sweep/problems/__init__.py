"""The problem registry: every teacher–student setting the engine can sweep, by name.

A spec picks one with its top-level key ``problem:`` (default :data:`DEFAULT_PROBLEM`).
Each entry names the module whose ``PROBLEM`` attribute is the
:class:`~sweep.problems.contract.Problem`; the module is imported on first use, so looking
a problem up imports no kernels. Adding a problem is one line in :data:`PROBLEMS` (or,
from another package, an entry point in the group :data:`ENTRY_POINT_GROUP` naming the
module, or :func:`register` at run time).
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from sweep.messages import did_you_mean, short_repr
from sweep.problems.contract import DeclarationError, Problem
from sweep.problems.parameters import ParamError
from sweep.problems.results import RunResult

PROBLEMS: dict[str, str] = {
    "separable": "sweep.problems.separable",
    "relu_pgd": "sweep.problems.relu_pgd",
    "relu_student": "sweep.problems.relu_student",
    "biased_relu": "sweep.problems.biased_relu",
}
DEFAULT_PROBLEM = "separable"
ENTRY_POINT_GROUP = "linear_teachers.problems"


def register(name: str, module: str) -> None:
    """Register the problem ``module.PROBLEM`` under ``name`` (for this process). Its
    declaration is checked now: a broken one raises ParamError (one line naming the
    field, :func:`get_problem`) and is not registered."""
    if name in PROBLEMS and PROBLEMS[name] != module:
        raise ValueError(f"problem {name!r} is already registered ({PROBLEMS[name]})")
    PROBLEMS[name] = module
    try:
        get_problem(name)
    except ParamError:
        del PROBLEMS[name]
        raise


def problem_names() -> tuple[str, ...]:
    """Every registered problem, those of installed entry points included."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        PROBLEMS.setdefault(entry.name, entry.value)
    return tuple(PROBLEMS)


def get_problem(name: str) -> Problem:
    """The problem registered as ``name``. ParamError, one line, for a name not registered
    (naming the known ones) and for a registered problem whose module does not import or
    whose declaration is refused (the DeclarationError's line, naming the field)."""
    names = problem_names()
    if not isinstance(name, str) or name not in PROBLEMS:
        raise ParamError(f"unknown problem {name!r}{did_you_mean(name, names)}; known problems: {list(names)}")
    module = PROBLEMS[name]
    try:
        problem = importlib.import_module(module).PROBLEM
    except DeclarationError as error:
        raise ParamError(str(error)) from None
    except (ImportError, AttributeError) as error:
        raise ParamError(f"problem {name!r}: its module {module} does not declare it "
                         f"({type(error).__name__}: {error})") from None
    if not isinstance(problem, Problem) or problem.name != name:
        raise ParamError(f"problem {name!r}: its module {module} declares {short_repr(problem)} as PROBLEM, "
                         f"not a Problem named {name!r}")
    return problem


def run_one(name: str, params) -> RunResult:
    """One run of problem ``name`` from a mapping of parameters (or its params object)."""
    problem = get_problem(name)
    p = params if isinstance(params, problem.params) else problem.params.from_mapping(params)
    return problem.runner()(p)


__all__ = ["DEFAULT_PROBLEM", "PROBLEMS", "ParamError", "Problem", "RunResult", "get_problem", "problem_names",
           "register", "run_one"]
