"""The run parameters of the ``relu_pgd`` problem (THEORY.md §6.1), with validation.

Every field may appear in a sweep spec, either fixed (``params:``) or swept (``grid:``).
Validation raises :class:`~sweep.problems.parameters.ParamError` naming the field and value.
This module imports no kernels (the spec validates with it).
"""
from __future__ import annotations

from dataclasses import dataclass

from sweep.problems.parameters import ProblemParams, param, require, require_at_least, require_choice, require_positive

# The sets K of THEORY.md §6.1, by the names of kernels.projections.PROJECTIONS.
CONSTRAINTS = ("l0", "l1", "none")


@dataclass(frozen=True)
class ReluPGDParams(ProblemParams):
    """One run: teacher, data, constraint set and PGD schedule (THEORY.md §6.1)."""

    d: int = param(1000, "input dimension")
    n: int = param(800, "training points (may be < d)")
    n_test: int = param(1000, "fresh inputs on which test_rel_err is measured")
    s: int = param(20, "teacher sparsity: non-zeros of w* (support uniform, Gaussian values, ||w*|| = 1); s = d is "
                   "dense")
    constraint: str = param("l0", "K: `l0` (at most s non-zeros, hard thresholding), `l1` (||w||_1 <= ||w*||_1, "
                            "Euclidean projection onto the l1 ball) or `none` (R^d)")
    iterations: int = param(40, "T: PGD steps from w_0 = 0")
    mu0: float = param(2.0, "step size of the first step (2: w_1 = P_K((2/n) sum y_i x_i) with relu'(0) = 1/2)")
    mu: float = param(1.0, "step size of the steps t >= 1 (1 is the Newton step at w*)")
    relu_slope_at_zero: float = param(0.5, "relu'(0) in the gradient, in [0, 1]: 1/2 (THEORY.md §6.1); with 0 PGD "
                                      "never leaves 0")
    data_seed: int = param(0, "with seed, indexes one draw of teacher, training inputs and test inputs")
    seed: int = param(0, "with data_seed, indexes the draw (PGD from 0 is deterministic)")
    dtype: str = param("float64", "float64 or float32 (X, y and the iterates; metrics in float64). float32 iterates "
                       "stall at rel_err ~ 2-3e-8, above 2^-t from t ~ 26 on (the contraction fit stops at 1e-6, above it)")

    def validate(self) -> None:
        require(self.dtype in ("float64", "float32"), "dtype", self.dtype, "'float64' or 'float32'")
        require_choice(self, "constraint", CONSTRAINTS)
        require_at_least(self, 1, "d", "n", "n_test", "iterations")
        radius = " (the l1 radius ||w*||_1 would be 0)" if self.constraint == "l1" else ""
        require(self.s >= 1, "s", self.s, f">= 1: the teacher needs a non-zero{radius}")
        require(self.s <= self.d, "s", self.s, f"<= d = {self.d}")
        require_positive(self, "mu0", "mu")
        require(0.0 <= self.relu_slope_at_zero <= 1.0, "relu_slope_at_zero", self.relu_slope_at_zero, "in [0, 1]")

    def batch_key(self) -> tuple:
        """What the runs of one ``run_many`` call share: the shapes of their arrays and their steps."""
        return self.d, self.s, self.n, self.n_test, self.iterations, self.dtype
