"""One run of the ``biased_relu`` problem, end to end: teacher, samples, learner, metrics
(THEORY.md §6.3).

``run(params)`` is what every sweep task calls. It is deterministic: the same parameters
give bit-identical results in any process (every draw comes from a seeded stream).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from sweep.problems.replay import Replay, recorded_along
from sweep.problems.results import RunResult
from sweep.problems.biased_relu import gradient, moments
from sweep.problems.biased_relu.params import MOMENT_LEARNERS, BiasedReluParams
from sweep.problems.biased_relu.recovery import direction_errors, recovery
from sweep.problems.biased_relu.samples import SampleStream, fresh_inputs
from sweep.problems.biased_relu.teacher import LEARNER, make_teacher, stream
from sweep.problems.biased_relu.variables import CURVE, STEP, recorded_steps

CANDIDATES_STREAM, INIT_STREAM = 1, 2  # keys of the learner's streams under stream(LEARNER, seed, key)


def moment_diagnostics(estimate: moments.MomentEstimate, teacher) -> dict[str, Any]:
    """The pencil's gap and imag_flag, the moment errors against the closed form, and the
    T_3-only ablation's direction errors."""
    exact = moments.population_moments(teacher, estimate.moments.U)
    chosen = estimate.pencil.chosen
    t3_only = direction_errors(teacher.W, estimate.t3_only)
    return {
        "pencil_gap": estimate.pencil.gap,
        "imag_flag": int(estimate.pencil.imag_flag),
        "moment_err_2": float(np.linalg.norm(estimate.moments.T2 - exact.T2)),
        "moment_err_3": float(np.linalg.norm(estimate.moments.T3u[chosen] - exact.T3u[chosen])),
        "err_w_t3_only": float(np.max(t3_only)),
        "neuron_err_w_t3_only": t3_only,
    }


def run(params: BiasedReluParams | Mapping[str, Any]) -> RunResult:
    """Draw the teacher, learn it with ``params.learner`` from N streamed samples, measure.

    Returns every variable of :mod:`.variables` the learner produces (the moment
    diagnostics only for moments and hybrid, the curve only for sgd and hybrid).
    Status 'diverged' when an SGD batch loss blew up, else 'done'. Raises ParamError
    for bad parameters, numpy.linalg.LinAlgError when the pencil's anchor is singular.
    """
    p = params if isinstance(params, BiasedReluParams) else BiasedReluParams.from_mapping(params)
    teacher = make_teacher(p)
    samples = SampleStream(teacher, p.N, p.data_seed, p.seed)
    X_test = fresh_inputs(p.data_seed, p.seed, p.n_test, p.d)
    f_test = teacher(X_test)
    values: dict[str, Any] = {}

    if p.learner in MOMENT_LEARNERS:
        estimate = moments.learn_from_samples(samples, p.m, stream(LEARNER, p.seed, CANDIDATES_STREAM))
        values.update(moment_diagnostics(estimate, teacher))
        learned = estimate.network
    status = "done"
    if p.learner != "moments":
        start = (gradient.least_squares_output_layer(learned, samples) if p.learner == "hybrid" else
                 gradient.random_student(p.student_width, p.d, stream(LEARNER, p.seed, INIT_STREAM)))
        steps = recorded_steps(p.gradient_steps)
        training = gradient.train(start, samples, p.gradient_steps, p.lr, p.batch, p.dtype, steps, X_test, f_test)
        learned = training.network
        values.update(test_rel_l2_curve=training.curve, steps_run=training.steps_taken)
        status = "diverged" if training.diverged else "done"

    result = recovery(teacher, learned)
    values.update(
        result.scalars(),
        test_rel_l2=gradient.relative_l2(learned, X_test, f_test),
        s_m=float(np.linalg.svd(teacher.W, compute_uv=False)[-1]),
        teacher_b=teacher.b,
        teacher_a=teacher.a,
        neuron_err_w=result.err_w_sign_agnostic,
        neuron_err_b=result.err_b_sign_agnostic,
        neuron_err_a=result.err_a_sign_agnostic,
        neuron_flipped=result.flipped.astype(np.int8),
    )
    return RunResult(status=status, values=values)


def replay(params: BiasedReluParams | Mapping[str, Any]) -> Replay:
    """``run(params)`` with its trajectory: test_rel_l2 at every recorded SGD step (sgd,
    hybrid; ``variables.recorded_steps``, 0 = the start); the moments learner takes no
    steps, so its trajectory is empty (THEORY.md §6.3)."""
    p = params if isinstance(params, BiasedReluParams) else BiasedReluParams.from_mapping(params)
    result = run(p)
    return Replay(result, recorded_along(result, (CURVE,), {STEP: recorded_steps(p.gradient_steps)}))
