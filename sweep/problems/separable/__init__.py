"""The ``separable`` problem: a two-layer Leaky-ReLU network with a fixed second layer
learns linearly separable data with SGD (or full-batch GD) on the cross-entropy loss
(Sarussi, Brutzkus & Globerson, ICML 2021; THEORY.md §1-5).

- parameters: :mod:`.params` (:class:`SeparableParams`); data sets: :mod:`.datasets`;
  optimisers: :mod:`.optimizers`;
- one run: :mod:`.run` (``train_one``; ``train_many`` for runs on one data set, in
  batched kernel calls); what it records: :mod:`.variables`;
- theory: the Theorem 4.1 bounds ``epochs_bound`` and ``epochs_bound_instance``
  (:mod:`.theory`) and the potential bounds (:mod:`.potential_bound`), held against E_clean
  in :mod:`.report`; BOUND.md Prop. 7's worst-case start (:mod:`.worst_case`);
- the paper's figures: what each claims, measured run by run (:mod:`.claims`), the 2D
  picture of a run (:mod:`.planar`), the figures (:mod:`.figures`) and the report
  sections and checks (:mod:`.report`).
"""
from __future__ import annotations

from sweep.problems.contract import Problem
from sweep.problems.separable.params import SeparableParams
from sweep.problems.separable.variables import layout

# Run-time model for task sizing (measured on the default preset; a heuristic).
SECONDS_PER_NEURON_FEATURE_STEP = 1.5e-9  # SGD, one neuron x one feature x one sample
SECONDS_PER_RUN = 0.003                  # data, SVM, bound and metrics of a small run
# Share of max_epochs a stop_early run is assumed to take. Deliberately optimistic: an
# overestimate makes tiny tasks whose store writes cost more than their runs (the default
# preset's runs take ~2% of max_epochs; at 25% it got 1-run tasks and 44% efficiency),
# while an underestimate only makes tasks longer, and the engine's minimum task count
# still bounds them.
EARLY_STOP_SHARE = 0.01


def run_seconds(p: SeparableParams) -> float:
    """Estimated wall time of one run."""
    epochs = p.max_epochs * (EARLY_STOP_SHARE if p.stop_early else 1.0)
    return SECONDS_PER_RUN + SECONDS_PER_NEURON_FEATURE_STEP * epochs * p.n * 2 * p.width * p.d


PROBLEM = Problem(
    name="separable",
    summary="two-layer Leaky-ReLU network, fixed second layer, SGD or GD on the cross-entropy loss, "
            "linearly separable data",
    theory="THEORY.md §1-5 (Sarussi, Brutzkus & Globerson, ICML 2021)",
    params=SeparableParams,
    layout=layout,
    run="sweep.problems.separable.run:train_one",
    run_seconds=run_seconds,
    run_many="sweep.problems.separable.run:train_many",
    batch_key=SeparableParams.batch_key,
    report="sweep.problems.separable.report",
    replay="sweep.problems.separable.run:replay",
    presets=(*(f"thm41_scaling_{name}" for name in ("alpha", "width", "eps", "lr", "v", "margin", "n", "init_scale")),
             "fig1_boundaries", "fig2_mnist_linear_regime", "fig3_nonlinear_output", "fig4_par_prediction",
             "fig5_relu_vs_leaky", "fig6_mnist_pairs", "fig7_clustering", "fig8_par_share", "fig9_outlier",
             "prop7_worst_case"),
)
