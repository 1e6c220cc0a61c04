"""Identification metrics of THEORY.md §6.2: how well a student's measure matches the teacher's.

A neuron (a_k, w_k) is an atom of mass c_k = a_k ||w_k|| at the direction
theta_k = w_k / ||w_k|| (a neuron with w_k = 0 is an atom of mass 0 at the zero
direction, never assigned); the student is the measure sum_k c_k delta_{theta_k}, the
teacher sum_j a_j delta_{w_j}. Everything here is float64 and depends on a student only
through its atoms, so it is invariant under the rescalings (a_k, w_k) -> (a_k / t, t w_k),
t > 0, and under permutations of the neurons.

Against a reference measure with m atoms (the teacher, or :func:`expected_measure`),
with the teacher's |a_j| as the scale:

- assignment: an atom goes to the reference direction nearest in angle if that angle is
  below ASSIGN_ANGLE (0.1 rad; the teacher's directions are >= min_angle_deg apart);
- ``mass``: per reference atom, the summed mass of its atoms; ``e_mass`` = max_j
  |mass_j - c_j| / |a_j|;
- ``e_stray``: the total |mass| of unassigned atoms over sum_j |a_j|;
- ``e_ang``: the |mass|-weighted mean angle (rad) of the assigned atoms to their
  reference direction; NaN when no mass is assigned.

Against the teacher only:

- ``D_K``: the kernel distance, D_K^2 = c^T K c - 2 c^T K a + a^T K a with
  K(u, v) = exp(KERNEL_SHARPNESS (<u, v> - 1)), threshold-free;
- ``e_match``: the one-to-one comparison: teacher neurons matched to distinct student
  neurons (scipy's linear_sum_assignment, cost ||c_k theta_k - a_j w_j||, i.e. between the
  points a_k w_k and a_j w_j of R^d); max_j of the matched cost / |a_j|. It asks for
  every teacher neuron to be *one* student neuron, so it stays large when the student
  splits a teacher neuron over several atoms, which the measure view counts as identified.

``success``: e_ang, e_stray and e_mass against the measure expected at lam all below
SUCCESS_LEVEL (0.05): the §6.2 criterion, "plus the shrinkage expected from lambda".

The population quantities use the degree-1 arc-cosine kernel: for x uniform on the
sphere or N(0, I_d/d), E[relu(<u, x>) relu(<v, x>)] = (sin phi + (pi - phi) cos phi) /
(2 pi d) for unit u, v at angle phi [derived: x = r z with z uniform on the sphere,
independent of r, E r^2 = 1; Cho & Saul 2009]. So the population loss is the same for
both input laws.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment, linprog, minimize
from threadpoolctl import threadpool_limits

ASSIGN_ANGLE = 0.1       # rad: an atom closer than this to a reference direction is assigned to it
KERNEL_SHARPNESS = 50.0  # K(u, v) = exp(50 (<u, v> - 1)) in D_K
SUCCESS_LEVEL = 0.05     # e_ang, e_stray and e_mass (at lam) below this: the teacher is identified


@dataclass(frozen=True)
class Measure:
    """sum_j mass[j] delta_{direction[j]}: masses (k,) and unit directions (k, d) (a zero
    row for an atom of mass 0 without direction). The teacher is one (a_j, w_j)."""

    mass: np.ndarray
    direction: np.ndarray


def atoms(a: np.ndarray, W: np.ndarray) -> Measure:
    """The student (a (M,), W (M, d)) as a measure: c_k = a_k ||w_k||, theta_k = w_k / ||w_k||."""
    a = np.asarray(a, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    norms = np.linalg.norm(W, axis=1)
    direction = np.divide(W, norms[:, None], out=np.zeros_like(W), where=norms[:, None] > 0)
    return Measure(a * norms, direction)


def assignment(student: Measure, reference: Measure) -> tuple[np.ndarray, np.ndarray]:
    """(the reference atom of each student atom, -1 when unassigned; angle to the nearest, rad)."""
    cosines = np.clip(student.direction @ reference.direction.T, -1.0, 1.0)
    nearest = np.argmax(cosines, axis=1)
    angle = np.arccos(cosines[np.arange(nearest.size), nearest])
    assigned = (angle < ASSIGN_ANGLE) & np.any(student.direction != 0.0, axis=1)
    return np.where(assigned, nearest, -1), angle


@dataclass(frozen=True)
class Comparison:
    """A student against a reference measure (module docstring)."""

    mass: np.ndarray  # (m,) assigned mass per reference atom
    e_mass: float
    e_stray: float
    e_ang: float


def compare(student: Measure, reference: Measure, scale: np.ndarray) -> Comparison:
    """Assigned masses, e_mass, e_stray and e_ang of ``student`` against ``reference``;
    scale: the teacher's |a_j| (m,)."""
    owner, angle = assignment(student, reference)
    mass = np.array([student.mass[owner == j].sum() for j in range(reference.mass.size)])
    assigned = owner >= 0
    weights = np.abs(student.mass[assigned])
    return Comparison(
        mass=mass,
        e_mass=float(np.max(np.abs(mass - reference.mass) / scale)),
        e_stray=float(np.abs(student.mass[~assigned]).sum() / scale.sum()),
        e_ang=float(weights @ angle[assigned] / weights.sum()) if weights.sum() > 0 else math.nan,
    )


