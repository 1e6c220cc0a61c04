"""The engine (sweep/engine.py, tasks.py, cluster.py): serial, local and external clusters
give identical stores; killed workers and clients lose nothing; failures are recorded."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from distributed import Client

from sweep.cluster import ClusterConfig, ClusterConfigError, LocalClusterConfig, connect, load_cluster_config, \
    parse_cluster_config
from sweep.engine import run_sweep
from sweep.problems.base import STATUS
from sweep.spec import parse_spec
from sweep.store import ERROR, open_store, read_done, run_counts

BIN = Path(sys.executable).parent

TINY = parse_spec({
    "name": "tiny",
    "params": {"n": 30, "n_test": 20, "d": 5, "max_epochs": 50, "save_weights": True},
    "grid": {"seed": [0, 1, 2], "width": [2, 8], "alpha": [0.1, 0.5], "init_scale": [0.01, 1.0]},
})
SLOW_YAML = """\
name: slow
params: {n: 100, n_test: 100, d: 10, width: 16, max_epochs: 4000, stop_early: false}
grid:
  seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
  alpha: [0.1, 0.5]
  init_scale: [0.01, 1.0]
"""


def load_results(path) -> xr.Dataset:
    return open_store(path).drop_vars("wall_time").load()


@pytest.fixture(scope="module")
def scheduler_yaml(tmp_path_factory):
    """A real cluster: `dask scheduler` and two 1-thread `dask worker` processes on
    127.0.0.1, described by a scheduler YAML; torn down after the module."""
    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = folder / "scheduler.json"
    log = open(folder / "cluster.log", "w")
    processes = []

    def start(*args):
        processes.append(subprocess.Popen([str(BIN / "dask"), *args], cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    try:
        start("scheduler", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1", "--port", "0",
              "--dashboard-address", ":0")
        for _ in range(2):
            start("worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", "--host", "127.0.0.1",
                  "--dashboard-address", ":0", "--memory-limit", "2GiB")
        config = folder / "scheduler.yaml"
        config.write_text(f"scheduler_file: {scheduler_file}\n")
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, "the test scheduler did not start"
            time.sleep(0.2)
        with Client(scheduler_file=str(scheduler_file)) as client:
            client.wait_for_workers(2, timeout=60)
        yield config
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@pytest.fixture(scope="module")
def external_client(scheduler_yaml):
    with connect(load_cluster_config(scheduler_yaml)) as client:
        yield client


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory, external_client):
    """The SLOW sweep, undisturbed, and its spec file."""
    folder = tmp_path_factory.mktemp("slow")
    (folder / "slow.yaml").write_text(SLOW_YAML)
    from sweep.spec import load_spec

    run_sweep(load_spec(folder / "slow.yaml"), folder / "reference.zarr", client=external_client)
    return folder / "slow.yaml", folder / "reference.zarr"


def test_serial_local_and_external_clusters_give_identical_stores(tmp_path, scheduler_yaml, external_client):
    run_sweep(TINY, tmp_path / "serial.zarr")
    local = ClusterConfig(local=LocalClusterConfig(n_workers=2, threads_per_worker=1, dashboard_address=":0"),
                          dask={"sweep-test.marker": 7})
    with connect(local) as client:
        assert len(client.nthreads()) == 2 and set(client.nthreads().values()) == {1}
        worker_settings = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                                              dask.config.get("distributed.worker.profile.enabled"),
                                              dask.config.get("sweep-test.marker")))
        assert set(worker_settings.values()) == {(None, False, 7)}
        run_sweep(TINY, tmp_path / "local.zarr", client=client)
    run_sweep(TINY, tmp_path / "external.zarr", client=external_client)

    serial = load_results(tmp_path / "serial.zarr")
    assert serial["done"].all() and (serial["status"] >= 0).all() and "weights" in serial
    assert np.isfinite(serial["final_loss"]).all()
    for other in ("local.zarr", "external.zarr"):
        xr.testing.assert_identical(serial, load_results(tmp_path / other))


def test_cluster_config_dask_section():
    assert parse_cluster_config({"dask": {"distributed.worker.profile.enabled": True}}).dask == {
        "distributed.worker.profile.enabled": True}
    assert parse_cluster_config({}).dask == {}
    for bad in ([1, 2], {"": 1}, "profile: off"):
        with pytest.raises(ClusterConfigError, match="'dask'"):
            parse_cluster_config({"dask": bad})


def test_failing_and_diverging_runs_are_recorded(tmp_path):
    spec = parse_spec({
        "name": "corners",
        "params": {"n": 30, "n_test": 5000, "d": 5, "max_epochs": 50, "dtype": "float32"},
        "grid": {"dataset": ["linear_teacher", "mnist_0_1"], "lr": [0.05, 1.0e39]},
    })
    summary = run_sweep(spec, tmp_path / "corners.zarr")
    assert summary.runs == 4 and summary.statuses["failed"] == 2 and summary.statuses["diverged"] == 1
    ds = open_store(tmp_path / "corners.zarr").load()
    mnist, teacher = ds.sel(dataset="mnist_0_1"), ds.sel(dataset="linear_teacher")
    assert (mnist["status"] == STATUS["failed"]).all()
    assert all("exceed" in str(message) and "ParamError" in str(message) for message in mnist[ERROR].values)
    assert teacher.sel(lr=1e39)["status"] == STATUS["diverged"]
    assert teacher.sel(lr=0.05)["status"] in (STATUS["done"], STATUS["max_epochs"])
    assert (teacher[ERROR] == "").all() and ds["done"].all()


def test_killed_worker_loses_nothing(tmp_path, slow_reference, external_client):
    spec_file, reference = slow_reference
    from sweep.spec import load_spec

    store = tmp_path / "killed-worker.zarr"
    sweep = threading.Thread(target=run_sweep, args=(load_spec(spec_file), store), kwargs={"client": external_client})
    sweep.start()
    wait_for_done(store, at_least=4)
    worker_pid = next(iter(external_client.run(os.getpid).values()))
    os.kill(worker_pid, signal.SIGKILL)  # its nanny restarts it; Dask reruns its task
    sweep.join(timeout=120)
    assert not sweep.is_alive()
    external_client.wait_for_workers(2, timeout=60)
    assert run_counts(store)["remaining"] == 0
    xr.testing.assert_identical(load_results(reference), load_results(store))


def test_killed_client_resumes_without_redoing_runs(tmp_path, slow_reference, scheduler_yaml):
    spec_file, reference = slow_reference
    store = tmp_path / "killed-client.zarr"
    command = [str(BIN / "sweep"), "run", str(spec_file), "--store", str(store), "--scheduler", str(scheduler_yaml)]
    client = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_done(store, at_least=12)
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait()
    # The killed client's running tasks still finish and write their blocks; ``done`` is
    # written after a block's variables, so reading it first makes ``before`` final there.
    finished = read_done(store)
    before = open_store(store).load()
    assert 12 <= finished.sum() < finished.size

    subprocess.run(command, check=True, capture_output=True, timeout=180)
    after = open_store(store).load()
    assert after["done"].all()
    np.testing.assert_array_equal(after["wall_time"].values[finished], before["wall_time"].values[finished])
    xr.testing.assert_identical(load_results(reference), load_results(store))


def wait_for_done(store: Path, at_least: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if read_done(store).sum() >= at_least:
                return
        except Exception:  # the store is not laid out yet
            pass
        assert time.monotonic() < deadline, f"fewer than {at_least} runs finished in {timeout} s"
        time.sleep(0.05)
