"""What a run of the ``separable`` problem records: its variables, in one table.

``run.train_one`` fills exactly these; the store lays out exactly these (plus the
engine's ``status``, ``wall_time``, ``error`` and ``done``). Scalars have the grid's
dims; curves add the ``epoch`` dim (the epochs of :func:`recorded_epochs`); ``weights``
adds ``neuron`` and ``feature`` when any run saves its weights, ``weight_history`` adds
``epoch``, ``neuron`` and ``feature`` when any run saves its weights along training.
"""
from __future__ import annotations

import numpy as np

from sweep.problems.parameters import ParamError
from sweep.problems.schema import Dim, Layout, Values, Variable

EPOCH, NEURON, FEATURE = "epoch", "neuron", "feature"

SCALARS = (
    Variable("epochs_clean", "int32", -1, "epochs", "E_clean: first epoch in which every sampled point had loss < eps (THEORY.md §2)"),
    Variable("epochs_conv", "int32", -1, "epochs", "E_conv: first epoch ending with training loss < eps (THEORY.md §2)"),
    Variable("epochs_bound", "float64", np.nan, "epochs", "Theorem 4.1 bound E_bound on E_clean (THEORY.md §2)"),
    Variable("epochs_bound_instance", "float64", np.nan, "epochs", "instance-specific Theorem 4.1 bound from F(W0), G(W0) (THEORY.md §2)"),
    Variable("epochs_bound_potential", "float64", np.nan, "epochs", "certified potential bound on E_clean, worst-case start (BOUND.md Theorem 2(b), THEORY.md §2.1)"),
    Variable("epochs_bound_potential_instance", "float64", np.nan, "epochs", "certified potential bound on E_clean from the run's own W0 (BOUND.md Theorem 2(b), THEORY.md §2.1)"),
    Variable("violating_steps", "int64", -1, "steps", "V: SGD steps whose sampled point had loss >= eps (before its update), before E_clean (THEORY.md §2.1)"),
    Variable("violating_steps_run", "int64", -1, "steps", "SGD steps whose sampled point had loss >= eps, over every step run (THEORY.md §2.1)"),
    Variable("violating_steps_bound", "float64", np.nan, "steps", "bound on the violating steps among the steps run, worst-case start (BOUND.md Theorem 2(a), THEORY.md §2.1)"),
    Variable("epochs_run", "int32", -1, "epochs", "epochs trained before stopping"),
    Variable("final_loss", "float64", np.nan, "nats", "training loss L_S at the end of the run"),
    Variable("train_acc", "float64", np.nan, "1", "training accuracy at the end of the run"),
    Variable("test_acc", "float64", np.nan, "1", "held-out accuracy at the end of the run"),
    Variable("margin_s", "float64", np.nan, "1", "s = ||w*|| of the hard-margin SVM without bias (1/geometric margin); NaN if not separable"),
    Variable("R_x", "float64", np.nan, "1", "R_x = max_i ||x_i|| over the training set"),
    Variable("R_0", "float64", np.nan, "1", "R_0 = realised max row norm of W0"),
)

# The metrics along training, in the order kernels.metrics.training_metrics writes them.
METRICS = (
    Variable("cluster_ratio", "float64", np.nan, "1", "clustering ratio 2R / ||wbar - ubar|| (0 = perfectly clustered), THEORY.md §3", (EPOCH,)),
    Variable("max_angle", "float64", np.nan, "degrees", "largest angle between two neurons of the same type, THEORY.md §3", (EPOCH,)),
    Variable("linear_frac_train", "float64", np.nan, "1", "share of training points in the linear regime |<wbar - ubar, x>| > 2R||x||, THEORY.md §3", (EPOCH,)),
    Variable("linear_frac_test", "float64", np.nan, "1", "share of test points in the linear regime |<wbar - ubar, x>| > 2R||x||, THEORY.md §3", (EPOCH,)),
    Variable("disagree_w", "float64", np.nan, "points", "largest number of training points on which two w-neurons disagree in sign, THEORY.md §4", (EPOCH,)),
    Variable("disagree_u", "float64", np.nan, "points", "largest number of training points on which two u-neurons disagree in sign, THEORY.md §4", (EPOCH,)),
    Variable("par_share_w", "float64", np.nan, "1", "share of w-neurons with sign<w_i, x> = y on every training point (PAR), THEORY.md §4", (EPOCH,)),
    Variable("par_share_u", "float64", np.nan, "1", "share of u-neurons with sign<u_i, x> = -y on every training point (PAR), THEORY.md §4", (EPOCH,)),
)

CURVES = (Variable("loss", "float64", np.nan, "nats", "training loss L_S at the end of the epoch", (EPOCH,)), *METRICS)

WEIGHTS = Variable("weights", "float64", np.nan, "1",
                   "final first-layer weights W (2k, d); rows 0..k-1 positive neurons, k..2k-1 negative; "
                   "padded with NaN to the largest width and input dimension", (NEURON, FEATURE))

WEIGHT_HISTORY = Variable("weight_history", "float64", np.nan, "1",
                          "first-layer weights W (2k, d) at each recorded epoch, as ``weights``; lets figures "
                          "follow the neurons over training (THEORY.md §4-5)", (EPOCH, NEURON, FEATURE))

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


def layout(values: Values) -> Layout:
    """The dims and variables of a sweep: ``epoch`` covers the longest run; ``weights``
    (on ``neuron`` x ``feature``, the widest network and the largest input) only when
    some run saves its weights, ``weight_history`` only when some run saves them along
    training (a sweep that asks for neither lays out exactly what it did before)."""
    epochs = recorded_epochs(max(values("max_epochs")))
    dims = [Dim(EPOCH, epochs.size, epochs, {"units": "epochs", "long_name": "1-based epoch at which curves are recorded"})]
    variables = [*SCALARS, *CURVES]
    final, history = any(values("save_weights")), any(values("save_weight_history"))
    if final or history:
        dims += [Dim(NEURON, 2 * max(values("width"))), Dim(FEATURE, _max_feature_count(values))]
    if final:
        variables.append(WEIGHTS)
    if history:
        variables.append(WEIGHT_HISTORY)
    return Layout(tuple(dims), tuple(variables))


def _max_feature_count(values: Values) -> int:
    """The largest input dimension (bias coordinate included) over the sweep's data sets."""
    from sweep.problems.separable.datasets import feature_count

    counts = []
    for dataset in values("dataset"):
        for d in values("d"):
            for bias in values("bias"):
                try:
                    counts.append(feature_count(dataset, d, bias))
                except ParamError:  # such runs fail at run time and are recorded as failed
                    counts.append(d + int(bias))
    return max(counts)
