"""One run end to end: train_one's contract, determinism, statuses and bad input."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from sweep.problems.parameters import ParamError
from sweep.problems.separable.params import SeparableParams
from sweep.problems.separable.run import init_weights, train_one
from sweep.problems.separable.variables import CURVES, SCALARS, WEIGHT_HISTORY, WEIGHTS, layout, recorded_epochs

SMALL = dict(dataset="linear_teacher", n=40, n_test=50, d=5, margin=0.1, width=3, alpha=0.3, lr=0.1,
             eps=0.05, init_scale=0.01, max_epochs=400, seed=3, data_seed=4)


def digest(result) -> str:
    h = hashlib.sha256(result.status.encode())
    for name in sorted(result.values):
        h.update(np.asarray(result.values[name]).tobytes())
    return h.hexdigest()


def test_result_has_every_schema_variable_and_the_science():
    r = train_one(SMALL)
    assert set(r.values) == {v.name for v in SCALARS + CURVES}
    assert set(train_one(dict(SMALL, save_weights=True)).values) == {v.name for v in SCALARS + CURVES + (WEIGHTS,)}
    s = r.values
    assert r.status == "done"
    assert 0 < s["epochs_clean"] <= s["epochs_bound_instance"] <= s["epochs_bound"]
    assert s["epochs_clean"] <= s["epochs_bound_potential_instance"] <= s["epochs_bound_potential"] < s["epochs_bound"]
    assert s["epochs_clean"] - 1 <= s["violating_steps"] <= s["violating_steps_run"] <= s["violating_steps_bound"]
    assert 0 < s["epochs_conv"] and s["epochs_run"] == max(s["epochs_clean"], s["epochs_conv"])
    assert s["final_loss"] < 0.05 and s["train_acc"] == 1.0 and s["test_acc"] > 0.8
    assert 1.0 <= s["margin_s"] <= 1 / 0.1 and s["R_x"] <= 1.0
    epochs = recorded_epochs(400)
    assert s["loss"].shape == epochs.shape
    reached = epochs <= s["epochs_run"]
    assert np.all(np.isfinite(s["loss"][reached])) and np.all(np.isnan(s["loss"][~reached]))


def test_init_scale_is_the_expected_row_norm():
    W0 = init_weights(4000, 10, 0.5, seed=0)
    assert np.mean(np.linalg.norm(W0, axis=1)) == pytest.approx(0.5, rel=0.01)


def test_same_params_give_bit_identical_results_in_two_processes():
    params = dict(SMALL, save_weights=True)
    here = digest(train_one(params))
    code = ("from sweep.problems.separable.run import train_one; from tests.test_run import digest; "
            f"print(digest(train_one({params!r})))")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here


def test_max_epochs_and_float32_and_gd():
    short = train_one(dict(SMALL, max_epochs=2, init_scale=1.0))
    assert short.status == "max_epochs" and short.values["epochs_run"] == 2
    r32 = train_one(dict(SMALL, dtype="float32"))
    assert r32.status == "done"
    gd = train_one(dict(SMALL, optimizer="gd", lr=1.0, max_epochs=300))
    assert gd.values["epochs_clean"] == -1 and np.isnan(gd.values["epochs_bound"])
    assert gd.values["violating_steps"] == gd.values["violating_steps_run"] == -1  # GD samples no points
    assert np.isnan(gd.values["epochs_bound_potential"]) and np.isnan(gd.values["violating_steps_bound"])
    assert gd.status == "done" and gd.values["epochs_run"] == 300


def test_weight_history_holds_w_at_the_recorded_epochs():
    """Snapshots at every recorded epoch (W after that epoch); NaN past the run's end."""
    epochs = recorded_epochs(120)
    r = train_one(dict(SMALL, save_weight_history=True, record_metrics=False, stop_early=False, max_epochs=120))
    history = r.values[WEIGHT_HISTORY.name]
    assert history.shape == (epochs.size, 2 * SMALL["width"], SMALL["d"])
    cut = train_one(dict(SMALL, save_weights=True, stop_early=False, max_epochs=int(epochs[-1])))
    np.testing.assert_array_equal(history[-1], cut.values[WEIGHTS.name])
    assert not np.array_equal(history[0], history[-1]) and np.all(np.isfinite(history))
    stopped = train_one(dict(SMALL, save_weight_history=True))  # stops early, well before 400 epochs
    history = stopped.values[WEIGHT_HISTORY.name]
    reached = recorded_epochs(400) <= stopped.values["epochs_run"]
    assert np.all(np.isfinite(history[reached])) and np.all(np.isnan(history[~reached]))


def test_layout_adds_weight_history_only_when_asked():
    def values_of(**changes):
        params = {**SeparableParams.defaults(), **changes}
        return lambda name: [params[name]]

    plain = [v.name for v in layout(values_of()).variables]
    assert plain == [v.name for v in SCALARS + CURVES]
    asked = layout(values_of(save_weight_history=True))
    assert [v.name for v in asked.variables] == plain + [WEIGHT_HISTORY.name]
    assert [dim.name for dim in asked.dims] == ["epoch", "neuron", "feature"]


def test_loss_normalised_gd_follows_the_gd_path_faster():
    """Step lr / L_S (THEORY.md §4): same start and same first step direction as plain GD,
    and a training loss far below plain GD's after as many steps."""
    common = dict(SMALL, stop_early=False, max_epochs=200, lr=0.5)
    plain, normalised = train_one(dict(common, optimizer="gd")), train_one(dict(common, optimizer="gd_normalised"))
    assert normalised.status == "done" and normalised.values["epochs_clean"] == -1
    assert normalised.values["final_loss"] < 1e-3 * plain.values["final_loss"]
    assert np.isnan(normalised.values["epochs_bound"])  # Theorem 4.1 is about SGD


def test_a_diverging_run_ends_with_a_status():
    r = train_one(dict(SMALL, dtype="float32", lr=1e300))
    assert r.status == "diverged"


@pytest.mark.parametrize("field,value", [
    ("alpha", 1.0), ("alpha", -0.5), ("width", 0), ("lr", 0.0), ("lr", -1.0), ("eps", 0.0),
    ("n", 0), ("dataset", "nope"), ("optimizer", "adam"), ("dtype", "float16"), ("init_scale", float("inf")),
])
def test_bad_params_name_the_field(field, value):
    with pytest.raises(ParamError, match=field):
        train_one(dict(SMALL, **{field: value}))


def test_wrong_types_and_unknown_keys_name_the_field():
    with pytest.raises(ParamError, match="'width'.*int"):
        SeparableParams.from_mapping({"width": 2.5})
    with pytest.raises(ParamError, match="'widht'"):
        SeparableParams.from_mapping({"widht": 2})
