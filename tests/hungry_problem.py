"""A test problem whose run at ``seed == hungry_at`` takes ``megabytes`` of memory (touched,
then held for ``hold`` seconds): a worker with a smaller memory limit is killed by its
nanny while running it. The run at ``seed == fail_at`` raises while the file ``fail_while``
exists. The run at ``seed == overflow_at`` overflows and divides 0 by 0 in NumPy (two
floating-point warnings); those at ``seed >= empty_from`` take the mean of an empty slice
(a Python-level RuntimeWarning, raised at the same line by every such run). The runs at ``seed >= wait_from`` wait until the file ``until`` exists (a
sweep that cannot finish before the test lets it). Every run sleeps ``pause`` seconds and returns ``value = seed + offset``, and
(``bulk`` > 0) ``bulk`` values drawn from ``seed`` plus ``offset`` (blocks whose write takes
a while). For the poison-run, failure, race and stale-writer tests (a sweep that takes a
known time whatever the load)."""
import time
from pathlib import Path
from dataclasses import dataclass

import numpy as np

from sweep.problems.contract import Problem
from sweep.problems.parameters import ProblemParams, require
from sweep.problems.results import RunResult
from sweep.problems.schema import Dim, Layout, Variable


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
    bulk: int = 0
    wait_from: int = -1      # the runs from this seed on wait for the file `until` (-1: none)
    until: str = ""
    overflow_at: int = -1    # the seed of the run whose NumPy arithmetic overflows and is invalid (-1: none)
    empty_from: int = -1     # the runs from this seed on warn "Mean of empty slice" (-1: none)

    def validate(self):
        require(self.megabytes >= 0, "megabytes", self.megabytes, ">= 0")


def layout(values):
    value = Variable("value", "float64", np.nan, "1", "seed + offset")
    cells = max(values("bulk"))
    if not cells:
        return Layout((), (value,))
    return Layout((Dim("cell", cells),), (value, Variable("bulk", "float64", np.nan, "1", "draws + offset", ("cell",))))


def run(p: HungryParams) -> RunResult:
    if p.seed == p.fail_at and Path(p.fail_while).exists():
        raise RuntimeError(f"failing while {p.fail_while} exists")
    if p.seed == p.hungry_at:
        held = []
        for _ in range(p.megabytes // 16):
            held.append(np.ones(2 * 2**20))  # 16 MB, touched
            time.sleep(0.01)
        time.sleep(p.hold)
    if p.seed == p.overflow_at:
        np.exp(np.float64(1000.0)), np.zeros(1) / 0.0
    if 0 <= p.empty_from <= p.seed:
        np.nanmean(np.full(1, np.nan))
    while 0 <= p.wait_from <= p.seed and not Path(p.until).exists():
        time.sleep(0.05)
    time.sleep(p.pause)
    values = {"value": p.seed + p.offset}
    if p.bulk:
        values["bulk"] = np.random.default_rng(p.seed).standard_normal(p.bulk) + p.offset
    return RunResult("done", values)


PROBLEM = Problem(name="hungry", summary="a run that exhausts its worker's memory (test only)", theory="-",
                  params=HungryParams, layout=layout, run="tests.hungry_problem:run", run_seconds=lambda p: 1e-3)
