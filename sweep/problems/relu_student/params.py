"""The run parameters of the ``relu_student`` problem (THEORY.md §6.2), with validation.

Every field may appear in a sweep spec, fixed (``params:``) or swept (``grid:``).
Validation raises :class:`~sweep.problems.parameters.ParamError` naming the field and value;
it draws the teacher (cached), so a separation the sampler cannot reach fails before
any run starts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sweep.problems.parameters import ProblemParams, require, require_at_least, require_choice, require_positive

TEACHER_SIGNS = ("ones", "random")


@dataclass(frozen=True)
class ReluStudentParams(ProblemParams):
    """One run: teacher, data, student, objective, learner and budget (THEORY.md §6.2).

    The defaults are §6.2's reference configuration: d = 10, m = 3, M = 30, fresh
    batches of 2000, conic steps with rho = 4, lr = 0.5, 4000 steps, lam = 0.
    """

    d: int = 10                   # input dimension
    m: int = 3                    # teacher neurons
    teacher_signs: str = "ones"   # teacher output weights: all +1, or random signs
    min_angle_deg: float = 20.0   # teacher separation: every |<w_j, w_l>| <= cos(min_angle)
    inputs: str = "sphere"        # input law: sphere or gaussian
    n: int = 0                    # training points; 0 = a fresh batch every step
    batch: int = 2000             # points per step
    noise: float = 0.0            # label noise std
    M: int = 30                   # student neurons
    lam: float = 0.0              # regularisation strength
    penalty: str = "tv"           # tv or weight_decay
    learner: str = "conic"        # gd or conic
    rho: float = 4.0              # tangential factor of conic
    lr: float = 0.5               # step size eta
    init_scale: float = 0.01      # tau
    steps: int = 4000             # step budget
    tol: float = 0.0              # stop once the relative test MSE is <= tol (0: never)
    data_seed: int = 0            # teacher, training set, test set
    seed: int = 0                 # student init and batches
    dtype: str = "float64"        # float64 or float32 (student and inputs)

    FIELD_DOCS = {
        "d": "input dimension",
        "m": "teacher neurons (unit w_j)",
        "teacher_signs": "teacher output weights a_j: `ones` (all +1) or `random` (+-1) [recon]",
        "min_angle_deg": "teacher separation: redraw until every pair has |<w_j, w_l>| <= cos(min_angle_deg) "
                         "(also excludes near-antipodal pairs) [recon]; an error after 1000 draws",
        "inputs": "input law: `sphere` (Unif(S^{d-1})) or `gaussian` (N(0, I_d/d), the same E||x||^2 = 1) [recon]",
        "n": "training points (fixed set, data_seed); 0 = a fresh batch every step (seed) [recon]",
        "batch": "points per step: the fresh batch size, or a minibatch of the training set (>= n: full batch)",
        "noise": "std of the Gaussian label noise",
        "M": "student neurons",
        "lam": "regularisation strength lambda",
        "penalty": "`tv`: lam sum |a_k| ||w_k|| (total variation of the measure) or `weight_decay`: "
                   "(lam/2) sum (a_k^2 + ||w_k||^2) [recon]",
        "learner": "`gd` (plain gradient descent on (a_k, w_k)) or `conic` (radial/tangential split) [recon]",
        "rho": "tangential factor of `conic` (1 = plain GD; ignored by `gd`) [recon]",
        "lr": "step size eta",
        "init_scale": "tau: a_k = +-tau, w_k = tau * Unif(S^{d-1}) [recon]",
        "steps": "step budget",
        "tol": "stop (status done) once the relative test MSE is <= tol; 0 = run every step",
        "data_seed": "drives the teacher, the training set and the test set",
        "seed": "drives the student's init and the batches (fresh draws or minibatch order)",
        "dtype": "float64 or float32 (student and inputs; metrics always float64)",
    }

    def validate(self) -> None:
        from kernels.relu_student import INPUT_LAWS, LEARNERS, PENALTIES
        from sweep.problems.relu_student.data import make_teacher

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
        make_teacher(self.d, self.m, self.teacher_signs, self.min_angle_deg, self.data_seed)
