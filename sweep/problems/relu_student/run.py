"""One run of the ``relu_student`` problem: teacher, data, init, training, identification
(THEORY.md §6.2).

``train_one(params)`` is what every sweep task calls for each of its runs. It is
deterministic: the same parameters give the same results in any process.

Training goes from one recorded step (variables.recorded_steps) to the next in the
kernels (kernels.relu_student), drawing the normals of up to CHUNK_ELEMENTS inputs at a
time; at each recorded step the curves are measured in float64. A run stops early when
the relative test MSE is <= tol (status ``done``; ``max_epochs`` if the budget ends
first), or when it diverges: a non-finite batch objective or a neuron with
||(a_k, w_k)|| > DIVERGENCE_NORM (status ``diverged``; the numbers are recorded as
they are). With tol = 0 a run that takes every step is ``done``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from kernels.relu_student import (INPUT_LAWS, LEARNERS, PENALTIES, fresh_batch_steps, network_output,
                                  penalty_value, training_set_steps)
from sweep.problems.replay import Replay, recorded_along
from sweep.problems.results import RunResult
from sweep.problems.relu_student.data import DataSet, init_student, make_teacher, make_test_set, make_training_set
from sweep.problems.relu_student.identification import (Measure, atoms, degenerate_teacher, identify,
                                                        kernel_distance, population_loss, stray_mass)
from sweep.problems.relu_student.params import ReluStudentParams
from sweep.problems.relu_student.variables import CURVES, PATH_MAX_D, PATHS, STEP, recorded_steps

CHUNK_ELEMENTS = 1 << 21   # input coordinates drawn per kernel call (16 MB of float64 normals)
DIVERGENCE_NORM = 1e6      # a neuron with ||(a_k, w_k)|| above this has diverged


class FreshBatches:
    """Steps on a fresh batch of ``batch`` inputs each (n = 0), drawn from ``default_rng([seed, 1])``."""

    def __init__(self, p: ReluStudentParams, teacher: Measure):
        self.p = p
        self.dtype = np.dtype(p.dtype)
        self.rng = np.random.default_rng([p.seed, 1])
        self.teacher_mass = np.ascontiguousarray(teacher.mass, dtype=np.float64)
        self.teacher_direction = np.ascontiguousarray(teacher.direction, dtype=self.dtype)
        self.chunk = max(1, CHUNK_ELEMENTS // (p.d * p.batch))

    def take(self, a: np.ndarray, W: np.ndarray, steps: int) -> int:
        """Take up to ``steps`` steps in place; return how many were taken."""
        p = self.p
        taken = 0
        while taken < steps:
            count = min(self.chunk, steps - taken)
            # float64 draws in every dtype: float32 runs see the same inputs, rounded
            normals = self.rng.standard_normal((count, p.d, p.batch)).astype(self.dtype, copy=False)
            noise = self.rng.standard_normal((count, p.batch)) if p.noise else np.empty((count, 0))
            done = fresh_batch_steps(a, W, normals, noise, self.teacher_mass, self.teacher_direction, p.noise,
                                     INPUT_LAWS[p.inputs], p.lam, PENALTIES[p.penalty], LEARNERS[p.learner], p.rho,
                                     p.lr)
            taken += done
            if done < count:
                break
        return taken


class TrainingBatches:
    """Steps on the fixed training set: minibatches of min(batch, n) points, consecutive
    slices of a stream of permutations drawn from ``default_rng([seed, 1])``, or the full
    set when batch >= n."""

    def __init__(self, p: ReluStudentParams, data: DataSet):
        self.p = p
        self.XT = np.ascontiguousarray(data.XT, dtype=np.dtype(p.dtype))
        self.y = data.y
        self.size = 0 if p.batch >= p.n else p.batch
        self.rng = np.random.default_rng([p.seed, 1])
        self.pending = np.empty(0, dtype=np.int64)
        self.chunk = max(1, CHUNK_ELEMENTS // max(self.size, 1))

    def order(self, count: int) -> np.ndarray:
        """The indices of the next ``count`` minibatches, (count, size)."""
        needed = count * self.size
        while self.pending.size < needed:
            self.pending = np.concatenate([self.pending, self.rng.permutation(self.p.n)])
        taken, self.pending = self.pending[:needed], self.pending[needed:]
        return taken.reshape(count, self.size)

    def take(self, a: np.ndarray, W: np.ndarray, steps: int) -> int:
        """Take up to ``steps`` steps in place; return how many were taken."""
        p = self.p
        taken = 0
        while taken < steps:
            count = min(self.chunk, steps - taken)
            done = training_set_steps(a, W, self.XT, self.y, self.order(count), p.lam, PENALTIES[p.penalty],
                                      LEARNERS[p.learner], p.rho, p.lr)
            taken += done
            if done < count:
                break
        return taken


@dataclass(frozen=True)
class Measures:
    """The curves' values at one recorded step (float64)."""

    objective: float
    D_K: float
    e_stray: float
    test_mse: float


def objective(a: np.ndarray, W: np.ndarray, p: ReluStudentParams, teacher: Measure, training: DataSet | None) -> float:
    """F in float64: on the training set (n > 0), or the population objective (n = 0):
    (1/2) E(f - f*)^2 + noise^2 / 2, exact by the arc-cosine kernel (identification.py)."""
    penalty = penalty_value(a, W, p.lam, PENALTIES[p.penalty])
    if training is None:
        return population_loss(atoms(a, W), teacher) + 0.5 * p.noise ** 2 + penalty
    residual = network_output(training.XT, W, a) - training.y
    return 0.5 * float(np.mean(residual ** 2)) + penalty


