"""What one run records: the variables of the results store, in one table.

``train_one`` fills exactly these; the store lays out exactly these. Scalars have the
grid's dims; curves add the ``epoch`` dim (the epochs of :func:`recorded_epochs`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.metrics import METRIC_LONG_NAMES, METRIC_NAMES, METRIC_UNITS

# status codes (CF flag_values / flag_meanings in the store)
STATUS = {"done": 0, "diverged": 1, "max_epochs": 2, "failed": 3}
STATUS_NOT_RUN = -1


@dataclass(frozen=True)
class Variable:
    name: str
    dtype: str
    fill: float | int
    units: str
    long_name: str


SCALARS = (
    Variable("epochs_clean", "int32", -1, "epochs", "E_clean: first epoch in which every sampled point had loss < eps (THEORY.md §2)"),
    Variable("epochs_conv", "int32", -1, "epochs", "E_conv: first epoch ending with training loss < eps (THEORY.md §2)"),
    Variable("epochs_bound", "float64", np.nan, "epochs", "Theorem 4.1 bound E_bound on E_clean (THEORY.md §2)"),
    Variable("epochs_bound_instance", "float64", np.nan, "epochs", "instance-specific Theorem 4.1 bound from F(W0), G(W0) (THEORY.md §2)"),
    Variable("epochs_run", "int32", -1, "epochs", "epochs trained before stopping"),
    Variable("final_loss", "float64", np.nan, "nats", "training loss L_S at the end of the run"),
    Variable("train_acc", "float64", np.nan, "1", "training accuracy at the end of the run"),
    Variable("test_acc", "float64", np.nan, "1", "held-out accuracy at the end of the run"),
    Variable("margin_s", "float64", np.nan, "1", "s = ||w*|| of the hard-margin SVM without bias (1/geometric margin); NaN if not separable"),
    Variable("R_x", "float64", np.nan, "1", "R_x = max_i ||x_i|| over the training set"),
    Variable("R_0", "float64", np.nan, "1", "R_0 = realised max row norm of W0"),
    Variable("status", "int8", STATUS_NOT_RUN, "1", "run status"),
    Variable("wall_time", "float64", np.nan, "s", "wall time of the run (data, SVM, training, metrics)"),
)

CURVES = (
    Variable("loss", "float64", np.nan, "nats", "training loss L_S at the end of the epoch"),
    *(Variable(name, "float64", np.nan, units, long_name)
      for name, units, long_name in zip(METRIC_NAMES, METRIC_UNITS, METRIC_LONG_NAMES)),
)

DENSE_EPOCHS = 50       # every epoch up to here is recorded ...
EPOCHS_PER_DECADE = 20  # ... then this many log-spaced epochs per decade


def recorded_epochs(max_epochs: int) -> np.ndarray:
    """The 1-based epochs at which curves are recorded, up to max_epochs.

    All epochs up to DENSE_EPOCHS, then log-spaced. The ladder does not depend on
    max_epochs (it is cut there), so runs of different lengths share one ``epoch`` dim.
    """
    dense = np.arange(1, DENSE_EPOCHS + 1)
    decades = np.log10(max(max_epochs, DENSE_EPOCHS) / DENSE_EPOCHS)
    steps = np.arange(1, int(np.ceil(decades * EPOCHS_PER_DECADE)) + 1)
    sparse = np.round(DENSE_EPOCHS * 10.0 ** (steps / EPOCHS_PER_DECADE)).astype(np.int64)
    ladder = np.unique(np.concatenate([dense, sparse]))
    return ladder[ladder <= max_epochs]
