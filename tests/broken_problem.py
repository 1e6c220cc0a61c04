"""A problem whose declaration is broken (its run function does not exist): registering it
must be refused with one line naming the field (tests/test_problems.py)."""
from sweep.problems.contract import Problem
from tests.toy_problem import ToyParams, layout

PROBLEM = Problem(name="broken", summary="a run function that does not exist (test only)", theory="-",
                  params=ToyParams, layout=layout, run="tests.broken_problem:nowhere", run_seconds=lambda p: 1e-4)
