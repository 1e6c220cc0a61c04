"""Steps per second of one relu_student run (THEORY.md §6.2) against plain NumPy, in one process.

For (d, M, batch) in SHAPES (m = 3 teacher neurons, fresh batches, conic learner, rho = 4,
lr 0.5, lam = 1e-3 with the tv penalty), each round times, on the same normals:

- ``run``: the run's own step loop (run.FreshBatches.take: normals drawn with NumPy's
  Generator, then kernels.relu_student.fresh_batch_steps: inputs, teacher labels,
  gradient and conic step);
- ``numpy``: the same draws, then tests/reference_relu_student.py (whole-batch array
  operations, BLAS matrix products);
- ``kernel`` and ``numpy compute``: the same two without the draws (normals drawn
  beforehand), i.e. what each implementation computes per step.

It prints the median steps/s of each and the median over rounds of the within-round
ratios (each round times every variant once, so all see the same load), with their
quartiles, and the largest difference between the kernel's and NumPy's parameters after
the timed steps. Threads are pinned to 1 (Numba, BLAS).

    .venv/bin/python benchmarks/bench_relu_student.py [--quick]
"""
from __future__ import annotations

import os

# One thread everywhere, set before numpy or numba are imported.
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernels.relu_student import CONIC, INPUT_LAWS, TV, fresh_batch_steps  # noqa: E402
from sweep.problems.relu_student.data import init_student, make_teacher  # noqa: E402
from sweep.problems.relu_student.params import ReluStudentParams  # noqa: E402
from sweep.problems.relu_student.run import FreshBatches  # noqa: E402
from tests import reference_relu_student as ref  # noqa: E402

SHAPES = ((10, 30, 2000), (20, 300, 2000))  # (d, M, batch)
SETTINGS = {"m": 3, "learner": "conic", "rho": 4.0, "lr": 0.5, "lam": 1e-3, "penalty": "tv", "init_scale": 0.01}


def numpy_steps(a, W, rng, p: ReluStudentParams, teacher, steps):
    """The NumPy baseline with its own draws (the same calls as FreshBatches)."""
    normals = rng.standard_normal((steps, p.d, p.batch))
    return ref.fresh_batch_steps(a, W, normals.transpose(0, 2, 1), None, teacher.mass, teacher.direction, 0.0,
                                 "sphere", p.lam, p.penalty, p.learner, p.rho, p.lr)


def bench_shape(d: int, M: int, batch: int, steps: int, rounds: int) -> None:
    p = ReluStudentParams(d=d, M=M, batch=batch, **SETTINGS)
    teacher = make_teacher(d, p.m, "ones", 20.0, 0)
    a0, W0 = init_student(M, d, p.init_scale, 0)
    # Warm up (compile or load from cache) and start every variant from a trained student.
    a0, W0 = a0.copy(), W0.copy()
    FreshBatches(p, teacher).take(a0, W0, 200)
    kernel_args = (teacher.mass, np.ascontiguousarray(teacher.direction), 0.0, INPUT_LAWS["sphere"], p.lam, TV,
                   CONIC, p.rho, p.lr)
    timings = {name: [] for name in ("run", "numpy", "kernel", "numpy compute")}
    error = 0.0
    for round_ in range(rounds):
        normals = np.random.default_rng([round_, 9]).standard_normal((steps, d, batch))
        variants = {
            "run": lambda: FreshBatches(p, teacher).take(a0.copy(), W0.copy(), steps),
            "numpy": lambda: numpy_steps(a0.copy(), W0.copy(), np.random.default_rng([0, 1]), p, teacher, steps),
            "kernel": lambda: fresh_batch_steps(a0.copy(), W0.copy(), normals.copy(), np.empty((steps, 0)),
                                                *kernel_args),
            "numpy compute": lambda: ref.fresh_batch_steps(a0.copy(), W0.copy(), normals.transpose(0, 2, 1), None,
                                                           teacher.mass, teacher.direction, 0.0, "sphere", p.lam,
                                                           p.penalty, p.learner, p.rho, p.lr),
        }
        for name, variant in variants.items():
            start = time.perf_counter()
            variant()
            timings[name].append(steps / (time.perf_counter() - start))
        ka, kW = a0.copy(), W0.copy()
        fresh_batch_steps(ka, kW, normals.copy(), np.empty((steps, 0)), *kernel_args)
        ra, rW = ref.fresh_batch_steps(a0, W0, normals.transpose(0, 2, 1), None, teacher.mass, teacher.direction,
                                       0.0, "sphere", p.lam, p.penalty, p.learner, p.rho, p.lr)
        error = max(error, float(np.abs(ka - ra).max()), float(np.abs(kW - rW).max()))
    rates = {name: np.array(values) for name, values in timings.items()}

    def ratio(ours: str, theirs: str) -> str:
        r = rates[ours] / rates[theirs]
        q1, median, q3 = np.percentile(r, [25, 50, 75])
        return f"{median:.2f}x ({q1:.2f}-{q3:.2f})"

    print(f"(d, M, batch) = ({d}, {M}, {batch}): {steps} steps x {rounds} rounds")
    for name, values in rates.items():
        print(f"  {name:<14} {np.median(values):9.0f} steps/s")
    print(f"  run / numpy:            {ratio('run', 'numpy')}")
    print(f"  kernel / numpy compute: {ratio('kernel', 'numpy compute')}")
    print(f"  max |kernel - numpy| over (a, W) after {steps} steps: {error:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    args = parser.parse_args()
    rounds = 5 if args.quick else 15
    for d, M, batch in SHAPES:
        steps = (100 if M < 100 else 20) if args.quick else (300 if M < 100 else 60)
        bench_shape(d, M, batch, steps, rounds)


if __name__ == "__main__":
    main()
