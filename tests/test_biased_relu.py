"""The biased_relu science (THEORY.md §6.3): Hermite coefficients against quadrature, the
closed-form moments against Monte Carlo, the moment learner on exact moments, the sign
rule, streamed sums against one-shot NumPy, the SGD kernel against finite differences,
and the recovery metrics on hand-built networks."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from kernels.biased_relu import accumulate_least_squares, network_output, sgd_steps
from kernels.hermite import accumulate_directional, hermite, relu_hermite_coefficient
from sweep.problems.biased_relu import moments as mo
from sweep.problems.biased_relu import samples as sa
from sweep.problems.biased_relu.params import BiasedReluParams
from sweep.problems.biased_relu.recovery import direction_errors, recovery
from sweep.problems.biased_relu.samples import SampleStream
from sweep.problems.biased_relu.teacher import Network, make_teacher


def teacher_of(**changes) -> Network:
    return make_teacher(BiasedReluParams(**changes))


# ---------------------------------------------------------------- Hermite coefficients

@pytest.mark.parametrize("k", range(6))
@pytest.mark.parametrize("b", [-2.5, -0.7, 0.0, 0.3, 1.1, 3.0])
def test_relu_hermite_coefficients_match_quadrature(k, b):
    integrand = lambda z: (z + b) * hermite(k, z) * norm.pdf(z)  # relu(z + b) = z + b on z > -b
    exact, _ = quad(integrand, -b, 15.0, epsabs=1e-12, epsrel=1e-12, limit=200)  # the tail past 15 is < 1e-45
    assert relu_hermite_coefficient(k, b) == pytest.approx(exact, abs=1e-10)


def test_hermite_coefficients_differentiate_into_each_other_and_c3_vanishes_at_zero_bias():
    b, h = np.linspace(-2, 2, 9), 1e-6
    for k in range(5):
        slope = (relu_hermite_coefficient(k, b + h) - relu_hermite_coefficient(k, b - h)) / (2 * h)
        np.testing.assert_allclose(slope, relu_hermite_coefficient(k + 1, b), atol=1e-8)
    assert relu_hermite_coefficient(3, 0.0) == 0.0 and relu_hermite_coefficient(2, 0.0) > 0


# ---------------------------------------------------------------- closed-form moments vs Monte Carlo

def test_population_moments_match_monte_carlo_within_standard_errors():
    teacher = teacher_of(d=4, m=3, beta=1.0, seed=5)
    U = mo.candidate_directions(4, np.random.default_rng(0))[:2]
    exact = mo.population_moments(teacher, U)
    X = np.random.default_rng(1).standard_normal((400_000, 4))
    y = teacher(X)
    eye = np.eye(4)
    He2 = X[:, :, None] * X[:, None, :] - eye                    # He_2(x), per sample
    He3 = (X[:, :, None, None] * X[:, None, :, None] * X[:, None, None, :]  # the full He_3(x), d^3 = 64
           - X[:, :, None, None] * eye[None, None] - X[:, None, :, None] * eye[None, :, None]
           - X[:, None, None, :] * eye[None, :, :, None])
    samples = {"T1": y[:, None] * X, "T2": y[:, None, None] * He2}
    for j, u in enumerate(U):
        samples[f"T3[u{j}]"] = y[:, None, None] * np.einsum("nabc,c->nab", He3, u)
    closed = {"T1": exact.T1, "T2": exact.T2, **{f"T3[u{j}]": exact.T3u[j] for j in range(2)}}
    for name, per_sample in samples.items():
        mean, se = per_sample.mean(0), per_sample.std(0) / np.sqrt(len(y))
        z = np.abs(mean - closed[name]) / se
        assert np.max(z) < 4.5, f"{name}: {np.max(z):.2f} standard errors off"


def test_population_directional_moments_match_monte_carlo():
    teacher = teacher_of(d=5, m=3, beta=1.5, seed=2)
    Q = np.random.default_rng(3).standard_normal((4, 5))
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    X = np.random.default_rng(4).standard_normal((400_000, 5))
    y = teacher(X)
    Z = X @ Q.T
    for k in (1, 2, 3):
        per_sample = y[:, None] * hermite(k, Z)
        se = per_sample.std(0) / np.sqrt(len(y))
        assert np.max(np.abs(per_sample.mean(0) - mo.population_directional(teacher, Q)[k - 1]) / se) < 4.5


# ---------------------------------------------------------------- the learner on exact moments

@pytest.mark.parametrize("d, m, seed", [(6, 6, 0), (8, 5, 1), (10, 3, 2)])
def test_moment_learner_recovers_a_teacher_from_exact_moments(d, m, seed):
    biases = (0.0, -1.4, 0.6, -0.3, 1.1, 0.9)[:m]  # one neuron with b = 0 (two would share the eigenvalue 0)
    teacher = teacher_of(d=d, m=m, bias_values=biases, seed=seed)
    assert np.any(teacher.a < 0) and teacher.b[0] == 0.0
    U = mo.candidate_directions(d, np.random.default_rng(seed))
    estimate = mo.learn(mo.population_moments(teacher, U), m, lambda Q: mo.population_directional(teacher, Q))
    result = recovery(teacher, estimate.network)
    for name in ("err_w", "err_b", "err_a"):
        assert np.max(getattr(result, name)) < 1e-8, name
    assert not result.flipped.any() and not estimate.pencil.imag_flag and estimate.pencil.gap > 0
    # the exact pencil's eigenvalues are -b_i <w_i, u>; its gap is the smallest gap between them
    u = U[estimate.pencil.chosen]
    assert estimate.pencil.gap == pytest.approx(mo.smallest_gap(-teacher.b * (teacher.W @ u)), rel=1e-8)


def test_t3_alone_misses_the_zero_bias_neuron_that_the_pencil_finds():
    teacher = teacher_of(d=6, m=4, bias_values=(0.0, 0.8, -0.6, 1.2), seed=3)
    U = mo.candidate_directions(6, np.random.default_rng(0))
    moments = mo.population_moments(teacher, U)
    pencil = direction_errors(teacher.W, mo.pencil_directions(moments, 4).W)
    t3_only = direction_errors(teacher.W, mo.t3_only_directions(moments, 4))
    assert np.max(pencil) < 1e-8
    assert t3_only[0] > 0.1 and np.max(t3_only[1:]) < 1e-6  # only the b = 0 neuron is lost


def test_sign_rule_restores_neurons_flipped_by_hand():
    teacher = teacher_of(d=7, m=5, beta=1.5, seed=4)
    flip = np.array([1.0, -1.0, 1.0, -1.0, -1.0])
    estimate = mo.network_from_directions(teacher.W * flip[:, None], lambda Q: mo.population_directional(teacher, Q))
    np.testing.assert_allclose(estimate.W, teacher.W, atol=1e-10)
    np.testing.assert_allclose(estimate.b, teacher.b, atol=1e-10)
    np.testing.assert_allclose(estimate.a, teacher.a, atol=1e-10)


# ---------------------------------------------------------------- streaming

def test_streamed_moments_equal_the_one_shot_estimate_on_the_same_samples():
    teacher = teacher_of(d=5, m=3, seed=1)
    stream = SampleStream(teacher, N=300_000, data_seed=2, seed=1)  # S1: 3 chunks, many BLAS blocks
    U = mo.candidate_directions(5, np.random.default_rng(0))
    streamed = mo.estimate_moments(stream, U)
    X = np.concatenate([X for X, _ in stream.chunks(1)])
    y = teacher(X)
    n = len(y)
    T1 = X.T @ y / n
    np.testing.assert_allclose(streamed.T1, T1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(streamed.T2, (X * y[:, None]).T @ X / n - y.mean() * np.eye(5), rtol=0, atol=1e-12)
    for u, T3u in zip(U, streamed.T3u):
        xu = X @ u
        one_shot = ((X * (y * xu)[:, None]).T @ X / n - np.outer(T1, u) - np.outer(u, T1)
                    - np.mean(y * xu) * np.eye(5))
        np.testing.assert_allclose(T3u, one_shot, rtol=0, atol=1e-12)
    Q = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 3)))[0].T
    X2 = np.concatenate([X for X, _ in stream.chunks(2)])
    Z, y2 = X2 @ Q.T, teacher(X2)
    expected = np.stack([np.mean(y2[:, None] * hermite(k, Z), axis=0) for k in (1, 2, 3)])
    np.testing.assert_allclose(mo.estimate_directional(stream, Q), expected, rtol=0, atol=1e-12)


def test_memory_of_the_moment_estimate_stays_flat_when_N_grows_tenfold():
    """Peak traced (NumPy) memory with S1 of 3 chunks and of 23 chunks: both hold at most
    two chunks and their temporaries (the Numba kernels allocate one feature block)."""
    teacher = teacher_of(d=4, m=3, seed=0)
    U = mo.candidate_directions(4, np.random.default_rng(0))
    mo.estimate_moments(SampleStream(teacher, N=1000, data_seed=0, seed=0), U)  # compiled, warm
    peaks = []
    for N in (300_000, 3_000_000):
        tracemalloc.start()
        mo.estimate_moments(SampleStream(teacher, N=N, data_seed=0, seed=0), U)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    chunk_bytes = sa.CHUNK_ROWS * 4 * 8
    assert peaks[1] < 1.05 * peaks[0] and peaks[1] < 8 * chunk_bytes, peaks


def test_batches_cycle_through_the_N_samples_in_order():
    teacher = teacher_of(d=3, m=2)
    stream = SampleStream(teacher, N=1001, data_seed=0, seed=0)
    everything = np.concatenate([X for X, _ in stream.all_chunks()])
    blocks = stream.batches(300)
    seen = np.concatenate([next(blocks)[0] for _ in range(5)])
    assert seen.shape[0] % 300 == 0 and seen.shape[0] >= 1500
    np.testing.assert_array_equal(seen[:1001], everything)
    again = seen[1001:2002]  # the second pass starts over
    np.testing.assert_array_equal(again, everything[: again.shape[0]])


# ---------------------------------------------------------------- kernels of the gradient learners

def batch_loss(X, y, W, b, a):
    return 0.5 * np.mean((np.maximum(X @ W.T + b, 0) @ a - y) ** 2)


def test_sgd_step_follows_the_finite_difference_gradient():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 4)), rng.standard_normal(64)
    W, b, a = rng.standard_normal((3, 4)), rng.standard_normal(3) * 0.3, rng.standard_normal(3)
    theta = np.concatenate([W.ravel(), b, a])

    def loss(t):
        return batch_loss(X, y, t[:12].reshape(3, 4), t[12:15], t[15:])

    h = 1e-6
    gradient = np.array([(loss(theta + h * e) - loss(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    W1, b1, a1, losses = W.copy(), b.copy(), a.copy(), np.empty(1)
    assert sgd_steps(X, y, W1, b1, a1, 0.1, 64, 1, losses) == 1
    assert losses[0] == pytest.approx(loss(theta), rel=1e-12)
    np.testing.assert_allclose(np.concatenate([W1.ravel(), b1, a1]), theta - 0.1 * gradient, atol=1e-8)


def test_sgd_steps_walk_consecutive_batches_and_stop_on_a_non_finite_loss():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    W, b, a = rng.standard_normal((2, 3)), np.zeros(2), np.ones(2)
    W1, b1, a1, losses = W.copy(), b.copy(), a.copy(), np.empty(3)
    sgd_steps(X, y, W1, b1, a1, 0.05, 10, 3, losses)
    for s in range(3):
        assert losses[s] == pytest.approx(batch_loss(X[10 * s:10 * s + 10], y[10 * s:10 * s + 10], W, b, a))
        W2, b2, a2 = W.copy(), b.copy(), a.copy()
        sgd_steps(X[10 * s:], y[10 * s:], W2, b2, a2, 0.05, 10, 1, np.empty(1))
        W, b, a = W2, b2, a2
    np.testing.assert_allclose(W1, W, atol=1e-14)
    y_bad = y.copy()
    y_bad[12] = np.inf
    assert sgd_steps(X, y_bad, W.copy(), b.copy(), a.copy(), 0.05, 10, 3, np.empty(3)) == 1


def test_network_output_and_least_squares_match_numpy():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((5000, 4)), rng.standard_normal(5000)
    net = Network(rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal(3))
    out = np.empty(5000)
    network_output(X, net.W, net.b, net.a, out)
    np.testing.assert_allclose(out, net(X), atol=1e-12)
    total, compensation = np.zeros((3, 4)), np.zeros((3, 4))
    accumulate_least_squares(X, y, net.W, net.b, total, compensation)
    H = np.maximum(X @ net.W.T + net.b, 0)
    np.testing.assert_allclose(total + compensation, np.column_stack([H.T @ H, H.T @ y]), rtol=1e-12)


def test_directional_kernel_matches_numpy():
    rng = np.random.default_rng(3)
    X, y, Q = rng.standard_normal((3000, 4)), rng.standard_normal(3000), rng.standard_normal((2, 4))
    total, compensation = np.zeros((3, 2)), np.zeros((3, 2))
    accumulate_directional(X, y, Q, total, compensation)
    Z = X @ Q.T
    expected = np.stack([np.sum(y[:, None] * hermite(k, Z), axis=0) for k in (1, 2, 3)])
    np.testing.assert_allclose(total + compensation, expected, rtol=1e-12)


# ---------------------------------------------------------------- recovery metrics on hand-built networks

def test_recovery_matches_permuted_rescaled_and_flipped_neurons():
    teacher = teacher_of(d=4, m=3, seed=0)
    order = np.array([2, 0, 1])
    scale = np.array([2.0, 0.5, 3.0])
    learned = Network(teacher.W[order] * scale[:, None], teacher.b[order] * scale, teacher.a[order] / scale)
    exact = recovery(teacher, learned)
    assert max(np.max(getattr(exact, name)) for name in ("err_w", "err_b", "err_a")) < 1e-12
    flipped = Network(learned.W * np.array([[1.0], [-1.0], [1.0]]), learned.b * np.array([1.0, -1.0, 1.0]), learned.a)
    result = recovery(teacher, flipped)
    assert result.flipped.tolist() == [True, False, False]  # learned neuron 1 is teacher neuron 0
    assert result.err_w[0] == pytest.approx(2.0) and result.err_b[0] == pytest.approx(2 * abs(teacher.b[0]))
    assert np.max(result.err_w_sign_agnostic) < 1e-12 and np.max(result.err_b_sign_agnostic) < 1e-12
    assert result.scalars()["flipped"] == 1


def test_a_wider_student_leaves_its_extra_neurons_unmatched():
    teacher = teacher_of(d=5, m=2, seed=1)
    noise = Network(np.eye(5)[:3], np.zeros(3), np.zeros(3))
    student = Network(np.vstack([noise.W, teacher.W]), np.concatenate([noise.b, teacher.b]),
                      np.concatenate([noise.a, teacher.a]))
    assert max(recovery(teacher, student).scalars()[name] for name in ("err_w", "err_b", "err_a")) < 1e-12
