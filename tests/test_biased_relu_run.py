"""One biased_relu run end to end: its contract with the store's layout, determinism,
what each learner achieves, the spec and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from sweep.problems import get_problem, run_one
from sweep.problems.parameters import ParamError
from sweep.problems.biased_relu.params import BiasedReluParams
from sweep.problems.biased_relu.variables import CURVE, PER_NEURON, SCALARS, layout, recorded_steps
from sweep.spec import SpecError, parse_spec

SMALL = dict(d=6, m=3, N=200_000, n_test=2000, steps=300, refine_steps=200, lr=0.05, seed=2)
MOMENT_ONLY = {"pencil_gap", "moment_err_2", "moment_err_3", "imag_flag", "err_w_t3_only", "neuron_err_w_t3_only"}
GRADIENT_ONLY = {"test_rel_l2_curve", "steps_run"}


@pytest.fixture(scope="module")
def results():
    return {learner: run_one("biased_relu", dict(SMALL, learner=learner)) for learner in ("moments", "sgd", "hybrid")}


def test_each_learner_returns_the_variables_it_produces(results):
    every = {v.name for v in SCALARS + PER_NEURON + (CURVE,)}
    assert set(results["moments"].values) == every - GRADIENT_ONLY
    assert set(results["sgd"].values) == every - MOMENT_ONLY
    assert set(results["hybrid"].values) == every
    for result in results.values():
        assert result.status == "done"
        assert result.values["teacher_b"].shape == (3,) and result.values["neuron_err_w"].shape == (3,)
        assert result.values["err_w_sign_agnostic"] == pytest.approx(np.max(result.values["neuron_err_w"]))
        assert result.values["err_a_sign_agnostic"] == result.values["err_a"]
    curve = results["sgd"].values["test_rel_l2_curve"]
    assert curve.shape == recorded_steps(300).shape and np.all(np.isfinite(curve))
    assert curve[-1] < curve[0] and results["sgd"].values["steps_run"] == 300


def test_the_hybrid_refines_the_moment_estimate_it_starts_from(results):
    moments, hybrid = results["moments"].values, results["hybrid"].values
    for name in ("pencil_gap", "moment_err_2", "err_w_t3_only"):
        assert hybrid[name] == moments[name]  # the same moment estimate
    assert hybrid["test_rel_l2_curve"][0] < moments["test_rel_l2"]  # least squares for a
    assert hybrid["test_rel_l2"] < 0.2 * moments["test_rel_l2"]
    assert hybrid["err_w"] < moments["err_w"] < 0.5 and moments["flipped"] == 0


def test_runs_are_deterministic(results):
    again = run_one("biased_relu", dict(SMALL, learner="hybrid"))
    for name, value in results["hybrid"].values.items():
        np.testing.assert_array_equal(again.values[name], value, err_msg=name)


def test_float32_sgd_runs_and_agrees_with_float64():
    r32 = run_one("biased_relu", dict(SMALL, learner="sgd", dtype="float32", N=20_000))
    r64 = run_one("biased_relu", dict(SMALL, learner="sgd", N=20_000))
    assert r32.status == "done"
    assert r32.values["test_rel_l2"] == pytest.approx(r64.values["test_rel_l2"], rel=1e-3)


def test_a_huge_step_size_diverges():
    r = run_one("biased_relu", dict(SMALL, learner="sgd", lr=50.0, N=20_000))
    assert r.status == "diverged" and r.values["steps_run"] < 300


def test_bias_values_set_the_biases_and_keep_w_and_a():
    drawn = run_one("biased_relu", dict(SMALL, N=2_000)).values
    fixed = run_one("biased_relu", dict(SMALL, N=2_000, bias_values=(0.0, 0.5, -1.0))).values
    np.testing.assert_array_equal(fixed["teacher_b"], [0.0, 0.5, -1.0])
    np.testing.assert_array_equal(fixed["teacher_a"], drawn["teacher_a"])


def test_larger_cond_gives_a_smaller_s_m():
    s_m = [run_one("biased_relu", dict(SMALL, N=100, learner="sgd", steps=1, m=6, cond=cond)).values["s_m"]
           for cond in (1.0, 100.0)]
    assert s_m[1] < s_m[0]


def test_layout_has_the_step_dim_only_with_a_gradient_learner():
    def values(learners, **fixed):
        defaults = {**BiasedReluParams.defaults(), **fixed}
        return lambda name: learners if name == "learner" else (defaults[name],)

    moments_only = layout(values(("moments",), m=5))
    assert [d.name for d in moments_only.dims] == ["neuron"] and moments_only.dims[0].size == 5
    assert CURVE not in moments_only.variables
    mixed = layout(values(("moments", "sgd", "hybrid"), steps=100, refine_steps=1000))
    step = {d.name: d for d in mixed.dims}["step"]
    np.testing.assert_array_equal(step.values, recorded_steps(1000))
    assert np.all(recorded_steps(100) == step.values[: recorded_steps(100).size])


@pytest.mark.parametrize("changes, field, words", [
    (dict(m=12, d=10), "m", "<= d = 10 for learner 'moments'"),
    (dict(m=12, d=10, learner="hybrid"), "m", "linearly independent"),
    (dict(N=15, d=10), "N", "two halves"),
    (dict(beta=-0.5), "beta", ">= 0"),
    (dict(cond=0.5), "cond", ">= 1"),
    (dict(bias_values=(0.0, 1.0)), "bias_values", "m = 4"),
    (dict(a_range=(1.0, 0.5)), "a_range", "0 < lo <= hi"),
    (dict(learner="adam"), "learner", "one of"),
])
def test_bad_input_names_the_field_and_says_why(changes, field, words):
    with pytest.raises(ParamError, match=f"parameter '{field}'") as error:
        BiasedReluParams.from_mapping(changes)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_sgd_may_have_more_neurons_than_inputs_and_few_samples():
    BiasedReluParams.from_mapping(dict(m=12, d=10, N=5, learner="sgd"))


def test_a_spec_fixes_tuple_parameters():
    spec = parse_spec({"name": "t", "problem": "biased_relu", "params": {"bias_values": [0, 0.5, -0.5, 1], "d": 6},
                       "grid": {"seed": [0, 1], "learner": ["moments", "hybrid"]}})
    assert spec.fixed["bias_values"] == (0.0, 0.5, -0.5, 1.0) and spec.params_at((1, 1)).bias_values[0] == 0.0
    assert spec.normalised()["params"]["bias_values"] == (0.0, 0.5, -0.5, 1.0)
    with pytest.raises(SpecError, match="grid.m"):
        parse_spec({"name": "t", "problem": "biased_relu", "params": {"d": 6}, "grid": {"m": [4, 8]}})


def test_problem_is_registered_with_its_presets():
    problem = get_problem("biased_relu")
    assert problem.presets == ("biased_relu_samples", "biased_relu_bias", "biased_relu_zero_bias",
                               "biased_relu_conditioning")
    assert problem.run_seconds(BiasedReluParams(N=1_000_000, d=20)) > problem.run_seconds(BiasedReluParams())
