"""The run parameters of the ``separable`` problem (THEORY.md §1-2), with validation.

Every field may appear in a sweep spec, either fixed (``params:``) or swept (``grid:``).
Validation raises :class:`~sweep.problems.parameters.ParamError` naming the field and value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sweep.problems.parameters import ProblemParams, param, require, require_at_least, require_choice, require_positive


# The names `dataset`, `optimizer` and `init` may take: the keys of datasets.DATASETS,
# optimizers.OPTIMIZERS and run.INITS (tests/test_problems.py checks they match), listed
# here so that a spec validates without loading the numerics.
MNIST_PAIRS = ((0, 1), (3, 5),                                  # paper Fig. 2
               (1, 7), (2, 3), (4, 9), (5, 8), (6, 8), (7, 9))  # more pairs, paper Fig. 6 (App. D.2)
DATASETS = ("linear_teacher", "gaussians", "gaussians_skewed", "gaussians_outlier", "two_point",
            *(f"mnist_{positive}_{negative}" for positive, negative in MNIST_PAIRS))
OPTIMIZERS = ("sgd", "gd", "gd_normalised")
INITS = ("gaussian", "dead_rows")
BOUNDED_OPTIMIZERS = ("sgd",)  # those whose E_clean Theorem 4.1 bounds (THEORY.md §2)

# The parameters that may differ between runs trained together (kernels.sgd_train_many
# takes one W0, seed, alpha, lr, eps and v per run on one training set).
RUN_FIELDS = frozenset({"seed", "init", "init_scale", "alpha", "v", "lr", "eps", "save_weights"})


@dataclass(frozen=True)
class SeparableParams(ProblemParams):
    """One run: data set, network, optimiser and stopping rule (THEORY.md §1-2)."""

    dataset: str = param("linear_teacher", "data set, a key of `datasets.DATASETS`: linear_teacher, gaussians, "
                         "gaussians_outlier, gaussians_skewed, two_point (BOUND.md Prop. 7: x = (1, 1) labelled +1, (-1, 1) "
                         "labelled -1; needs n = 2), mnist_P_N (MNIST digit P labelled +1 against N)")
    n: int = param(200, "training points")
    n_test: int = param(500, "held-out points")
    d: int = param(20, "input dimension (ignored by MNIST: 784, and two_point: 2)")
    margin: float = param(0.05, "gamma: points closer than this to the teacher's hyperplane are rejected")
    spread: float = param(0.25, "std of each coordinate in the Gaussian data sets")
    bias: bool = param(False, "append a constant coordinate 1 to every x (paper App. K)")
    data_seed: int = param(0, "drives the data")
    seed: int = param(0, "drives W0 and the visiting orders")
    width: int = param(16, "k: neurons of each sign (2k in all)")
    alpha: float = param(0.1, "Leaky-ReLU slope in [0, 1); 0 is ReLU (no Theorem 4.1 bound)")
    v: float = param(1.0, "fixed second-layer weight")
    init: str = param("gaussian", "W0: gaussian (Gaussian rows of expected norm init_scale) or dead_rows (every row "
                      "-B e_d, B = z_eps / (k alpha v) + 4 lr v alpha: BOUND.md Prop. 7's worst-case start, dead on "
                      "every point with last coordinate > 0; init_scale ignored)")
    init_scale: float = param(0.01, "expected row norm of W0 (the realised max, R_0, is recorded)")
    optimizer: str = param("sgd", "sgd (per-sample, THEORY.md §1), gd (full batch, §4) or gd_normalised (full batch, "
                           "step lr / L_S, §4)")
    lr: float = param(0.05, "learning rate eta")
    eps: float = param(0.01, "loss level of E_clean and E_conv")
    max_epochs: int = param(1000, "epoch budget")
    stop_early: bool = param(True, "stop once E_clean and E_conv are both reached")
    dtype: str = param("float64", "float64 or float32 (X and W)")
    record_metrics: bool = param(True, "metrics along training (THEORY.md §3-4) at the recorded epochs")
    save_weights: bool = param(False, "keep the final W in the store (`weights`)")
    save_weight_history: bool = param(False, "keep W at every recorded epoch (`weight_history`; figures that follow "
                                      "the neurons)")

    def batch_key(self) -> tuple:
        """Equal for runs that can train in one batched call (``run.train_many``): the
        same data set, network shape, optimiser and schedule; only RUN_FIELDS differ."""
        return tuple(value for name, value in self.as_dict().items() if name not in RUN_FIELDS)

    def validate(self) -> None:
        require_choice(self, "dataset", DATASETS)
        require_choice(self, "optimizer", OPTIMIZERS)
        require_choice(self, "init", INITS)
        require(self.dataset != "two_point" or self.n == 2, "n", self.n, "2 for the data set 'two_point'")
        require(self.dtype in ("float64", "float32"), "dtype", self.dtype, "'float64' or 'float32'")
        require_at_least(self, 1, "n", "n_test", "d", "width", "max_epochs")
        require(0.0 <= self.alpha < 1.0, "alpha", self.alpha, "in [0, 1)")
        require_positive(self, "v", "lr", "eps", "init_scale", "spread")
        require(math.isfinite(self.margin) and self.margin >= 0, "margin", self.margin, "a finite number >= 0")
        if self.init == "dead_rows":  # B = z_eps / (k alpha v) + ... must be finite and > 0 (BOUND.md Prop. 7)
            require(self.alpha > 0, "alpha", self.alpha, "> 0 for init 'dead_rows'")
            require(self.eps < math.log(2), "eps", self.eps, "< log 2 for init 'dead_rows'")
