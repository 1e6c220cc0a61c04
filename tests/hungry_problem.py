"""A test problem whose run at ``seed == hungry_at`` takes ``megabytes`` of memory (touched,
then held for ``hold`` seconds): a worker with a smaller memory limit is killed by its
nanny while running it. Every other run returns at once. For the poison-run tests."""
import time
from dataclasses import dataclass

import numpy as np

from sweep.problems.base import Layout, Problem, ProblemParams, RunResult, Variable, require


@dataclass(frozen=True)
class HungryParams(ProblemParams):
    seed: int = 0
    hungry_at: int = -1      # the seed of the run that takes the memory (-1: none)
    megabytes: int = 2000
    hold: float = 10.0

    def validate(self):
        require(self.megabytes >= 0, "megabytes", self.megabytes, ">= 0")


def layout(values):
    return Layout((), (Variable("value", "float64", np.nan, "1", "seed + 0.5"),))


def run(p: HungryParams) -> RunResult:
    if p.seed == p.hungry_at:
        held = []
        for _ in range(p.megabytes // 16):
            held.append(np.ones(2 * 2**20))  # 16 MB, touched
            time.sleep(0.01)
        time.sleep(p.hold)
    return RunResult("done", {"value": p.seed + 0.5})


PROBLEM = Problem(name="hungry", summary="a run that exhausts its worker's memory (test only)", theory="-",
                  params=HungryParams, layout=layout, run="tests.hungry_problem:run", run_seconds=lambda p: 1e-3)
