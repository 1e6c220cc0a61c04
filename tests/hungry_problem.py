"""A test problem whose run at ``seed == hungry_at`` takes ``megabytes`` of memory (touched,
then held for ``hold`` seconds): a worker with a smaller memory limit is killed by its
nanny while running it. The run at ``seed == fail_at`` raises while the file ``fail_while``
exists. Every run sleeps ``pause`` seconds and returns ``value = seed + offset``. For the
poison-run, failure and race tests (a sweep that takes a known time whatever the load)."""
import time
from pathlib import Path
from dataclasses import dataclass

import numpy as np

from sweep.problems.contract import Problem
from sweep.problems.parameters import ProblemParams, require
from sweep.problems.results import RunResult
from sweep.problems.schema import Layout, Variable


@dataclass(frozen=True)
class HungryParams(ProblemParams):
    seed: int = 0
    hungry_at: int = -1      # the seed of the run that takes the memory (-1: none)
    megabytes: int = 2000
    hold: float = 10.0
    fail_at: int = -1        # the seed of the run that raises while `fail_while` exists
    fail_while: str = ""
    pause: float = 0.0
    offset: float = 0.5

    def validate(self):
        require(self.megabytes >= 0, "megabytes", self.megabytes, ">= 0")


def layout(values):
    return Layout((), (Variable("value", "float64", np.nan, "1", "seed + offset"),))


def run(p: HungryParams) -> RunResult:
    if p.seed == p.fail_at and Path(p.fail_while).exists():
        raise RuntimeError(f"failing while {p.fail_while} exists")
    if p.seed == p.hungry_at:
        held = []
        for _ in range(p.megabytes // 16):
            held.append(np.ones(2 * 2**20))  # 16 MB, touched
            time.sleep(0.01)
        time.sleep(p.hold)
    time.sleep(p.pause)
    return RunResult("done", {"value": p.seed + p.offset})


PROBLEM = Problem(name="hungry", summary="a run that exhausts its worker's memory (test only)", theory="-",
                  params=HungryParams, layout=layout, run="tests.hungry_problem:run", run_seconds=lambda p: 1e-3)
