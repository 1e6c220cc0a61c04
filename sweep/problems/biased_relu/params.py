"""The run parameters of the ``biased_relu`` problem (THEORY.md §6.3), with validation.

Every field may appear in a sweep spec, fixed (``params:``) or swept (``grid:``);
``bias_values`` and ``a_range`` are tuples and can only be fixed (a grid coordinate is
one scalar per point). Validation raises :class:`~sweep.problems.parameters.ParamError`
naming the field and the value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sweep.problems.parameters import ProblemParams, param, require, require_at_least, require_choice, require_positive

LEARNERS = ("moments", "sgd", "hybrid")
MOMENT_LEARNERS = ("moments", "hybrid")  # those that run the moment learner (m <= d, two halves)


@dataclass(frozen=True)
class BiasedReluParams(ProblemParams):
    """One run: teacher, sample budget, learner and its optimiser (THEORY.md §6.3)."""

    d: int = param(10, "input dimension; x ~ N(0, I_d)")
    m: int = param(4, "teacher neurons (m <= d for the moments and hybrid learners)")
    beta: float = param(1.0, "biases b_i ~ U[-beta, beta] (ignored when bias_values is given), beta >= 0")
    bias_values: tuple[float, ...] = param((), "explicit biases, one per teacher neuron (e.g. a b = 0 ablation); () "
                                           "draws them from beta. Fixed in a spec only (a grid coordinate is a "
                                           "scalar)")
    a_range: tuple[float, ...] = param((0.5, 1.5), "(lo, hi), 0 < lo <= hi: second-layer weights a_i = +-U[lo, hi] "
                                       "with random signs. Fixed only")
    cond: float = param(1.0, "cond >= 1: teacher directions w_i = normalise(Q diag(1 .. 1/cond) g_i), Q Haar "
                        "orthogonal, g_i ~ N(0, I_d), singular values geometric; 1 = Gaussian directions (the "
                        "realised s_m is stored)")
    N: int = param(100_000, "training samples y = f(x), streamed in chunks; moments/hybrid split them in two halves "
                   "(S1: T_2 and T_3[u]; S2: dual-basis moments); sgd/hybrid cycle through all N (single pass, i.e. "
                   "fresh Gaussian batches, when steps * batch <= N)")
    learner: str = param("moments", "moments (THEORY.md §6.3 steps 1-5), sgd (student with biases from a random "
                         "init), hybrid (moments, least squares for a, then refine_steps SGD steps: step 6)")
    width_factor: int = param(1, "sgd: student neurons m' = m * width_factor")
    lr: float = param(0.02, "SGD step size on the squared loss (1/2) mean (g - y)^2")
    batch: int = param(256, "SGD batch size (batch >= N is full-batch GD on the N samples)")
    steps: int = param(2000, "sgd: SGD steps")
    refine_steps: int = param(500, "hybrid: SGD steps of the refinement (THEORY.md §6.3 step 6)")
    n_test: int = param(10_000, "fresh Gaussian inputs for test_rel_l2")
    data_seed: int = param(0, "redraws the inputs (training stream and test set) for the same teacher")
    seed: int = param(0, "the teacher (W, b, a) and the learner's random choices (the 10 u's, the SGD init)")
    dtype: str = param("float64", "float64 or float32: the arithmetic of the sgd and hybrid gradient steps (moments "
                       "and metrics are float64)")

    @property
    def student_width(self) -> int:
        """Neurons of the trained network: m' = m * width_factor for sgd, m otherwise."""
        return self.m * self.width_factor if self.learner == "sgd" else self.m

    @property
    def gradient_steps(self) -> int:
        """The learner's SGD steps: ``steps`` (sgd), ``refine_steps`` (hybrid), 0 (moments)."""
        return {"sgd": self.steps, "hybrid": self.refine_steps}.get(self.learner, 0)

    def validate(self) -> None:
        require_choice(self, "learner", LEARNERS)
        require(self.dtype in ("float64", "float32"), "dtype", self.dtype, "'float64' or 'float32'")
        require_at_least(self, 1, "d", "m", "N", "width_factor", "batch", "n_test")
        require_at_least(self, 0, "steps", "refine_steps")
        require(math.isfinite(self.beta) and self.beta >= 0, "beta", self.beta, "a finite number >= 0")
        require(math.isfinite(self.cond) and self.cond >= 1, "cond", self.cond,
                "a finite number >= 1 (the condition number of the directions' covariance)")
        require_positive(self, "lr")
        lo_hi = self.a_range
        require(len(lo_hi) == 2 and all(math.isfinite(v) for v in lo_hi) and 0 < lo_hi[0] <= lo_hi[1],
                "a_range", lo_hi, "(lo, hi) with 0 < lo <= hi")
        require(len(self.bias_values) in (0, self.m) and all(math.isfinite(v) for v in self.bias_values),
                "bias_values", self.bias_values, f"() or m = {self.m} finite numbers")
        if self.learner in MOMENT_LEARNERS:
            require(self.m <= self.d, "m", self.m,
                    f"<= d = {self.d} for learner {self.learner!r}: the moment learner decomposes T_2 on its top-m "
                    f"eigenvectors, so it needs m linearly independent directions w_i in R^d (THEORY.md §6.3)")
            least = 2 * self.d
            require(self.N >= least, "N", self.N,
                    f">= 2 d = {least} for learner {self.learner!r}: two halves (S1 for T_2 and T_3[u], S2 for "
                    f"the dual-basis moments) of at least d samples each (THEORY.md §6.3)")
