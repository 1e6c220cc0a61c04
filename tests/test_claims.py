"""The paper figures' claims (sweep/problems/separable/claims.py) and the 2D measures they
use (planar.py), on hand-built networks and hand-made stores (THEORY.md §3-5)."""
from __future__ import annotations

import numpy as np
import pytest

from analysis import open_results
from sweep.problems.separable import claims
from sweep.problems.separable.params import SeparableParams
from sweep.problems.separable.planar import boundary_bend, output_along_means, plane, slope_spread
from tests.synthetic_results import synthetic_results, write_store

ALPHA = 0.1
PLANAR_BIAS = SeparableParams(dataset="linear_teacher", n=50, d=2, margin=0.25, bias=True, alpha=ALPHA)


def test_a_two_neuron_leaky_network_has_a_straight_boundary():
    """k = 1, alpha > 0: N_W > 0 exactly where <w - u, x> > 0 (THEORY.md §3), a line."""
    W = np.array([[1.0, 0.4, 0.2], [-0.3, -1.0, 0.1]])
    assert boundary_bend(plane(PLANAR_BIAS, W)) <= 0.005


def test_a_v_shaped_boundary_is_bent():
    """N = sigma(x_1) + sigma(-x_1) - sigma(x_2 + 1/2) (k = 2, the second u-neuron 0): its
    boundary is the V  x_2 = (1 - alpha) |x_1| - 1/2, far from any line."""
    W = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 0.0]])
    p = plane(PLANAR_BIAS, W)
    # Independent check of the level set: on every column, N changes sign at the V.
    column = np.argmin(np.abs(p.axis - 0.5))
    crossing = p.axis[np.flatnonzero(np.diff(np.sign(p.output[:, column])))[0]]
    assert crossing == pytest.approx((1 - ALPHA) * 0.5 - 0.5, abs=2 * (p.axis[1] - p.axis[0]))
    assert boundary_bend(p) >= 0.2


def test_slope_spread_of_linear_and_kinked_functions():
    t = np.linspace(-1, 1, 401)
    assert slope_spread(t, 3 * t - 2) == pytest.approx(0.0, abs=1e-12)
    assert slope_spread(t, np.where(t > 0, t, 0.5 * t)) == pytest.approx(0.5, abs=1e-12)


def test_an_antipodal_clustered_network_is_linear_along_the_means():
    """u = -w gives N = k (1 + alpha) <w, x>: no kink (the reason Fig. 3 needs skewed data)."""
    params = SeparableParams(dataset="gaussians", n=50, d=2, alpha=ALPHA)
    w = np.array([1.0, 0.3])
    p = plane(params, np.vstack([w, w, -w, -w]))
    assert slope_spread(*output_along_means(p)) <= 1e-9
    kinked = plane(params, np.vstack([w, w, [-0.2, -1.0], [-0.2, -1.0]]))
    assert slope_spread(*output_along_means(kinked)) >= claims.KINKED


def curve_store(tmp_path, dataset, change=None, grid=None):
    grid = grid or {"seed": [0, 1, 2], "width": [4]}
    ds = synthetic_results(grid, {"dataset": dataset, "d": 5}, lambda seed, **others: 10 + seed)
    if change:
        change(ds)
    return open_results(write_store(ds, tmp_path / f"{dataset}.zarr"))


def test_fig8_counts_the_runs_that_end_in_par(tmp_path):
    def two_reach_one(ds):  # the synthetic shares are 1 - 1/epoch; seeds 0 and 2 end at exactly 1
        for name in ("par_share_w", "par_share_u"):
            ds[name][0, :, -1] = 1.0
            ds[name][2, :, -1] = 1.0

    found = claims.fig8_par_share(curve_store(tmp_path, "gaussians", two_reach_one))
    assert (found.held, found.total, found.holds) == (2, 3, False)
    assert claims.fig8_par_share(curve_store(tmp_path, "linear_teacher")) is None  # not its data


def test_fig9_needs_agreement_and_a_w_side_outside_par(tmp_path):
    def one_disagrees(ds):  # synthetic: disagreements floor(10/epoch) -> 0, w PAR share 1 - 1/epoch < 1
        ds["disagree_w"][1, :, -1] = 3.0

    found = claims.fig9_outlier(curve_store(tmp_path, "gaussians_outlier", one_disagrees))
    assert (found.held, found.total) == (2, 3)
    assert "NAR (0 disagreements, both types) in 2/3" in found.numbers


def test_fig2_linear_regime_claim_and_its_pairs(tmp_path):
    grid = {"seed": [0, 1], "dataset": ["mnist_0_1", "mnist_3_5"]}
    store = curve_store(tmp_path, "mnist_0_1", grid=grid)
    found = claims.fig2_linear_regime(store)  # the share outside ends at 1/200 of the synthetic curves
    assert found.holds and found.total == 4
    assert claims.fig6_mnist_pairs(store) is None  # only Fig. 2's pairs: that is Fig. 2
    assert len(found.per_point) == 2  # one line per digit pair


def test_runs_without_metrics_make_no_curve_claims(tmp_path):
    """record_metrics false leaves the curves NaN: Figs. 7 and 8 do not apply (no crash, no claim)."""
    params = {"dataset": "gaussians", "d": 5, "init_scale": 0.001}
    ds = synthetic_results({"seed": [0, 1, 2], "width": [4]}, params, lambda seed, **others: 10 + seed)
    assert claims.fig7_clustering(open_results(write_store(ds, tmp_path / "with.zarr"))) is not None
    ds = synthetic_results({"seed": [0, 1, 2], "width": [4]}, {**params, "record_metrics": False},
                           lambda seed, **others: 10 + seed)
    store = open_results(write_store(ds, tmp_path / "without.zarr"))
    assert claims.fig7_clustering(store) is None and claims.fig8_par_share(store) is None