def stray_mass(student: Measure, teacher: Measure) -> float:
    """e_stray against the teacher."""
    return compare(student, teacher, np.abs(teacher.mass)).e_stray


def kernel_distance(student: Measure, teacher: Measure) -> float:
    """D_K between the two measures, with K(u, v) = exp(KERNEL_SHARPNESS (<u, v> - 1))."""
    def gram(U, V):
        return np.exp(KERNEL_SHARPNESS * (U @ V.T - 1.0))

    c, a = student.mass, teacher.mass
    squared = (c @ gram(student.direction, student.direction) @ c
               - 2.0 * c @ gram(student.direction, teacher.direction) @ a
               + a @ gram(teacher.direction, teacher.direction) @ a)
    return math.sqrt(max(float(squared), 0.0))


def one_to_one_error(student: Measure, teacher: Measure) -> float:
    """e_match: max_j ||c_k theta_k - a_j w_j|| / |a_j| over an optimal one-to-one matching
    (teacher neurons left over when M < m are matched to the zero neuron)."""
    points = student.mass[:, None] * student.direction
    missing = max(teacher.mass.size - points.shape[0], 0)
    points = np.vstack([points, np.zeros((missing, points.shape[1]))])
    targets = teacher.mass[:, None] * teacher.direction
    cost = np.linalg.norm(targets[:, None, :] - points[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(np.max(cost[rows, cols] / np.abs(teacher.mass[rows])))


def degenerate_teacher(teacher: Measure) -> bool:
    """Whether 0 is in the convex hull of the directions of the teacher's positive atoms,
    or of its negative ones [derived].

    Then sum_j l_j w_j = 0 for some l >= 0 on atoms of one sign, so sum_j l_j relu(<w_j, x>)
    = sum_j l_j relu(<-w_j, x>) (their difference is the linear function <sum_j l_j w_j, x>):
    moving mass t l_j from each w_j to -w_j keeps the function and, for small t, the
    total variation. The measures of the teacher's function with the least total
    variation form a segment, and no method can single the teacher out of it. It takes
    d + 1 or more atoms of one sign: never for m <= d directions in general position; for
    m = 3 atoms of one sign in the plane, when their directions do not lie in one
    half-plane (a probability of 1/4).
    """
    for sign in (1.0, -1.0):
        directions = teacher.direction[np.sign(teacher.mass) == sign]
        if directions.shape[0] < 2:
            continue
        count = directions.shape[0]
        feasible = linprog(np.zeros(count), A_eq=np.vstack([directions.T, np.ones(count)]),
                           b_eq=np.r_[np.zeros(directions.shape[1]), 1.0], bounds=(0, None), method="highs")
        if feasible.status == 0:
            return True
    return False


def arccos_gram(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """E[relu(<u, x>) relu(<v, x>)] for unit rows u of U and v of V (module docstring)."""
    cosine = np.clip(U @ V.T, -1.0, 1.0)
    phi = np.arccos(cosine)
    return (np.sin(phi) + (np.pi - phi) * cosine) / (2.0 * np.pi * U.shape[1])


def arccos_slope(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The derivative of arccos_gram in the cosine t = <u, v>: (pi - arccos t) / (2 pi d)."""
    return (np.pi - np.arccos(np.clip(U @ V.T, -1.0, 1.0))) / (2.0 * np.pi * U.shape[1])


def population_loss(student: Measure, teacher: Measure) -> float:
    """(1/2) E[(f_student(x) - f*(x))^2] over the input law (either: they agree)."""
    c, a = student.mass, teacher.mass
    value = 0.5 * (c @ arccos_gram(student.direction, student.direction) @ c
                   - 2.0 * c @ arccos_gram(student.direction, teacher.direction) @ a
                   + a @ arccos_gram(teacher.direction, teacher.direction) @ a)
    return max(float(value), 0.0)


def expected_measure(teacher: Measure, lam: float) -> Measure:
    """The m-atom measure that minimises the population objective at lam,
    (1/2) E(f - f*)^2 + lam sum_j |c_j|, reached from the teacher [derived; THEORY.md §6.2].

    At lam = 0 this is the teacher. For lam > 0 the masses shrink and the directions move
    off the teacher's (towards each other: the residual, a shrunk copy of f*, pulls each
    atom towards the other teacher neurons), so a converged student is held against this
    measure, not the teacher. Each mass keeps its teacher's sign (it may reach 0), so the
    penalty is linear and the problem smooth: L-BFGS-B with the gradient through the
    arc-cosine kernel, directions parametrised as u_j / ||u_j||. The same for both
    penalties (weight decay has the total variation's infimum over the rescalings).
    """
    a = np.asarray(teacher.mass, dtype=np.float64)
    w = np.asarray(teacher.direction, dtype=np.float64)
    if lam == 0.0:
        return Measure(a.copy(), w.copy())
    m, d = w.shape
    signs = np.sign(a)

    def objective_and_gradient(x):
        c, U = x[:m], x[m:].reshape(m, d)
        norms = np.linalg.norm(U, axis=1, keepdims=True)
        theta = U / norms
        K_ss, K_st = arccos_gram(theta, theta), arccos_gram(theta, w)
        value = 0.5 * (c @ K_ss @ c - 2.0 * c @ K_st @ a + a @ arccos_gram(w, w) @ a) + lam * signs @ c
        grad_c = K_ss @ c - K_st @ a + lam * signs
        grad_theta = c[:, None] * ((arccos_slope(theta, theta) * c) @ theta - (arccos_slope(theta, w) * a) @ w)
        radial = np.sum(grad_theta * theta, axis=1, keepdims=True)
        return value, np.concatenate([grad_c, ((grad_theta - radial * theta) / norms).ravel()])

    bounds = [(0.0, None) if sign > 0 else (None, 0.0) for sign in signs] + [(None, None)] * (m * d)
    # One BLAS thread: L-BFGS-B's tiny BLAS calls run ~100x slower with OpenBLAS's threads
    # on a busy machine.
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(objective_and_gradient, np.concatenate([a, w.ravel()]), jac=True, method="L-BFGS-B",
                          bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    U = result.x[m:].reshape(m, d)
    return Measure(result.x[:m], U / np.linalg.norm(U, axis=1, keepdims=True))


@dataclass(frozen=True)
class Identification:
    """A student against the teacher and against the measure expected at lam."""

    teacher: Comparison
    expected: Measure       # expected_measure(teacher, lam)
    at_lam: Comparison      # the student against ``expected``
    e_match: float

    @property
    def success(self) -> bool:
        at = self.at_lam
        return bool(at.e_ang < SUCCESS_LEVEL and at.e_stray < SUCCESS_LEVEL and at.e_mass < SUCCESS_LEVEL)


def identify(student: Measure, teacher: Measure, lam: float) -> Identification:
    """The comparisons with the teacher and with the measure expected at lam, and e_match
    (D_K: :func:`kernel_distance`)."""
    scale = np.abs(teacher.mass)
    expected = expected_measure(teacher, lam)
    return Identification(teacher=compare(student, teacher, scale), expected=expected,
                          at_lam=compare(student, expected, scale), e_match=one_to_one_error(student, teacher))
