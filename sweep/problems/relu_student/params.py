"""The run parameters of the ``relu_student`` problem (THEORY.md §6.2), with validation.

Every field may appear in a sweep spec, fixed (``params:``) or swept (``grid:``).
Validation raises :class:`~sweep.problems.parameters.ParamError` naming the field and
value, with names and numbers alone: a teacher separation no m lines in R^d can keep
(:func:`max_separated_lines`) fails before any run starts; one the sampler does not find
in its bounded draws (data.py) fails the run that draws it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sweep.problems.parameters import ProblemParams, param, require, require_at_least, require_choice, require_positive

# The names a parameter may take; INPUT_LAWS, PENALTIES and LEARNERS are the keys of the
# dicts of the same names in kernels/relu_student.py (tests/test_problems.py checks they match).
TEACHER_SIGNS = ("ones", "random")
INPUT_LAWS = ("sphere", "gaussian")
PENALTIES = ("tv", "weight_decay")
LEARNERS = ("gd", "conic")


@dataclass(frozen=True)
class ReluStudentParams(ProblemParams):
    """One run: teacher, data, student, objective, learner and budget (THEORY.md §6.2).

    The defaults are §6.2's reference configuration: d = 10, m = 3, M = 30, fresh
    batches of 2000, conic steps with rho = 4, lr = 0.5, 4000 steps, lam = 0.
    """

    d: int = param(10, "input dimension")
    m: int = param(3, "teacher neurons (unit w_j)")
    teacher_signs: str = param("ones", "teacher output weights a_j: `ones` (all +1) or `random` (+-1) [recon]")
    min_angle_deg: float = param(20.0, "teacher separation: redraw until every pair has |<w_j, w_l>| <= "
                                 "cos(min_angle_deg) (also excludes near-antipodal pairs) [recon]; the run fails "
                                 "after 1000 draws")
    inputs: str = param("sphere", "input law: `sphere` (Unif(S^{d-1})) or `gaussian` (N(0, I_d/d), the same E||x||^2 "
                        "= 1) [recon]")
    n: int = param(0, "training points (fixed set, data_seed); 0 = a fresh batch every step (seed) [recon]")
    batch: int = param(2000, "points per step: the fresh batch size, or a minibatch of the training set (>= n: full "
                       "batch)")
    noise: float = param(0.0, "std of the Gaussian label noise")
    M: int = param(30, "student neurons")
    lam: float = param(0.0, "regularisation strength lambda")
    penalty: str = param("tv", "`tv`: lam sum |a_k| ||w_k|| (total variation of the measure) or `weight_decay`: "
                         "(lam/2) sum (a_k^2 + ||w_k||^2) [recon]")
    learner: str = param("conic", "`gd` (plain gradient descent on (a_k, w_k)) or `conic` (radial/tangential split) "
                         "[recon]")
    rho: float = param(4.0, "tangential factor of `conic` (1 = plain GD; ignored by `gd`) [recon]")
    lr: float = param(0.5, "step size eta")
    init_scale: float = param(0.01, "tau: a_k = +-tau, w_k = tau * Unif(S^{d-1}) [recon]")
    steps: int = param(4000, "step budget")
    tol: float = param(0.0, "stop (status done) once the relative test MSE is <= tol; 0 = run every step")
    data_seed: int = param(0, "drives the teacher, the training set and the test set")
    seed: int = param(0, "drives the student's init and the batches (fresh draws or minibatch order)")
    dtype: str = param("float64", "float64 or float32 (student and inputs; metrics always float64)")

    def validate(self) -> None:
        require_choice(self, "teacher_signs", TEACHER_SIGNS)
        require_choice(self, "inputs", INPUT_LAWS)
        require_choice(self, "penalty", PENALTIES)
        require_choice(self, "learner", LEARNERS)
        require(self.dtype in ("float64", "float32"), "dtype", self.dtype, "'float64' or 'float32'")
        require_at_least(self, 1, "d", "m", "M", "batch", "steps")
        require_at_least(self, 0, "n")
        require_positive(self, "lr", "init_scale", "rho")
        for name in ("lam", "noise", "tol"):
            value = getattr(self, name)
            require(math.isfinite(value) and value >= 0, name, value, "a finite number >= 0")
        require(0 <= self.min_angle_deg <= 90, "min_angle_deg", self.min_angle_deg, "in [0, 90]")
        most = max_separated_lines(self.d, self.min_angle_deg)
        require(self.m <= most, "min_angle_deg", self.min_angle_deg,
                f"an angle that m = {self.m} lines through 0 in R^{self.d} can keep pairwise (at most {most} can "
                f"keep it): lower min_angle_deg or m")


def max_separated_lines(d: int, min_angle_deg: float) -> float:
    """An upper bound on how many lines through 0 in R^d keep pairwise angles >= min_angle_deg
    (unit vectors w_j with |<w_j, w_l>| <= c = cos(min_angle_deg); inf where no bound applies).

    Exact in R^1 (one line) and R^2 (floor(180 / angle)); in R^d with d c^2 < 1 the relative
    bound d (1 - c^2) / (1 - d c^2), from ||G||_F^2 >= m^2 / d for the Gram matrix G of m
    such vectors.
    """
    if min_angle_deg == 0:
        return math.inf
    if d == 1:
        return 1
    if d == 2:
        return math.floor(180 / min_angle_deg + 1e-9)
    c2 = math.cos(math.radians(min_angle_deg)) ** 2
    return math.floor(d * (1 - c2) / (1 - d * c2) + 1e-9) if d * c2 < 1 else math.inf
