"""The teacher, the inputs and the data sets of the ``relu_student`` problem (THEORY.md §6.2).

- Teacher [recon]: m unit directions w_j drawn uniformly on S^{d-1}, redrawn while two of
  them are closer than ``min_angle_deg`` to each other or to each other's antipode
  (|<w_j, w_l>| > cos(min_angle)); output weights a_j = 1 (``ones``) or +-1 (``random``).
  At most MAX_TEACHER_DRAWS draws, then a ParamError: a separation the sampler cannot
  reach fails at once instead of hanging.
- Inputs: ``sphere`` (Unif(S^{d-1})) or ``gaussian`` (N(0, I_d/d)), made by
  kernels.relu_student.inputs_from_normals from standard normals; stored feature-major
  (d, n), one point per column.
- Streams: the teacher from ``default_rng([data_seed, 0])``, the training set from
  ``[data_seed, 1]``, the test set from ``[data_seed, 2]``; the student's init from
  ``[seed, 0]`` and its batches from ``[seed, 1]`` (run.py).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from sweep.problems.parameters import ParamError
from sweep.problems.relu_student.identification import Measure

MAX_TEACHER_DRAWS = 1000
N_TEST = 10_000  # test inputs (noise-free labels) for the relative test MSE


@dataclass(frozen=True)
class DataSet:
    """Inputs XT (d, n) float64, one point per column, and labels y (n,)."""

    XT: np.ndarray
    y: np.ndarray


def unit_rows(Z: np.ndarray) -> np.ndarray:
    """The rows of Z normalised to unit length."""
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


@functools.lru_cache(maxsize=256)
def make_teacher(d: int, m: int, signs: str, min_angle_deg: float, data_seed: int) -> Measure:
    """The teacher of THEORY.md §6.2 (module docstring): f*(x) = sum_j a_j relu(<w_j, x>),
    as the measure sum_j a_j delta_{w_j} (mass a_j, unit direction w_j); read-only arrays.

    Raises ParamError naming ``min_angle_deg`` when MAX_TEACHER_DRAWS draws all fail.
    """
    rng = np.random.default_rng([data_seed, 0])
    limit = math.cos(math.radians(min_angle_deg))
    for _ in range(MAX_TEACHER_DRAWS):
        direction = unit_rows(rng.standard_normal((m, d)))
        overlaps = np.abs(direction @ direction.T)[~np.eye(m, dtype=bool)]
        if overlaps.size == 0 or overlaps.max() <= limit:
            break
    else:
        raise ParamError(f"parameter 'min_angle_deg' must let m = {m} teacher directions in d = {d} keep every "
                         f"pairwise angle (and angle to an antipode) >= min_angle_deg; none of {MAX_TEACHER_DRAWS} "
                         f"draws (data_seed {data_seed}) did, got {min_angle_deg!r}: lower min_angle_deg or m")
    mass = np.ones(m) if signs == "ones" else rng.choice([-1.0, 1.0], size=m)
    for array in (mass, direction):
        array.setflags(write=False)
    return Measure(mass, direction)


def sample_inputs(rng: np.random.Generator, d: int, n: int, law: str) -> np.ndarray:
    """n inputs of ``law`` (sphere or gaussian) as a float64 (d, n) array."""
    from kernels.relu_student import INPUT_LAWS, inputs_from_normals

    XT = rng.standard_normal((d, n))
    inputs_from_normals(XT, INPUT_LAWS[law], np.empty(n))
    return XT


def teacher_output(teacher: Measure, XT: np.ndarray) -> np.ndarray:
    """f*(x) for every column of XT, float64."""
    from kernels.relu_student import network_output

    return network_output(np.asarray(XT, dtype=np.float64), teacher.direction, teacher.mass)


def make_training_set(teacher: Measure, n: int, law: str, noise: float, data_seed: int) -> DataSet:
    """n inputs labelled f*(x) + noise * N(0, 1), from ``default_rng([data_seed, 1])``."""
    rng = np.random.default_rng([data_seed, 1])
    XT = sample_inputs(rng, teacher.direction.shape[1], n, law)
    return DataSet(XT, teacher_output(teacher, XT) + noise * rng.standard_normal(n))


def make_test_set(teacher: Measure, law: str, data_seed: int) -> DataSet:
    """N_TEST fresh inputs with noise-free labels f*(x), from ``default_rng([data_seed, 2])``."""
    XT = sample_inputs(np.random.default_rng([data_seed, 2]), teacher.direction.shape[1], N_TEST, law)
    return DataSet(XT, teacher_output(teacher, XT))


def init_student(M: int, d: int, init_scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, W) with a_k = +-tau (random signs) and w_k = tau * Unif(S^{d-1}), float64, from
    ``default_rng([seed, 0])`` (THEORY.md §6.2)."""
    rng = np.random.default_rng([seed, 0])
    a = init_scale * rng.choice([-1.0, 1.0], size=M)
    W = init_scale * unit_rows(rng.standard_normal((M, d)))
    return a, W
