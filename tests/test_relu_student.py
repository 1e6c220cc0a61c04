"""The relu_student kernels and identification metrics (THEORY.md §6.2) against finite
differences, a plain-NumPy reference, hand-built students and Monte Carlo; why a run
fails (failures.py) on hand-built students."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from kernels import relu_student as K
from sweep.problems.relu_student.data import make_teacher, unit_rows
from sweep.problems.relu_student.failures import (DEGENERATE, IDENTIFIED, NOT_FITTED, OFF, SPLIT, STRAY,
                                                  function_error, outcome)
from sweep.problems.relu_student.identification import (Measure, atoms, compare, expected_measure, identify,
                                                        kernel_distance, one_to_one_error, population_loss,
                                                        stray_mass)
from tests import reference_relu_student as ref

LAWS = ("sphere", "gaussian")
PENALTIES = ("tv", "weight_decay")


def random_problem(seed, B=40, d=5, M=7, m=3, law="sphere"):
    """A batch (XT (d, B), y), a student (a, W) and a teacher (a_t, W_t) from one seed."""
    rng = np.random.default_rng(seed)
    XT = ref.inputs_from_normals(rng.standard_normal((B, d)), law).T.copy()
    W_t = unit_rows(rng.standard_normal((m, d)))
    a_t = np.ones(m)
    y = ref.output(a_t, W_t, XT.T) + 0.1 * rng.standard_normal(B)
    a = rng.standard_normal(M)
    W = rng.standard_normal((M, d))
    return XT, y, a, W, a_t, W_t, rng


def kernel_gradient(a, W, XT, y, lam, penalty):
    grad_a, grad_W = np.empty_like(a), np.empty_like(W)
    HT = np.empty((a.size, min(XT.shape[1], K.BLOCK_POINTS)), dtype=W.dtype)
    value = K.loss_gradient(a, W, XT, y, lam, K.PENALTIES[penalty], grad_a, grad_W, HT, np.empty(HT.shape[1]),
                            np.empty(HT.shape[1]))
    return value, grad_a, grad_W


# ---------------------------------------------------------------- kernels

@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("penalty", PENALTIES)
def test_gradient_matches_finite_differences(penalty, law):
    """Central differences of the reference objective (relu'(0) = 0 never matters: no
    pre-activation is within the step of 0)."""
    XT, y, a, W, *_ = random_problem(1, B=300, law=law)  # 300 points: two blocks, the second partial
    lam, h = 0.03, 1e-6
    value, grad_a, grad_W = kernel_gradient(a, W, XT, y, lam, penalty)
    assert value == pytest.approx(ref.objective(a, W, XT.T, y, lam, penalty), rel=1e-13)
    theta = np.column_stack([a, W])
    numeric = np.empty_like(theta)
    for index in np.ndindex(theta.shape):
        plus, minus = theta.copy(), theta.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (ref.objective(plus[:, 0], plus[:, 1:], XT.T, y, lam, penalty)
                          - ref.objective(minus[:, 0], minus[:, 1:], XT.T, y, lam, penalty)) / (2 * h)
    np.testing.assert_allclose(np.column_stack([grad_a, grad_W]), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("penalty", PENALTIES)
def test_gradient_matches_numpy_reference(penalty):
    XT, y, a, W, *_ = random_problem(2, B=600)
    a[0], W[1] = 0.0, 0.0  # the tv conventions at a = 0 and w = 0
    _, grad_a, grad_W = kernel_gradient(a, W, XT, y, 0.1, penalty)
    ref_a, ref_W = ref.gradient(a, W, XT.T, y, 0.1, penalty)
    np.testing.assert_allclose(grad_a, ref_a, rtol=0, atol=1e-14)
    np.testing.assert_allclose(grad_W, ref_W, rtol=0, atol=1e-14)


@pytest.mark.parametrize("learner,rho", [("gd", 1.0), ("conic", 4.0), ("conic", 0.5)])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("law", LAWS)
def test_fresh_batch_steps_match_numpy_reference(learner, rho, penalty, law):
    _, _, a, W, a_t, W_t, rng = random_problem(3, d=6, M=9)
    a, W = 0.3 * a, 0.3 * W
    normals = rng.standard_normal((25, 6, 300))
    noise = rng.standard_normal((25, 300))
    args = (a_t, W_t, 0.05, K.INPUT_LAWS[law], 0.01, K.PENALTIES[penalty], K.LEARNERS[learner], rho, 0.7)
    ka, kW = a.copy(), W.copy()
    assert K.fresh_batch_steps(ka, kW, normals.copy(), noise, *args) == 25
    ra, rW = ref.fresh_batch_steps(a, W, normals.transpose(0, 2, 1), noise, a_t, W_t, 0.05, law, 0.01, penalty,
                                   learner, rho, 0.7)
    np.testing.assert_allclose(ka, ra, rtol=0, atol=1e-12)
    np.testing.assert_allclose(kW, rW, rtol=0, atol=1e-12)


def test_float32_steps_follow_the_float64_reference():
    _, _, a, W, a_t, W_t, rng = random_problem(4, d=6, M=9)
    normals = rng.standard_normal((10, 6, 300))
    args = (K.INPUT_LAWS["sphere"], 0.0, K.TV, K.CONIC, 4.0, 0.5)
    ka, kW = (0.3 * a).astype(np.float32), (0.3 * W).astype(np.float32)
    K.fresh_batch_steps(ka, kW, normals.astype(np.float32), np.empty((10, 0)), a_t, W_t.astype(np.float32), 0.0,
                        *args)
    ra, rW = ref.fresh_batch_steps(0.3 * a, 0.3 * W, normals.transpose(0, 2, 1), None, a_t, W_t, 0.0, "sphere", 0.0,
                                   "tv", "conic", 4.0, 0.5)
    np.testing.assert_allclose(ka, ra, rtol=0, atol=1e-5)
    np.testing.assert_allclose(kW, rW, rtol=0, atol=1e-5)


@pytest.mark.parametrize("batch", [0, 16])  # full batch, minibatches of 16
def test_training_set_steps_match_numpy_reference(batch):
    XT, y, a, W, *_ , rng = random_problem(5, B=50)
    order = np.stack([rng.permutation(50)[:batch] for _ in range(12)]) if batch else np.empty((12, 0), np.int64)
    ka, kW = a.copy(), W.copy()
    assert K.training_set_steps(ka, kW, XT, y, order, 0.02, K.TV, K.CONIC, 2.0, 0.3) == 12
    ra, rW = a.copy(), W.copy()
    for rows in order if batch else [np.arange(50)] * 12:
        grads = ref.gradient(ra, rW, XT.T[rows], y[rows], 0.02, "tv")
        ra, rW = ref.step(ra, rW, *grads, "conic", 2.0, 0.3)
    np.testing.assert_allclose(ka, ra, rtol=0, atol=1e-12)
    np.testing.assert_allclose(kW, rW, rtol=0, atol=1e-12)


@pytest.mark.parametrize("penalty", PENALTIES)
def test_conic_with_rho_1_is_plain_gd_bit_for_bit(penalty):
    _, _, a, W, a_t, W_t, rng = random_problem(6)
    normals = rng.standard_normal((30, 5, 200))
    results = []
    for learner in (K.GD, K.CONIC):
        ka, kW = 0.1 * a, 0.1 * W
        K.fresh_batch_steps(ka, kW, normals.copy(), np.empty((30, 0)), a_t, W_t, 0.0, K.SPHERE, 0.01,
                            K.PENALTIES[penalty], learner, 1.0, 0.5)
        results.append((ka, kW))
    assert np.array_equal(results[0][0], results[1][0]) and np.array_equal(results[0][1], results[1][1])


def test_conic_step_scales_only_the_tangential_part():
    """theta_new - theta = -lr (g_rad + rho g_tan): the radial part of the move is the GD one."""
    rng = np.random.default_rng(7)
    a, W = rng.standard_normal(4), rng.standard_normal((4, 3))
    grad_a, grad_W = rng.standard_normal(4), rng.standard_normal((4, 3))
    theta, g = np.column_stack([a, W]), np.column_stack([grad_a, grad_W])
    ka, kW = a.copy(), W.copy()
    K.update(ka, kW, grad_a, grad_W, K.CONIC, 3.0, 0.1)
    move = np.column_stack([ka, kW]) - theta
    unit = theta / np.linalg.norm(theta, axis=1, keepdims=True)
    radial_g = np.sum(g * unit, axis=1, keepdims=True) * unit
    np.testing.assert_allclose(np.sum(move * unit, axis=1), -0.1 * np.sum(g * unit, axis=1), atol=1e-15)
    np.testing.assert_allclose(move - np.sum(move * unit, axis=1, keepdims=True) * unit, -0.3 * (g - radial_g),
                               atol=1e-15)


def test_a_non_finite_objective_stops_the_steps():
    _, _, a, W, a_t, W_t, rng = random_problem(8)
    a[0] = np.inf
    assert K.fresh_batch_steps(a, W, rng.standard_normal((5, 5, 50)), np.empty((5, 0)), a_t, W_t, 0.0, K.SPHERE, 0.0,
                               K.TV, K.GD, 1.0, 0.1) == 0


@pytest.mark.parametrize("law,norm", [("sphere", None), ("gaussian", 1.0)])
def test_input_laws(law, norm):
    ZT = np.random.default_rng(9).standard_normal((8, 20000))
    XT = ZT.copy()
    K.inputs_from_normals(XT, K.INPUT_LAWS[law], np.empty(20000))
    norms = np.linalg.norm(XT, axis=0)
    if norm is None:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-14)
        np.testing.assert_allclose(XT, ZT / np.linalg.norm(ZT, axis=0), rtol=1e-14)
    else:
        np.testing.assert_allclose(XT, ZT / np.sqrt(8), rtol=1e-15)
        assert np.mean(norms ** 2) == pytest.approx(norm, rel=0.02)


# ---------------------------------------------------------------- identification metrics

def teacher(d=6, m=3, signs="ones", seed=0):
    return make_teacher(d, m, signs, 20.0, seed)


def student_of(measure: Measure):
    """A student (a, W) whose atoms are exactly ``measure`` (balanced: |a_k| = ||w_k||)."""
    scale = np.sqrt(np.abs(measure.mass))
    return np.sign(measure.mass) * scale, scale[:, None] * measure.direction


def all_metrics(student: Measure, t: Measure, lam=0.0):
    found = identify(student, t, lam)
    return np.array([found.teacher.e_mass, found.teacher.e_stray, found.teacher.e_ang, *found.teacher.mass,
                     found.at_lam.e_mass, found.e_match, kernel_distance(student, t), population_loss(student, t)])


@pytest.mark.parametrize("signs", ["ones", "random"])
def test_a_student_equal_to_the_teacher_is_identified(signs):
    t = teacher(signs=signs, seed=3)
    student = atoms(*student_of(t))
    found = identify(student, t, 0.0)
    assert kernel_distance(student, t) < 1e-6 and found.teacher.e_stray == 0.0
    assert found.teacher.e_mass < 1e-14 and found.teacher.e_ang < 1e-6 and found.e_match < 1e-14
    assert found.success and population_loss(student, t) < 1e-15


def test_a_teacher_neuron_split_in_two_halves_is_identified_but_not_one_to_one():
    t = teacher()
    split = Measure(np.r_[t.mass[0] / 2, t.mass[0] / 2, t.mass[1:]], np.vstack([t.direction[0], t.direction]))
    student = atoms(*student_of(split))
    found = identify(student, t, 0.0)
    assert found.teacher.e_mass < 1e-14 and kernel_distance(student, t) < 1e-6 and found.success
    assert found.e_match == pytest.approx(0.5)  # the one-to-one view sees half a neuron missing


def test_an_antipodal_pair_adds_stray_mass():
    t = teacher()
    rng = np.random.default_rng(1)
    u = unit_rows(rng.standard_normal((1, 6)))[0]
    assert np.all(np.arccos(np.abs(t.direction @ u)) > 0.1)  # far from every teacher direction and antipode
    pair = Measure(np.r_[t.mass, 0.3, -0.2], np.vstack([t.direction, u, -u]))
    student = atoms(*student_of(pair))
    found = identify(student, t, 0.0)
    assert found.teacher.e_stray == pytest.approx(0.5 / 3)
    assert found.teacher.e_mass < 1e-14 and not found.success and kernel_distance(student, t) > 0.1


def test_a_far_atom_is_stray_and_a_near_one_is_assigned():
    t = teacher()
    w0 = t.direction[0]
    other = unit_rows((np.linalg.svd(w0[None])[2][1])[None])[0]  # a unit vector orthogonal to w0
    near = np.cos(0.05) * w0 + np.sin(0.05) * other
    far = np.cos(0.15) * w0 + np.sin(0.15) * other
    for direction, assigned in ((near, True), (far, False)):
        student = Measure(np.r_[0.5, t.mass[1:]], np.vstack([direction, t.direction[1:]]))
        comparison = compare(student, t, np.abs(t.mass))
        assert (comparison.e_stray == 0.0) == assigned
        if assigned:
            assert comparison.mass[0] == 0.5 and comparison.e_ang == pytest.approx(0.5 * 0.05 / 2.5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), M=st.integers(1, 12), signs=st.sampled_from(["ones", "random"]))
def test_metrics_are_invariant_to_rescaling_and_permutation(seed, M, signs):
    """(a_k, w_k) -> (a_k / t_k, t_k w_k), t_k > 0, and any order of the neurons: the same metrics."""
    t = teacher(signs=signs, seed=seed % 7)
    rng = np.random.default_rng(seed)
    # Half of the neurons near teacher directions, so that assignment and e_ang matter.
    near = unit_rows(t.direction[rng.integers(0, 3, M)] + 0.03 * rng.standard_normal((M, 6)))
    W = np.where(rng.random((M, 1)) < 0.5, near, rng.standard_normal((M, 6))) * rng.uniform(0.2, 2.0, (M, 1))
    a = rng.standard_normal(M)
    scale = rng.uniform(0.1, 10.0, M)
    order = rng.permutation(M)
    before = all_metrics(atoms(a, W), t, lam=0.01)
    after = all_metrics(atoms((a / scale)[order], (W * scale[:, None])[order]), t, lam=0.01)
    E_ANG = 2  # an angle from arccos(cos) near 0 is good to sqrt(2 * 1e-16) ~ 1.5e-8 rad only
    np.testing.assert_allclose(np.delete(after, E_ANG), np.delete(before, E_ANG), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(after[E_ANG], before[E_ANG], rtol=0, atol=1e-7)
    XT = ref.inputs_from_normals(rng.standard_normal((50, 6)), "sphere").T
    np.testing.assert_allclose(ref.output((a / scale)[order], (W * scale[:, None])[order], XT.T),
                               ref.output(a, W, XT.T), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("law", LAWS)
def test_population_loss_matches_monte_carlo(law):
    """The arc-cosine closed form against 400k inputs of either law (within 4 standard errors)."""
    t = teacher(signs="random", seed=2)
    rng = np.random.default_rng(11)
    a, W = rng.standard_normal(5), rng.standard_normal((5, 6))
    XT = ref.inputs_from_normals(rng.standard_normal((400_000, 6)), law)
    half_squares = 0.5 * (ref.output(a, W, XT) - ref.output(t.mass, t.direction, XT)) ** 2
    error = half_squares.std() / np.sqrt(half_squares.size)
    assert abs(population_loss(atoms(a, W), t) - half_squares.mean()) < 4 * error


def test_expected_measure_is_the_teacher_at_lam_0_and_a_minimiser_otherwise():
    t = teacher(d=10, seed=1)
    at_0 = expected_measure(t, 0.0)
    assert np.array_equal(at_0.mass, t.mass) and np.array_equal(at_0.direction, t.direction)

    lam = 0.01
    expected = expected_measure(t, lam)

    def objective(x):  # written through population_loss, without the analytic gradient
        U = x[3:].reshape(3, 10)
        return population_loss(Measure(x[:3], unit_rows(U)), t) + lam * np.abs(x[:3]).sum()

    start = np.r_[t.mass * 0.9, (t.direction + 0.02).ravel()]
    check = minimize(objective, start, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
    np.testing.assert_allclose(expected.mass, check.x[:3], atol=1e-4)
    np.testing.assert_allclose(expected.direction, unit_rows(check.x[3:].reshape(3, 10)), atol=1e-3)
    assert np.all(expected.mass < 0.9)  # shrunk ...
    assert np.all(np.arccos(np.sum(expected.direction * t.direction, axis=1)) > 0.01)  # ... and moved


def test_stray_mass_and_one_to_one_error_with_fewer_student_neurons():
    t = teacher()
    student = atoms(*student_of(Measure(t.mass[:2], t.direction[:2])))  # M = 2 < m = 3
    assert stray_mass(student, t) == 0.0
    assert one_to_one_error(student, t) == pytest.approx(1.0)  # the third is matched to the zero neuron


# ---------------------------------------------------------------- why a run fails (failures.py)

def test_function_error_matches_monte_carlo():
    """||f_student - f_lam|| / ||f_lam|| in closed form against 400k inputs on the sphere (2%)."""
    t = teacher(d=10, signs="random", seed=4)
    expected = expected_measure(t, 0.01)
    rng = np.random.default_rng(5)
    a, W = rng.standard_normal(7), rng.standard_normal((7, 10))
    XT = ref.inputs_from_normals(rng.standard_normal((400_000, 10)), "sphere")
    f_expected = ref.output(expected.mass, expected.direction, XT)
    measured = np.sqrt(np.mean((ref.output(a, W, XT) - f_expected) ** 2) / np.mean(f_expected ** 2))
    assert function_error(atoms(a, W), expected) == pytest.approx(measured, rel=0.02)


def outcome_of(student: Measure, t: Measure, degenerate: bool = False) -> str:
    found = identify(student, t, 0.0)
    row = {"success": int(found.success), "teacher_degenerate": int(degenerate), "e_match": found.e_match,
           "e_stray_lam": found.at_lam.e_stray}
    return outcome(row, function_error(student, found.expected))


def test_each_outcome_from_a_hand_built_student():
    t = teacher(d=10, seed=1)
    rng = np.random.default_rng(7)
    e1, e2 = np.linalg.qr(rng.standard_normal((10, 2)))[0].T
    u = np.array([np.cos(angle) * e1 + np.sin(angle) * e2 for angle in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)])
    assert np.all(np.arccos(np.abs(t.direction @ u.T)) > 0.1)  # far from the teacher's directions
    split = Measure(np.r_[t.mass[0] / 2, t.mass[0] / 2, t.mass[1:]], np.vstack([t.direction[0], t.direction]))
    # pairs of masses +-0.05 at u_i and -u_i, u_1 + u_2 + u_3 = 0: since relu(z) - relu(-z) = z
    # they add 0.05 <u_1 + u_2 + u_3, x> = 0 to the function, and stray mass 0.3 / 3
    invisible = Measure(np.r_[t.mass, 0.05, 0.05, 0.05, -0.05, -0.05, -0.05], np.vstack([t.direction, u, -u]))
    light = Measure(np.r_[0.93, t.mass[1:]], t.direction)   # e_mass 0.07, the function 7% of one neuron off
    missing = Measure(t.mass[1:], t.direction[1:])          # a teacher neuron not learned
    assert outcome_of(atoms(*student_of(t)), t) == IDENTIFIED
    assert outcome_of(atoms(*student_of(split)), t) == SPLIT
    hidden = atoms(*student_of(invisible))
    assert function_error(hidden, t) < 1e-7 and outcome_of(hidden, t) == STRAY
    assert function_error(atoms(*student_of(light)), t) < 0.05 and outcome_of(atoms(*student_of(light)), t) == OFF
    assert function_error(atoms(*student_of(missing)), t) > 0.05
    assert outcome_of(atoms(*student_of(missing)), t) == NOT_FITTED
    assert outcome_of(atoms(*student_of(missing)), t, degenerate=True) == DEGENERATE