def relative_test_mse(a: np.ndarray, W: np.ndarray, test: DataSet) -> float:
    """sum_i (f(x_i) - f*(x_i))^2 / sum_i f*(x_i)^2 over the test inputs."""
    return float(np.sum((network_output(test.XT, W, a) - test.y) ** 2) / np.sum(test.y ** 2))


def diverged(a: np.ndarray, W: np.ndarray) -> bool:
    """Non-finite parameters, or a neuron with ||(a_k, w_k)|| > DIVERGENCE_NORM."""
    norms = np.sqrt(a.astype(np.float64) ** 2 + np.sum(W.astype(np.float64) ** 2, axis=1))
    return not np.all(norms <= DIVERGENCE_NORM)


def train_one(params: ReluStudentParams | Mapping[str, Any]) -> RunResult:
    """Build teacher, data and init from ``params``, train, and measure (THEORY.md §6.2).

    Returns every variable of variables.SCALARS, CURVES (over recorded_steps(steps), fill
    after the last step taken), PER_TEACHER and ATOMS, and PATHS when d <= PATH_MAX_D; a
    run whose parameters are no longer finite leaves the identification metrics and the
    atoms at their fill (success 0). Raises ParamError for bad parameters.
    """
    p = params if isinstance(params, ReluStudentParams) else ReluStudentParams.from_mapping(params)
    teacher = make_teacher(p.d, p.m, p.teacher_signs, p.min_angle_deg, p.data_seed)
    test = make_test_set(teacher, p.inputs, p.data_seed)
    training = make_training_set(teacher, p.n, p.inputs, p.noise, p.data_seed) if p.n else None
    batches = TrainingBatches(p, training) if training else FreshBatches(p, teacher)
    a0, W0 = init_student(p.M, p.d, p.init_scale, p.seed)
    a, W = a0.astype(p.dtype), W0.astype(p.dtype)

    def measure() -> Measures:
        a64, W64 = a.astype(np.float64), W.astype(np.float64)
        student = atoms(a64, W64)
        return Measures(objective(a64, W64, p, teacher, training), kernel_distance(student, teacher),
                        stray_mass(student, teacher), relative_test_mse(a64, W64, test))

    ladder = recorded_steps(p.steps)
    curves = {name: np.full(ladder.size, np.nan) for name in Measures.__dataclass_fields__}
    with_paths = p.d <= PATH_MAX_D
    path_mass = np.full((ladder.size, p.M), np.nan)
    path_direction = np.full((ladder.size, p.M, p.d), np.nan)
    blew_up = False
    taken = 0
    for index, target in enumerate(ladder):
        taken += batches.take(a, W, target - taken)
        blew_up = taken < target or diverged(a, W)
        if blew_up:
            break
        values = measure()
        for name in curves:
            curves[name][index] = getattr(values, name)
        if with_paths:
            student = atoms(a, W)
            path_mass[index], path_direction[index] = student.mass, student.direction
        if p.tol > 0 and values.test_mse <= p.tol:
            break
    else:
        taken += batches.take(a, W, p.steps - taken)
        blew_up = taken < p.steps or diverged(a, W)

    with np.errstate(all="ignore"):  # a diverged run's numbers are recorded as they are
        final = measure()
    if blew_up:
        status = "diverged"
    else:
        status = "done" if p.tol == 0 or final.test_mse <= p.tol else "max_epochs"
    values = {
        "steps_run": taken,
        "final_objective": final.objective,
        "final_D_K": final.D_K,
        "final_e_stray": final.e_stray,
        "final_test_mse": final.test_mse,
        **curves,
        "teacher_mass": teacher.mass,
        "teacher_direction": teacher.direction,
        "teacher_degenerate": int(degenerate_teacher(teacher)),
        "success": 0,
    }
    student = atoms(a, W)
    if np.all(np.isfinite(student.mass)) and np.all(np.isfinite(student.direction)):
        found = identify(student, teacher, p.lam)
        values.update(e_mass=found.teacher.e_mass, e_ang=found.teacher.e_ang, mass=found.teacher.mass,
                      e_mass_lam=found.at_lam.e_mass, e_ang_lam=found.at_lam.e_ang, e_stray_lam=found.at_lam.e_stray,
                      mass_lam=found.expected.mass, mass_at_lam=found.at_lam.mass,
                      direction_lam=found.expected.direction, e_match=found.e_match, success=int(found.success),
                      atom_mass=student.mass, atom_direction=student.direction)
    if with_paths:
        values.update(path_mass=path_mass, path_direction=path_direction)
    return RunResult(status=status, values=values)


def replay(params: ReluStudentParams | Mapping[str, Any]) -> Replay:
    """``train_one(params)`` with its trajectory: the objective, D_K, the stray mass and the
    test MSE at every recorded step (``variables.recorded_steps``; NaN after the run
    stopped), and the atoms' paths when d <= PATH_MAX_D (THEORY.md §6.2)."""
    p = params if isinstance(params, ReluStudentParams) else ReluStudentParams.from_mapping(params)
    result = train_one(p)
    return Replay(result, recorded_along(result, (*CURVES, *PATHS), {STEP: recorded_steps(p.steps)}))
