"""Pieces of the toy problem (tests/toy_problem.py) that each break the problem contract in
one way the declaration cannot see: ``check_problem`` must find each one
(tests/test_problems.py). The last four names are a report module whose check reports a
broken theorem."""
import dataclasses

import numpy as np
import pandas as pd

from analysis.checks import checked
from sweep.problems.results import RunResult
from sweep.problems.schema import Variable
from tests import toy_problem


def run_many_of_the_next_run(params_list: list) -> list:
    """Each run's params get the result of the next run's: not what ``run`` returns."""
    results = [toy_problem.run(p) for p in params_list]
    return results[1:] + results[:1]


def run_with_an_undeclared_variable(p) -> RunResult:
    result = toy_problem.run(p)
    return RunResult(result.status, {**result.values, "bogus": 1.0})


def run_with_an_unknown_status(p) -> RunResult:
    return dataclasses.replace(toy_problem.run(p), status="finished")


def run_that_raises(p) -> RunResult:
    raise FloatingPointError(f"the run at seed {p.seed} overflowed")


def layout_with_an_undeclared_dim(values):
    layout = toy_problem.layout(values)
    return dataclasses.replace(layout, variables=(*layout.variables, Variable(
        "per_neuron", "float64", np.nan, "1", "a value per neuron", ("neuron",))))


def layout_with_an_engine_variable(values):
    layout = toy_problem.layout(values)
    return dataclasses.replace(layout, variables=(*layout.variables, Variable(
        "status", "int8", -1, "1", "the run's status, again")))


def checks(ds):
    return [checked("A theorem", "every run breaks it", "the theorem: broken", holds=False)]


def sections(ds):
    return []


def summary(ds):
    return pd.DataFrame({"runs": [int(ds["done"].sum())]})


FIGURES = ()
