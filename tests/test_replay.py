"""Replay of a stored run (sweep/replay.py, each problem's ``replay``): a run of every
problem, rebuilt from the store's parameters, reproduces every stored value bit for bit
on the machine that wrote it, and its trajectory agrees with the store's curves and with
an independent reference; a changed stored value is named; bad ``--at`` input is one line."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from kernels.orders import seeded_orders
from sweep.cli import EXIT_USAGE, main
from sweep.engine import plan_sweep, start
from sweep.problems.separable.datasets import make_dataset
from sweep.provenance import blas_kernels
from sweep.reading import stored_spec
from sweep.replay import RunNotReproduced, replay, replay_run
from sweep.store import open_store
from tests import reference
from tests.problem_stores import SPECS, last_run, write_store


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stores")
    return {name: write_store(name, folder) for name in SPECS}


def stored_run(store: Path, at: dict) -> xr.Dataset:
    return open_store(store).sel(at).load()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_replayed_run_of_every_problem_reproduces_the_store(name, stores):
    at = last_run(name)
    assert open_store(stores[name]).attrs["blas_kernels"] == blas_kernels()  # written here: compared bit for bit
    replayed = replay(stores[name], at)
    assert replayed.exact and replayed.differences == [] and replayed.trajectory.attrs["reproduced"]
    assert replayed.trajectory.attrs["at"] == at and replayed.trajectory.attrs["problem"] == name


def test_separable_trajectory_is_sgd_epoch_by_epoch(stores):
    """W at every epoch: each epoch is one pass of the plain-NumPy SGD (tests/reference.py)
    in the run's visiting order from the epoch before; the loss is L_S(W); the metrics at
    the recorded epochs are the stored curves and the last W the stored weights."""
    at = last_run("separable")
    run, trajectory = stored_run(stores["separable"], at), replay_run(stores["separable"], at)
    p = stored_spec(open_store(stores["separable"])).params_at((2, 1, 1))
    assert (p.seed, p.alpha, p.optimizer) == (2, 0.5, "sgd")
    data = make_dataset(p)
    W = trajectory["W"].values
    assert W.shape == (int(run["epochs_run"]) + 1, 2 * p.width, p.d)
    for epoch in (1, 2, W.shape[0] - 1):
        order = seeded_orders(p.seed, 1, p.n, first_epoch=epoch)
        expected = reference.sgd_reference(data.X, data.y, W[epoch - 1], order, p.alpha, p.v, p.lr, p.eps).W
        np.testing.assert_allclose(W[epoch], expected, rtol=1e-12, atol=1e-14)
    losses = [reference.dataset_loss(w, data.X, data.y, p.alpha, p.v) for w in W]
    np.testing.assert_allclose(trajectory["loss"].values, losses, rtol=1e-12)
    np.testing.assert_array_equal(W[-1], run["weights"].values)
    recorded = run["epoch"].values[np.isfinite(run["cluster_ratio"].values)]
    for name in ("cluster_ratio", "max_angle", "par_share_w"):
        np.testing.assert_array_equal(trajectory[name].sel(epoch=recorded).values, run[name].sel(epoch=recorded).values)


def test_other_problems_trajectories_are_their_recorded_curves(stores):
    pgd = replay_run(stores["relu_pgd"], last_run("relu_pgd"))
    stored = stored_run(stores["relu_pgd"], last_run("relu_pgd"))
    assert pgd["rel_err"].values[0] == 1.0  # w_0 = 0: ||0 - w*|| / ||w*||
    np.testing.assert_array_equal(pgd["rel_err"].values, stored["rel_err"].values[:pgd.sizes["iteration"]])
    student = replay_run(stores["relu_student"], last_run("relu_student"))
    stored = stored_run(stores["relu_student"], last_run("relu_student"))
    np.testing.assert_array_equal(student["test_mse"].values, stored["test_mse"].values)
    assert student["path_mass"].dims == ("step", "neuron")  # d = 2: the atoms' paths
    for learner in ("sgd", "hybrid"):
        at = {"seed": 2, "learner": learner}
        curve = replay_run(stores["biased_relu"], at)["test_rel_l2_curve"]
        stored = stored_run(stores["biased_relu"], at)
        assert curve["step"].values[0] == 0 and curve.values[-1] == stored["test_rel_l2"].values
        np.testing.assert_array_equal(curve.values, stored["test_rel_l2_curve"].values[:curve.size])
    assert not replay_run(stores["biased_relu"], {"seed": 2, "learner": "moments"}).data_vars  # no steps taken


def test_a_changed_stored_value_is_named(stores):
    """One ulp off fails the bit-for-bit comparison, naming the variable; with other BLAS
    kernels than the store's, an ulp passes (REPLAY_RTOL) and 1e-9 relative does not."""
    at = last_run("separable")
    ds = open_store(stores["separable"]).load()
    index = {key: list(values).index(at[key]) for key, values in SPECS["separable"]["grid"].items()}
    value = float(ds["final_loss"][index])
    for changed, kernels, names in ((np.nextafter(value, np.inf), None, ["final_loss"]),
                                    (np.nextafter(value, np.inf), ["another CPU"], []),
                                    (value * (1 + 1e-9), ["another CPU"], ["final_loss"])):
        altered = ds.copy(deep=True)
        altered["final_loss"][index] = changed
        if kernels:
            altered.attrs["blas_kernels"] = kernels
        replayed = replay(altered, at)
        assert replayed.exact == (kernels is None)
        assert [line.split(":")[0] for line in replayed.differences] == names
    with pytest.raises(RunNotReproduced, match=r"final_loss: stored .* replayed"):
        replay_run(altered, at)


def test_sweep_replay_writes_the_trajectory(stores, tmp_path):
    out = tmp_path / "run.zarr"
    result = subprocess.run([str(Path(sys.executable).parent / "sweep"), "replay", str(stores["relu_pgd"]),
                             "--at", "seed=2,constraint=l0", "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "run seed=2, constraint=l0: every stored value reproduced, bit for bit"
    xr.testing.assert_identical(xr.open_zarr(out, consolidated=False).load(), replay_run(stores["relu_pgd"], last_run("relu_pgd")))


def test_bad_at_is_one_line(stores, tmp_path, capsys):
    store = str(stores["separable"])
    unfinished = tmp_path / "unfinished.zarr"
    start(plan_sweep(stored_spec(open_store(store)), unfinished))  # laid out, nothing run
    cases = [(store, "seed=1,alpha=0.5,optimizer=sgd,width=4", "'width' is not a grid dim"),
             (store, "seed=7,alpha=0.5,optimizer=sgd", "--at seed=7: not a value of the grid dim 'seed'"),
             (store, "seed=1,alpha=fast,optimizer=sgd", "--at alpha='fast'"),
             (store, "seed=1,alpha=0.5", "no value for the grid dim 'optimizer'"),
             (store, "seed", "--at 'seed': expected DIM=VALUE"),
             (str(unfinished), "seed=1,alpha=0.5,optimizer=sgd", "that run is not finished")]
    for path, at, expected in cases:
        assert main(["replay", path, "--at", at]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err, err
