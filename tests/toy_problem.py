"""A toy problem, to show that adding one touches nothing in the engine: least-squares
linear regression y = <w*, x> + noise, fitted by full-batch GD from w = 0."""
from dataclasses import dataclass

import numpy as np

from sweep.problems.contract import Problem
from sweep.problems.parameters import ProblemParams, param, require, require_positive
from sweep.problems.results import RunResult
from sweep.problems.schema import Dim, Layout, Variable


@dataclass(frozen=True)
class ToyParams(ProblemParams):
    d: int = param(5, "input dimension")
    n: int = param(50, "training points")
    lr: float = param(0.1, "GD step size")
    steps: int = param(20, "GD steps from w = 0")
    seed: int = param(0, "drives X and w*")

    def validate(self):
        require(self.n >= 1 and self.d >= 1, "n", self.n, ">= 1 (and d >= 1)")
        require_positive(self, "lr")


def layout(values):
    steps = np.arange(1, max(values("steps")) + 1)
    return Layout((Dim("step", steps.size, steps, {"long_name": "GD step"}),), (
        Variable("final_error", "float64", np.nan, "1", "||w - w*|| / ||w*|| at the end"),
        Variable("rel_error", "float64", np.nan, "1", "||w - w*|| / ||w*|| after each step", ("step",))))


def run(p: ToyParams) -> RunResult:
    rng = np.random.default_rng(p.seed)
    X, w_star = rng.standard_normal((p.n, p.d)), rng.standard_normal(p.d)
    y, w, errors = X @ w_star, np.zeros(p.d), []
    for _ in range(p.steps):
        w = w - p.lr * X.T @ (X @ w - y) / p.n
        errors.append(np.linalg.norm(w - w_star) / np.linalg.norm(w_star))
        if not errors[-1] < 1e10:
            return RunResult("diverged", {"final_error": errors[-1], "rel_error": np.array(errors)})
    return RunResult("done" if errors[-1] < 1e-3 else "max_epochs", {"final_error": errors[-1], "rel_error": np.array(errors)})


PROBLEM = Problem(name="toy_regression", summary="linear regression by GD (test only)", theory="-", params=ToyParams,
                  layout=layout, run="tests.toy_problem:run", run_seconds=lambda p: 1e-4 * p.steps)
