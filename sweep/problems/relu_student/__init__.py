"""The ``relu_student`` problem: an over-parameterised two-layer ReLU student, trained by
plain or conic ("norm-dependent") gradient descent on the squared loss plus a total
variation or weight-decay penalty, identifies a ReLU teacher's neurons (Akiyama &
Suzuki 2021; THEORY.md §6.2, a reconstruction: only the paper's abstract survives).

- parameters: :mod:`.params` (:class:`ReluStudentParams`); teacher, inputs and data sets:
  :mod:`.data`; kernels: kernels/relu_student.py;
- one run: :mod:`.run` (``train_one``); what it records: :mod:`.variables`;
- the measure view and the identification metrics: :mod:`.identification`;
- figures and report sections: :mod:`.figures`, :mod:`.report`.
"""
from __future__ import annotations

from sweep.problems.contract import Problem
from sweep.problems.relu_student.params import ReluStudentParams
from sweep.problems.relu_student.variables import layout

# Run-time model for task sizing (a heuristic, measured on the presets; see run_seconds).
SECONDS_PER_POINT_NEURON_FEATURE = 1.5e-10  # one point x one neuron (student or teacher) x one feature, per step
SECONDS_PER_INPUT_FEATURE = 8.0e-9         # drawing one input coordinate (fresh batches)
SECONDS_PER_RUN = 0.05                     # teacher, test set, metrics at the recorded steps


def run_seconds(p: ReluStudentParams) -> float:
    """Estimated wall time of one run."""
    points = p.steps * (min(p.batch, p.n) if p.n else p.batch)
    draws = 0 if p.n else points * p.d * SECONDS_PER_INPUT_FEATURE
    return SECONDS_PER_RUN + draws + SECONDS_PER_POINT_NEURON_FEATURE * points * (p.M + p.m) * p.d


PROBLEM = Problem(
    name="relu_student",
    summary="over-parameterised two-layer ReLU student, plain or conic GD on the squared loss plus a total-variation "
            "or weight-decay penalty, identifying a ReLU teacher's neurons",
    theory="THEORY.md §6.2 (Akiyama & Suzuki 2021, reconstructed)",
    params=ReluStudentParams,
    layout=layout,
    run="sweep.problems.relu_student.run:train_one",
    run_seconds=run_seconds,
    report="sweep.problems.relu_student.report",
    replay="sweep.problems.relu_student.run:replay",
    presets=("relu_student_plane", "relu_student_identification", "relu_student_convergence"),
)
