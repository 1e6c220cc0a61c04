"""The biased_relu evidence on hand-made stores (exact power laws, the exact 1/phi shape) and
the report of a small sweep run through the engine."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kernels.hermite import normal_pdf
from sweep.engine import run_sweep
from sweep.problems.biased_relu import evidence
from sweep.problems.biased_relu.params import BiasedReluParams
from sweep.report import write_report
from sweep.spec import parse_spec


def hand_made(values: np.ndarray, coords: dict, params: dict | None = None) -> xr.Dataset:
    """A store-like Dataset: ``err_w_sign_agnostic`` on ``coords`` (seed first), all done; its
    spec lists every other parameter, as the engine writes it."""
    dims = tuple(coords)
    fixed = {name: value for name, value in BiasedReluParams.defaults().items() if name not in dims}
    return xr.Dataset({evidence.ERROR: (dims, values), "done": (dims, np.ones(values.shape, bool))}, coords=coords,
                      attrs={"spec": {"problem": "biased_relu", "params": {**fixed, **(params or {})}}})


def test_seed_slopes_and_rates_recover_exact_power_laws_in_the_local_regime():
    N = np.array([1e3, 1e4, 1e5, 1e6])
    scale = np.array([1.0, 2.0, 0.5])[:, None]  # three seeds, each its own constant
    errors = np.minimum(1.2, 100 * scale * N ** -0.5)  # saturated, then above LOCAL, then local
    ds = hand_made(errors, {"seed": [0, 1, 2], "N": N})
    [rate] = evidence.rates(ds)
    assert rate.slope == pytest.approx(-0.5) and rate.lo == pytest.approx(-0.5) and rate.hi == pytest.approx(-0.5)
    assert rate.local and rate.share_in_band == 1.0 and rate.series == 3 and rate.band == (-0.625, -0.375)
    [everywhere] = evidence.rates(ds, local=False)
    assert everywhere.slope > -0.45  # the saturated points flatten it
    np.testing.assert_allclose(evidence.seed_slopes(ds[evidence.ERROR].where(N > 1e4), "N"), -0.5, atol=1e-12)


WIDE_N, NARROW_N = [1e4, 3e4, 1e5, 3e5, 1e6, 3e6], [1e5, 2e5]


@pytest.mark.parametrize("planted, spread, N, holds", [(-0.5, 0.05, WIDE_N, True), (-0.25, 0.05, WIDE_N, False),
                                                       (-0.5, 0.3, NARROW_N, None)])
def test_the_rate_check_tells_n_to_the_minus_half_from_n_to_the_minus_quarter(planted, spread, N, holds):
    """10 seeds scattered (log-normal) around 0.3 (N / 1e4)^planted, all in the local regime:
    N^-1/2 holds; N^-1/4 fails (its interval excludes -1/2: the old band [-0.75, -0.25]
    passed it); noisy seeds over a factor 2 in N cannot tell the two apart: undecided."""
    from sweep.problems.biased_relu.report import rate_check

    N = np.array(N)
    noise = np.random.default_rng(5).lognormal(0.0, spread, size=(10, N.size))
    ds = hand_made(0.3 * (N / 1e4) ** planted * noise, {"seed": list(range(10)), "N": N})
    check = rate_check(ds)
    assert check.holds is holds, check.summary
    if holds is None:
        assert check.summary.startswith("N^(-1/2) rate: undecided") and "Undecided" in check.markdown
    if holds is False:
        assert check.summary.startswith("WARNING") and "EXCLUDES -0.5" in check.summary


def neuron_store(crowded_below: float, crowded_error: float = 0.3, c: float = 0.005) -> xr.Dataset:
    """20 seeds x 5 beta x 4 neurons, biases U[-beta, beta]: each neuron's error c / phi(|b|)
    (log-normal scatter of 10%), or ``crowded_error`` where |b| < ``crowded_below``."""
    rng = np.random.default_rng(11)
    betas = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    bias = rng.uniform(-1, 1, size=(20, betas.size, 4)) * betas[None, :, None]
    error = c / normal_pdf(np.abs(bias)) * rng.lognormal(0.0, 0.1, bias.shape)
    error = np.where(np.abs(bias) < crowded_below, crowded_error, error)
    dims = ("seed", "beta", "neuron")
    fixed = {name: value for name, value in BiasedReluParams.defaults().items() if name not in ("seed", "beta")}
    return xr.Dataset({"teacher_b": (dims, bias), "neuron_err_w": (dims, error),
                       "done": (dims[:2], np.ones(bias.shape[:2], bool))},
                      coords={"seed": np.arange(20), "beta": betas, "neuron": np.arange(4)},
                      attrs={"spec": {"problem": "biased_relu", "params": {**fixed, "learner": "moments"}}})


def test_the_bias_law_holds_where_planted_and_is_withdrawn_below():
    """c / phi(|b|) from |b| = 0.75 on, a flat error below: the law holds from 0.75 with k = 1
    and c back; planted everywhere, it holds from 0."""
    from sweep.problems.biased_relu.report import bias_law_check

    law = evidence.bias_law(neuron_store(crowded_below=0.75))
    assert law.holds_from == 0.75 and law.c == pytest.approx(0.005, rel=0.05)
    assert law.fit(0.75).exponent == pytest.approx(1.0, abs=0.05) and not law.scan[0][1].contains(1.0)
    assert float(law(0.0)) == pytest.approx(0.005 * np.sqrt(2 * np.pi), rel=0.05)
    check = bias_law_check(neuron_store(crowded_below=0.75))
    assert check.holds and "withdrawn for |b| < 0.75" in check.markdown and "| 0-0.25 |" in check.markdown
    everywhere = evidence.bias_law(neuron_store(crowded_below=0.0))
    assert everywhere.holds_from == 0.0 and everywhere.scan[0][1].contains(1.0)
    flat = evidence.bias_law(neuron_store(crowded_below=10.0, crowded_error=0.1))  # no growth with |b| at all
    assert flat.holds_from is None and bias_law_check(neuron_store(crowded_below=10.0, crowded_error=0.1)).holds is False


def test_zero_bias_neuron_is_read_from_the_spec():
    ds = hand_made(np.ones((2, 1)), {"seed": [0, 1], "N": [1e6]}, {"learner": "moments", "bias_values": [0.5, 0.0]})
    assert evidence.zero_bias_neuron(ds) == 1
    assert evidence.zero_bias_neuron(hand_made(np.ones((2, 1)), {"seed": [0, 1], "N": [1e6]})) is None


def test_report_of_a_small_sweep_checks_what_it_can_and_draws_its_figures(tmp_path):
    spec = parse_spec({
        "name": "small", "problem": "biased_relu",
        "params": {"d": 4, "m": 2, "bias_values": [0.0, 0.9], "steps": 200, "refine_steps": 100, "lr": 0.05,
                   "n_test": 1000},
        "grid": {"seed": [0, 1], "N": [300_000, 1_000_000], "learner": ["moments", "sgd", "hybrid"]},
    })
    run_sweep(spec, tmp_path / "small.zarr")
    report = write_report(tmp_path / "small.zarr", tmp_path / "report")
    names = {path.name for path in report.paths}
    assert {"error_vs_samples.png", "zero_bias_ablation.png", "learning_curves.png", "summary.csv"} <= names
    assert "error_vs_bias.png" not in names and "error_vs_conditioning.png" not in names
    checks = {check.title.split(" (")[0]: check for check in report.checks}
    assert checks.pop("A neuron's error grows like 1/phi(b)").holds is None  # beta is not swept
    assert not any("not checked" in check.summary for check in checks.values())  # each other was checked
    assert checks["The moment learner's error falls like N^(-1/2)"].holds is None  # 2 seeds, 2 N: undecided
    assert checks["T_2 is estimated at the rate N^(-1/2)"].holds
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Rates in N" in text and "| hybrid | err_w_sign_agnostic |" in text
