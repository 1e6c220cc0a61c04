"""The moment learner of THEORY.md §6.3, steps 1-5, and the closed-form moments it estimates.

1. On S1: A = mean y (x x^T - I) (T_2) and B_j = T_3[u_j] for N_CANDIDATES random unit u_j
   (:func:`estimate_moments`; :func:`population_moments` gives the exact ones).
2. U = top-m eigenvectors of A by |eigenvalue|; the eigenvectors V of
   (U^T B_j U)(U^T A U)^{-1} give w_hat_i = normalise(U V_i); the u_j whose real
   eigenvalues have the largest smallest gap is kept (:func:`pencil_directions`).
3. On S2: the dual basis P (P W_hat^T = I), lam_{k,i} = ||p_i||^k mean y He_k(<x, q_i>),
   q_i = p_i / ||p_i|| (:func:`estimate_directional`; :func:`population_directional`).
4.-5. b_i = -lam_3/lam_2, a_i = lam_2/phi(b_i), and the sign rule from lam_1
   (:func:`network_from_directions`).

:func:`t3_only_directions` is the ablation the pencil is anchored against: Jennrich's
decomposition of two contractions of T_3 alone, blind to a neuron with b = 0 (c_3(0) = 0).
Moments are float64; nothing of size d^3 is formed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from kernels.hermite import (DIRECTIONAL_ORDERS, accumulate_directional, accumulate_moments, feature_count,
                             moments_from_sums, normal_pdf, relu_hermite_coefficient)
from sweep.problems.biased_relu.samples import SampleStream
from sweep.problems.biased_relu.teacher import Network

N_CANDIDATES = 10            # random contraction directions u tried (THEORY.md §6.3 step 2)
IMAGINARY_TOLERANCE = 1e-3   # imag_flag: |Im V| above this share of |Re V| (largest entries)


@dataclass(frozen=True)
class Moments:
    """T_1 (d,), T_2 (d, d) and T_3[u_j] (r, d, d) for the unit rows u_j of U (r, d)."""

    T1: np.ndarray
    T2: np.ndarray
    T3u: np.ndarray
    U: np.ndarray


@dataclass(frozen=True)
class Pencil:
    """The directions of step 2: unit rows W (m, d), the smallest gap between the real
    parts of the chosen pencil's eigenvalues, the chosen candidate, and whether the
    eigenvectors had imaginary parts above IMAGINARY_TOLERANCE of their real parts."""

    W: np.ndarray
    gap: float
    chosen: int
    imag_flag: bool


def candidate_directions(d: int, rng: np.random.Generator) -> np.ndarray:
    """N_CANDIDATES uniform random unit vectors u_j (rows)."""
    U = rng.standard_normal((N_CANDIDATES, d))
    return U / np.linalg.norm(U, axis=1, keepdims=True)


def estimate_moments(samples: SampleStream, U: np.ndarray) -> Moments:
    """T_1, T_2 and T_3[u_j] estimated on S1, streamed chunk by chunk (float64,
    compensated sums; memory independent of N)."""
    shape = (U.shape[0] + 1, feature_count(samples.d))
    total, compensation = np.zeros(shape), np.zeros(shape)
    for X, y in samples.chunks(1):
        accumulate_moments(X, y, U, total, compensation)
    return Moments(*moments_from_sums(total, compensation, samples.half_size(1), U), U)


def population_moments(teacher: Network, U: np.ndarray) -> Moments:
    """The exact T_1 = sum a_i c_1(b_i) w_i, T_2 = sum a_i c_2(b_i) w_i w_i^T and
    T_3[u] = sum a_i c_3(b_i) <w_i, u> w_i w_i^T of a canonical network (THEORY.md §6.3)."""
    W, b, a = teacher.W, teacher.b, teacher.a
    weight = [a * relu_hermite_coefficient(k, b) for k in (1, 2, 3)]
    T3u = np.stack([(W.T * (weight[2] * (W @ u))) @ W for u in U])
    return Moments(W.T @ weight[0], (W.T * weight[1]) @ W, T3u, U)


def top_eigenvectors(matrix: np.ndarray, m: int) -> np.ndarray:
    """The m eigenvectors (columns) of a symmetric matrix with the largest |eigenvalue|."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return vectors[:, np.argsort(-np.abs(values))[:m]]


def smallest_gap(values: np.ndarray) -> float:
    """min_{i != k} |Re lam_i - Re lam_k| (inf for one eigenvalue)."""
    real = np.sort(values.real)
    return float(np.min(np.diff(real))) if real.size > 1 else np.inf


def _eigen_directions(U: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, bool]:
    """Unit rows normalise(Re(U V_i)), and whether Im V exceeded IMAGINARY_TOLERANCE of Re V."""
    imaginary = np.max(np.abs(vectors.imag)) > IMAGINARY_TOLERANCE * np.max(np.abs(vectors.real))
    W = (U @ vectors.real).T
    return W / np.linalg.norm(W, axis=1, keepdims=True), bool(imaginary)


def pencil_directions(moments: Moments, m: int) -> Pencil:
    """Step 2: the pencil (U^T B_j U)(U^T A U)^{-1} anchored on T_2, best candidate u_j by gap.

    Its population eigenvalues are c_3(b_i)/c_2(b_i) <w_i, u> = -b_i <w_i, u>, distinct
    for almost every u when at most one b_i = 0 (two zero-bias neurons share the eigenvalue
    0 for every u, and T_2, T_3 cannot separate them: a limit of this algorithm). Raises
    numpy.linalg.LinAlgError when U^T A U is singular.
    """
    U = top_eigenvectors(moments.T2, m)
    anchor_inverse = np.linalg.inv(U.T @ moments.T2 @ U)
    best = None
    for j, B in enumerate(moments.T3u):
        values, vectors = np.linalg.eig((U.T @ B @ U) @ anchor_inverse)
        gap = smallest_gap(values)
        if best is None or gap > best[0]:
            best = (gap, j, vectors)
    gap, chosen, vectors = best
    W, imaginary = _eigen_directions(U, vectors)
    return Pencil(W, gap, chosen, imaginary)


