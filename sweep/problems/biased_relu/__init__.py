"""The ``biased_relu`` problem: a depth-2 ReLU network with biases,
f(x) = sum_i a_i relu(<w_i, x> + b_i) on x ~ N(0, I_d), learned from N samples by the
moment learner (Hermite tensors T_2, T_3[u] and a pencil decomposition), by SGD on a
student with biases, or by both in turn (Awasthi, Tang & Vijayaraghavan 2021;
THEORY.md §6.3).

- parameters: :mod:`.params`; teacher and random streams: :mod:`.teacher`; streamed
  samples: :mod:`.samples`;
- learners: :mod:`.moments` (steps 1-5), :mod:`.gradient` (sgd, and step 6 of the hybrid);
- one run: :mod:`.run`; what it records: :mod:`.variables`; recovery metrics: :mod:`.recovery`;
- evidence: :mod:`.evidence` (slopes, shares of seeds), :mod:`.figures`, :mod:`.report`.
"""
from __future__ import annotations

from sweep.problems.contract import Problem
from sweep.problems.biased_relu.params import MOMENT_LEARNERS, BiasedReluParams
from sweep.problems.biased_relu.variables import layout

# Run-time model for task sizing: least squares on the wall times of the biased_relu_samples
# preset (serial, on this 2-core machine under a shared load of about 10; a heuristic).
SECONDS_PER_RUN = 0.05                   # teacher, test set, decomposition, metrics
SECONDS_PER_DRAWN_COORDINATE = 4e-8      # one input coordinate drawn and labelled
SECONDS_PER_MOMENT_FEATURE = 3.5e-9      # one S1 sample x one column of d(d+1)/2 + d + 1 moment features
SECONDS_PER_STEP_SAMPLE_WEIGHT = 3e-9    # one SGD step x one batch sample x one weight of m' (d + 2)


def run_seconds(p: BiasedReluParams) -> float:
    """Estimated wall time of one run."""
    drawn = p.gradient_steps * p.batch
    seconds = SECONDS_PER_RUN
    if p.learner in MOMENT_LEARNERS:
        drawn += p.N
        seconds += SECONDS_PER_MOMENT_FEATURE * p.N / 2 * (p.d * (p.d + 1) / 2 + p.d + 1)
    seconds += SECONDS_PER_DRAWN_COORDINATE * drawn * p.d
    return seconds + SECONDS_PER_STEP_SAMPLE_WEIGHT * p.gradient_steps * p.batch * p.student_width * (p.d + 2)


PROBLEM = Problem(
    name="biased_relu",
    summary="depth-2 ReLU network with biases on Gaussian inputs, learned by Hermite moments and a pencil "
            "decomposition, by SGD, or by both",
    theory="THEORY.md §6.3 (Awasthi, Tang & Vijayaraghavan 2021)",
    params=BiasedReluParams,
    layout=layout,
    run="sweep.problems.biased_relu.run:run",
    run_seconds=run_seconds,
    report="sweep.problems.biased_relu.report",
    replay="sweep.problems.biased_relu.run:replay",
    presets=("biased_relu_samples", "biased_relu_bias", "biased_relu_zero_bias", "biased_relu_conditioning"),
)
