"""BOUND.md Prop. 7's worst case as the data set ``two_point`` and the init ``dead_rows``
(sweep/problems/separable/worst_case.py; THEORY.md §2.1): the data and W0 against arrays
built by hand, a run against a plain-NumPy SGD over the same visiting orders, Prop. 7's
lower bound and BOUND.md §6's measured table."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import matplotlib
import yaml

from analysis import open_results
from analysis.plotting import STYLE
from analysis.stats import power_law_along
from kernels.orders import seeded_orders
from sweep.cli import main
from sweep.problems import get_problem
from sweep.problems.parameters import ParamError
from sweep.problems.separable.datasets import make_dataset
from sweep.problems.separable.figures import prop7_worst_case
from sweep.problems.separable.margin import svm_margin
from sweep.problems.separable.params import SeparableParams
from sweep.problems.separable.run import initial_weights, train_one
from sweep.problems.separable.worst_case import prop7_lower_bound
from sweep.report import with_defaults
from tests import reference as ref
from tests.test_figure_layout import layout_faults

X_HAND = np.array([[1.0, 1.0], [-1.0, 1.0]])
Y_HAND = np.array([1.0, -1.0])
Z_EPS = -math.log(math.exp(0.01) - 1)  # loss >= 0.01 exactly when the margin is <= 4.6001...


def worst_case(**changes) -> dict:
    return {**dict(dataset="two_point", n=2, n_test=3, init="dead_rows", width=4, alpha=0.4, v=1.0, lr=0.1, eps=0.01,
                   max_epochs=20000, record_metrics=False, seed=5), **changes}


def test_two_point_data_set_is_prop_7s():
    data = make_dataset(SeparableParams.from_mapping(worst_case(d=7, data_seed=3)))
    np.testing.assert_array_equal(data.X, X_HAND)
    np.testing.assert_array_equal(data.y, Y_HAND)
    np.testing.assert_array_equal(data.X_test, X_HAND[[0, 1, 0]])
    svm = svm_margin(data.X, data.y)
    assert svm.s == pytest.approx(1.0) and svm.w == pytest.approx([1.0, 0.0], abs=1e-9)


def test_dead_rows_are_0_minus_B_and_dead_on_both_points():
    p = SeparableParams.from_mapping(worst_case())
    B = Z_EPS / (4 * 0.4 * 1.0) + 4 * 0.1 * 1.0 * 0.4      # = 3.0351 (BOUND.md §6: R_0 3.04)
    W0 = initial_weights(p, 2)
    np.testing.assert_allclose(W0, np.tile([0.0, -B], (8, 1)), rtol=1e-12)
    assert np.all(W0 @ X_HAND.T < 0)
    with_bias = SeparableParams.from_mapping(worst_case(dataset="gaussians", n=20, d=3, bias=True))
    data = make_dataset(with_bias)
    assert np.all(initial_weights(with_bias, 4) @ data.X.T < 0)  # the bias coordinate is 1: dead everywhere


@pytest.mark.parametrize("width, alpha, table", [(4, 0.4, 402), (4, 0.1, 6443), (1, 0.4, 1610)])
def test_a_run_is_the_hand_built_sgd_above_prop_7s_lower_bound(width, alpha, table):
    """E_clean, E_conv and V equal a plain-NumPy SGD from the hand-built data and W0 over the
    run's visiting orders; E_clean is BOUND.md §6's measured value, at least Prop. 7's lower
    bound and at most the potential bounds."""
    r = train_one(worst_case(width=width, alpha=alpha))
    s = r.values
    B = Z_EPS / (width * alpha) + 0.4 * alpha
    W0 = np.tile([0.0, -B], (2 * width, 1))
    order = seeded_orders(5, s["epochs_run"], 2)
    replay = ref.sgd_reference(X_HAND, Y_HAND, W0, order, alpha, 1.0, 0.1, 0.01)
    assert r.status == "done" and s["R_0"] == pytest.approx(B, rel=1e-12)
    assert (s["epochs_clean"], s["epochs_conv"], s["violating_steps"]) == (replay.e_clean, replay.e_conv,
                                                                           replay.violating)
    assert s["epochs_clean"] == table
    assert prop7_lower_bound(k=width, alpha=alpha, v=1.0, lr=0.1, eps=0.01) <= s["epochs_clean"]
    assert s["epochs_clean"] <= s["epochs_bound_potential_instance"] <= s["epochs_bound_potential"]


def test_prop_7_lower_bound_formula():
    assert prop7_lower_bound(k=1, alpha=0.1, v=1.0, lr=0.1, eps=0.01) == pytest.approx(Z_EPS / 0.004 + 0.25)
    assert prop7_lower_bound(k=4, alpha=0.4, v=1.0, lr=0.1, eps=0.01) == pytest.approx(18.2, abs=0.05)  # BOUND.md §6


@pytest.mark.parametrize("changes, name", [({"n": 3}, "'n'"), ({"alpha": 0.0}, "'alpha'"), ({"eps": 0.7}, "'eps'"),
                                           ({"init": "dead"}, "'init'")])
def test_bad_worst_case_parameters_are_named(changes, name):
    with pytest.raises(ParamError, match=name):
        SeparableParams.from_mapping(worst_case(**changes))


def test_a_prop_7_sweep_scales_as_alpha_minus_2_and_its_figure_says_so(tmp_path):
    """A small sweep of the preset's setting (sweep run --serial, a real store): the fitted
    alpha-exponent of E_clean is -2 (BOUND.md §6: -2.000) with an interval that excludes
    -1.9; the report holds every run within the bounds and draws prop7_worst_case, whose
    legend and title state the fitted exponent, laid out for print."""
    preset = yaml.safe_load((Path(__file__).parent.parent / "presets" / "prop7_worst_case.yaml").read_text())
    spec = {**preset, "params": {**preset["params"], "max_epochs": 5000},
            "grid": {"seed": [0, 1, 2, 3, 4], "alpha": [0.2, 0.3, 0.5]}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    store = tmp_path / "prop7.zarr"
    assert main(["run", str(tmp_path / "spec.yaml"), "--store", str(store), "--serial"]) == 0
    assert main(["report", str(store), "--out", str(tmp_path / "report")]) == 0
    ds = open_results(store)
    law = power_law_along(ds, "epochs_clean", "alpha")
    assert law.exponent == pytest.approx(-2.0, abs=0.01) and law.hi < -1.9
    report = (tmp_path / "report" / "report.md").read_text()
    assert "![](prop7_worst_case.png)" in report and "**0 of 15 runs exceed the potential bound**" in report
    with matplotlib.rc_context(STYLE):
        fig = prop7_worst_case.__wrapped__(with_defaults(ds, get_problem("separable")))
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert f"fit: E_clean ∝ α^{law.exponent:.3f} [{law.lo:.3f}, {law.hi:.3f}] (95% bootstrap over seeds)" in labels
    assert any(label.startswith("Prop. 7 lower bound") for label in labels)
    assert f"α-exponent of E_clean {law.exponent:.3f}" in fig._suptitle.get_text().replace("\n", " ")
    assert layout_faults(fig) == []
