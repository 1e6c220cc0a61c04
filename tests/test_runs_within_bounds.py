"""Every run of the real ``separable`` run function obeys every bound it stores (THEORY.md
§2, §2.1; BOUND.md Theorem 2): on random small separable configurations, E_clean is at most
Theorem 4.1's bounds and the potential bounds (worst-case and the run's own start), and
the violating steps at most Theorem 2(a)'s bound. A run above a proven bound is a bug."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sweep.problems.separable.run import train_one

EPOCH_BOUNDS = ("epochs_bound", "epochs_bound_instance", "epochs_bound_potential", "epochs_bound_potential_instance")
MAX_EPOCHS = 1500


def log_uniform(low: float, high: float):
    return st.floats(math.log10(low), math.log10(high)).map(lambda exponent: 10.0 ** exponent)


configs = st.fixed_dictionaries({
    "dataset": st.sampled_from(["linear_teacher", "gaussians"]),
    "d": st.integers(1, 6),
    "n": st.integers(2, 40),
    "width": st.integers(1, 6),
    "alpha": st.floats(0.02, 0.95),
    "v": st.floats(0.3, 2.0),
    "lr": log_uniform(1e-2, 2.0),
    "init_scale": log_uniform(1e-4, 2.0),
    "eps": log_uniform(0.01, 0.5),
    "margin": st.floats(0.05, 0.3),
    "data_seed": st.integers(0, 2**16),
    "seed": st.integers(0, 2**16),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_no_run_exceeds_any_bound(cfg):
    r = train_one({**cfg, "n_test": 4, "max_epochs": MAX_EPOCHS, "record_metrics": False})
    s = r.values
    assert r.status != "diverged"
    assert math.isfinite(s["margin_s"])  # separable by construction, so every bound exists
    for name in (*EPOCH_BOUNDS, "violating_steps_bound"):
        assert not math.isnan(s[name]), name
    event("reached E_clean" if s["epochs_clean"] > 0 else "stopped before E_clean")
    if s["epochs_clean"] > 0:
        for name in EPOCH_BOUNDS:
            assert s["epochs_clean"] <= s[name], (name, s["epochs_clean"], s[name])
        # every epoch before the clean one holds a violating step (THEORY.md §2.1)
        assert s["epochs_clean"] - 1 <= s["violating_steps"] <= s["violating_steps_run"]
    else:  # not clean within the epochs run: E_clean > epochs_run, so each bound must allow it
        assert r.status == "max_epochs" and s["epochs_run"] == MAX_EPOCHS
        for name in EPOCH_BOUNDS:
            assert s[name] > s["epochs_run"], (name, s[name])
    assert 0 <= s["violating_steps_run"] <= s["violating_steps_bound"], (s["violating_steps_run"],
                                                                         s["violating_steps_bound"])