def t3_only_directions(moments: Moments, m: int) -> np.ndarray:
    """The ablation of THEORY.md §6.3: Jennrich's decomposition of contractions of T_3
    alone, as strong as the pencil otherwise is. U = the top-m left singular vectors of
    [T_3[u_1] .. T_3[u_r]]; the anchor is the T_3[u_k] whose U^T T_3[u_k] U has the
    largest smallest |eigenvalue|; the directions are the eigenvectors of
    (U^T T_3[u_j] U)(U^T T_3[u_k] U)^{-1} for the j != k of largest gap (real parts, unit
    rows). A neuron with b = 0 is absent from every T_3[u] (c_3(0) = 0), so its direction
    is not recovered. ``pinv`` keeps a singular anchor from raising."""
    U = np.linalg.svd(np.hstack(list(moments.T3u)), full_matrices=False)[0][:, :m]
    projected = [U.T @ B @ U for B in moments.T3u]
    anchor = int(np.argmax([np.min(np.abs(np.linalg.eigvalsh((P + P.T) / 2))) for P in projected]))
    anchor_inverse = np.linalg.pinv(projected[anchor])
    best = None
    for j, P in enumerate(projected):
        if j != anchor:
            values, vectors = np.linalg.eig(P @ anchor_inverse)
            if best is None or smallest_gap(values) > best[0]:
                best = (smallest_gap(values), vectors)
    return _eigen_directions(U, best[1])[0]


def dual_basis(W: np.ndarray) -> np.ndarray:
    """P (m, d) with P W^T = I: the rows p_i dual to the rows w_i (P = pinv(W^T))."""
    return np.linalg.pinv(W.T)


def estimate_directional(samples: SampleStream, Q: np.ndarray) -> np.ndarray:
    """mean y He_k(<x, q_i>) over S2 for k = 1..3 (rows) and the unit rows q_i of Q (columns)."""
    shape = (DIRECTIONAL_ORDERS, Q.shape[0])
    total, compensation = np.zeros(shape), np.zeros(shape)
    for X, y in samples.chunks(2):
        accumulate_directional(X, y, Q, total, compensation)
    return (total + compensation) / samples.half_size(2)


def population_directional(teacher: Network, Q: np.ndarray) -> np.ndarray:
    """The exact E[y He_k(<x, q_i>)] = sum_j a_j c_k(b_j) <w_j, q_i>^k, k = 1..3, of a
    canonical network, for unit rows q_i of Q."""
    overlaps = teacher.W @ Q.T  # (teacher neuron j, direction i)
    return np.stack([(teacher.a * relu_hermite_coefficient(k, teacher.b)) @ overlaps ** k
                     for k in range(1, DIRECTIONAL_ORDERS + 1)])


def network_from_directions(W: np.ndarray, directional: Callable[[np.ndarray], np.ndarray]) -> Network:
    """Steps 3-5: from unit directions W (m, d) and ``directional(Q)`` (the mean
    y He_k(<x, q_i>), k = 1..3, e.g. :func:`estimate_directional` on S2), the network.

    lam_{k,i} = ||p_i||^k directional(Q)[k-1, i] with q_i = p_i/||p_i||, p_i the dual
    basis; b_i = -lam_3/lam_2, a_i = lam_2/phi(b_i); (w_i, b_i) is replaced by
    (-w_i, -b_i) when lam_1 is closer to a_i (Phi(b_i) - 1) than to a_i Phi(b_i)
    (THEORY.md §6.3 step 5; T_1 is the only moment that tells the two apart). A
    noise-dominated lam_2 can give |b_i| so large that phi(b_i) underflows: a_i is then
    +-inf (the run records it as it is).
    """
    P = dual_basis(W)
    norms = np.linalg.norm(P, axis=1)
    lam = directional(P / norms[:, None]) * norms ** np.arange(1, DIRECTIONAL_ORDERS + 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # noise-dominated lam: |b| so large that phi(b) = 0
        b = -lam[2] / lam[1]
        a = lam[1] / normal_pdf(b)
        Phi = relu_hermite_coefficient(1, b)
        keep = np.abs(lam[0] - a * Phi) <= np.abs(lam[0] - a * (Phi - 1.0))
    sign = np.where(keep, 1.0, -1.0)
    return Network(W * sign[:, None], b * sign, a)


@dataclass(frozen=True)
class MomentEstimate:
    """What the moment learner returns: the network, its pencil, the moments it used
    and the directions of the T_3-only ablation."""

    network: Network
    pencil: Pencil
    moments: Moments
    t3_only: np.ndarray


def learn(moments: Moments, m: int, directional: Callable[[np.ndarray], np.ndarray]) -> MomentEstimate:
    """Steps 2-5 from the moments of S1 and the directional moments of S2 (either
    estimated or exact)."""
    pencil = pencil_directions(moments, m)
    return MomentEstimate(network_from_directions(pencil.W, directional), pencil, moments,
                          t3_only_directions(moments, m))


def learn_from_samples(samples: SampleStream, m: int, rng: np.random.Generator) -> MomentEstimate:
    """The moment learner on a run's samples: moments on S1, directional moments on S2."""
    moments = estimate_moments(samples, candidate_directions(samples.d, rng))
    return learn(moments, m, lambda Q: estimate_directional(samples, Q))
