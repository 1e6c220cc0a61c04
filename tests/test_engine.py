"""The engine (sweep/engine.py, tasks.py, cluster.py): serial, local and external clusters
give identical stores; killed workers and clients lose nothing; failures are recorded."""
import os
import re
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

from sweep import problems
from sweep import cluster as cluster_module
from sweep.cluster import ClusterConfig, ClusterConfigError, LocalClusterConfig, SchedulerLost, connect, \
    load_cluster_config, parse_cluster_config
from sweep.engine import execute, plan_sweep, run_sweep, start
from sweep.lock import StoreLock
from sweep.problems.results import STATUS
from sweep.spec import parse_spec
from sweep.store import ERROR, open_store, read_done, run_counts
from sweep.tasks import choose_chunks
from tests.store_contents import stored_runs

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent  # on the workers' path: they import tests.hungry_problem

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


load_results = stored_runs


class DaskProcesses:
    """A real cluster on 127.0.0.1: a `dask scheduler` process and `dask worker` processes
    (each in its own session, so that signals reach it alone), logged to ``folder``;
    :meth:`stop` ends them all. ``config``: a scheduler YAML pointing at it."""

    def __init__(self, folder: Path, scheduler_env: dict | None = None):
        self.folder, self.scheduler_file = folder, folder / "scheduler.json"
        self.log = open(folder / "cluster.log", "w")
        self.processes: list[subprocess.Popen] = []
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.config = folder / "scheduler.yaml"
        self.config.write_text(f"scheduler_file: {self.scheduler_file}\n")
        self._start("scheduler", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1", "--port", "0",
                    "--dashboard-address", ":0", env=scheduler_env or {})
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists():
            assert time.monotonic() < deadline, "the test scheduler did not start"
            time.sleep(0.2)

    def add_worker(self, *options: str) -> subprocess.Popen:
        return self._start("worker", "--scheduler-file", str(self.scheduler_file), "--nthreads", "1", "--host",
                           "127.0.0.1", "--dashboard-address", ":0", *options, env={})

    def client(self) -> Client:
        return Client(scheduler_file=str(self.scheduler_file))

    def _start(self, *args: str, env: dict) -> subprocess.Popen:
        process = subprocess.Popen([str(BIN / "dask"), *args], cwd=self.folder, stdout=self.log,
                                   stderr=subprocess.STDOUT, start_new_session=True, env={**self.env, **env})
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def scheduler_yaml(tmp_path_factory):
    """A real cluster: `dask scheduler` and two 1-thread `dask worker` processes (with
    nannies) on 127.0.0.1, described by a scheduler YAML; torn down after the module."""
    cluster = DaskProcesses(tmp_path_factory.mktemp("cluster"))
    try:
        for _ in range(2):
            cluster.add_worker("--memory-limit", "2GiB")
        with cluster.client() as client:
            client.wait_for_workers(2, timeout=60)
        yield cluster.config
    finally:
        cluster.stop()


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_killed_client_resumes_without_redoing_runs(tmp_path, slow_reference, scheduler_yaml):
    """Case 1: the tasks a killed client left running on the cluster write nothing (before
    the lock, they kept writing with no client); a resume finishes the sweep, keeping every
    run finished before the kill."""
    spec_file, reference = slow_reference
    store = tmp_path / "killed-client.zarr"
    command = [str(BIN / "sweep"), "run", str(spec_file), "--store", str(store), "--scheduler", str(scheduler_yaml)]
    client = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_done(store, at_least=12)
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait()
    time.sleep(1)  # a write a task had begun before the kill lands
    finished = read_done(store)
    before = open_store(store).load()
    assert 12 <= finished.sum() < finished.size
    time.sleep(10)  # the orphaned tasks (3 per worker) finish their runs, and write nothing
    np.testing.assert_array_equal(read_done(store), finished)

    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0 and "taking over" in result.stderr, result.stderr
    after = open_store(store).load()
    assert after["done"].all()
    np.testing.assert_array_equal(after["wall_time"].values[finished], before["wall_time"].values[finished])
    xr.testing.assert_identical(load_results(reference), load_results(store))


RACE_YAML = """\
name: {name}
problem: hungry
params: {{pause: 0.5, offset: {offset}}}
grid:
  seed: [{seeds}]
"""


def sweep_command(*args: str) -> list[str]:
    """The real CLI in a new process, with the test problems registered."""
    code = ("import sys; from sweep import problems; problems.PROBLEMS['hungry'] = 'tests.hungry_problem'; "
            "from sweep.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, *args]


@pytest.mark.slow
def test_two_sweep_runs_cannot_corrupt_a_store(tmp_path, scheduler_yaml):
    """Case 1, the race: `sweep run B --overwrite` while A runs is refused, naming A; once A
    is killed, B takes the store over, and the tasks A left running on the cluster write
    none of A's values into it. Runs take 0.5 s each: A lasts >= 12 s whatever the load."""
    seeds = ", ".join(map(str, range(48)))
    spec_a, spec_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    spec_a.write_text(RACE_YAML.format(name="a", offset=0.5, seeds=seeds))
    spec_b.write_text(RACE_YAML.format(name="b", offset=0.25, seeds=seeds))
    store = tmp_path / "s.zarr"

    def sweep(spec, *extra):
        return sweep_command("run", str(spec), "--store", str(store), "--scheduler", str(scheduler_yaml), *extra)

    a = subprocess.Popen(sweep(spec_a), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_done(store, at_least=6)
        b = subprocess.run(sweep(spec_b, "--overwrite"), capture_output=True, text=True, timeout=120)
        assert a.poll() is None, "A finished before B tried: the race was not tested"
        assert b.returncode == 2 and f"in use by another `sweep run` (pid {a.pid}" in b.stderr, b.stderr
        assert b.stderr.count("\n") == 1 and open_store(store).attrs["spec"]["name"] == "a"
    finally:
        a.send_signal(signal.SIGKILL)
        a.wait()
    a_done = read_done(store)
    assert 6 <= a_done.sum() < 48
    b = subprocess.run(sweep(spec_b, "--overwrite"), capture_output=True, text=True, timeout=300)
    assert b.returncode == 0 and "taking over" in b.stderr, b.stderr
    time.sleep(2)  # any task A left running has long finished, and tried to write
    ds = open_store(store).load()
    assert ds.attrs["spec"]["name"] == "b" and ds["done"].all()
    np.testing.assert_array_equal(ds["value"].values, np.arange(48) + 0.25)  # none of A's seed + 0.5
    again = subprocess.run(sweep(spec_a), capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "different sweep" in again.stderr and again.stderr.count("\n") == 1


STALE_YAML = """\
name: {name}
problem: hungry
params: {{pause: 0.1, offset: {offset}, bulk: 1000000}}
grid:
  seed: [{seeds}]
"""


@pytest.mark.slow
def test_a_stopped_writer_of_a_killed_sweep_writes_nothing_into_the_next_one(tmp_path):
    """Case 1, the stale writer, on a real external cluster of `dask worker --no-nanny`
    processes: while a block of A is being written (a chunk file's temporary `.partial`
    is there) both workers are stopped (SIGSTOP), so that a writer is caught past its
    lock check, mid-write; A is killed. The scheduler drops the stopped workers (a
    worker-ttl of 3 s), a third worker joins, and B (another spec, --overwrite) takes
    the store over and finishes on it. Then the stopped workers are continued
    (SIGCONT): the caught writer goes on writing A's block, and the workers end (the
    scheduler forgot them). B's store holds B's values alone (`value`, and the 8 MB of
    `bulk` per run), intact to `sweep verify`."""
    seeds = ", ".join(map(str, range(24)))
    spec_a, spec_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    spec_a.write_text(STALE_YAML.format(name="a", offset=0.5, seeds=seeds))
    spec_b.write_text(STALE_YAML.format(name="b", offset=0.25, seeds=seeds))
    store = tmp_path / "s.zarr"
    cluster = DaskProcesses(tmp_path, scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "3s"})

    def sweep(spec, *extra):
        return subprocess.Popen(sweep_command("run", str(spec), "--store", str(store), "--scheduler",
                                              str(cluster.config), *extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    try:
        stopped = [cluster.add_worker("--no-nanny") for _ in range(2)]
        with cluster.client() as client:
            client.wait_for_workers(2, timeout=60)
            a = sweep(spec_a)
            try:
                caught = False
                while not caught:  # until a writer is stopped mid-write
                    wait_until(lambda: a.poll() is not None or any(store.glob("bulk/.c.*.partial")), poll=0.001)
                    assert a.poll() is None, "A finished before one of its writers was caught mid-write"
                    for worker in stopped:
                        os.kill(worker.pid, signal.SIGSTOP)
                    caught = any(store.glob("bulk/.c.*.partial"))
                    if not caught:
                        for worker in stopped:
                            os.kill(worker.pid, signal.SIGCONT)
            finally:
                a.kill()
                a.communicate()
            wait_until(lambda: not client.nthreads())  # the scheduler dropped the stopped workers
            cluster.add_worker("--no-nanny")
            client.wait_for_workers(1, timeout=60)
            b = sweep(spec_b, "--overwrite")
            out, err = b.communicate(timeout=180)
        for worker in stopped:
            os.kill(worker.pid, signal.SIGCONT)
        for worker in stopped:  # each ends its orphaned task of A (the caught write), then exits
            worker.wait(timeout=120)
    finally:
        cluster.stop()
    assert b.returncode == 0 and "taking over" in err, err
    verify = subprocess.run([str(BIN / "sweep"), "verify", str(store)], capture_output=True, text=True)
    assert verify.returncode == 0 and "every chunk is readable" in verify.stdout, verify.stdout
    ds = open_store(store).load()
    assert ds.attrs["spec"]["name"] == "b" and ds["done"].all()
    np.testing.assert_array_equal(ds["value"].values, np.arange(24) + 0.25)  # none of A's seed + 0.5
    draws = np.stack([np.random.default_rng(seed).standard_normal(1000000) for seed in range(24)])
    np.testing.assert_array_equal(ds["bulk"].values, draws + 0.25)


def wait_until(condition, timeout: float = 120, poll: float = 0.05) -> None:
    """Return once ``condition()`` holds (an exception counts as not yet), looking every ``poll`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except Exception:
            pass
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {condition}"
        time.sleep(poll)


HELD_YAML = """\
name: held
problem: hungry
params: {{wait_from: 6, until: {until}}}
grid:
  seed: [{seeds}]
"""
INTERRUPTS = {"Ctrl-C": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143)}


def held_sweep(tmp_path: Path) -> tuple[list[str], Path, Path]:
    """`sweep run` of a local-cluster sweep that cannot finish before the test creates
    its release file (the runs from seed 6 on wait for it): (command, store, release)."""
    release, store = tmp_path / "release", tmp_path / "s.zarr"
    spec = tmp_path / "held.yaml"
    spec.write_text(HELD_YAML.format(until=release, seeds=", ".join(map(str, range(16)))))
    return sweep_command("run", str(spec), "--store", str(store)), store, release


def start_held(command: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)


def stderr_lines(err: str) -> list[str]:
    """stderr without the progress bar."""
    return [line for line in re.split(r"[\r\n]", err) if line.strip() and not re.match(r"\s*\d+%\|", line)]


@pytest.mark.parametrize("interrupt", INTERRUPTS)
def test_an_interrupt_saves_what_is_done_and_says_so(interrupt, tmp_path):
    """Case 18 and Ctrl-C: SIGINT or SIGTERM to the whole process group (a terminal's
    Ctrl-C; a batch system's scancel, a container stop) of a local-cluster sweep that
    cannot finish first, once the store holds finished runs: exit 130 or 143, one line
    saying how many runs are saved (they are, with their values), the lock released, no
    Dask or Python warning (no leaked semaphore)."""
    number, code = INTERRUPTS[interrupt]
    command, store, release = held_sweep(tmp_path)
    process = start_held(command, tmp_path)
    try:
        wait_for_done(store, at_least=2)
    finally:
        os.killpg(process.pid, number)
        release.write_text("")  # the held runs end, whatever the cluster's closing does with them
        out, err = process.communicate(timeout=120)
    finished = read_done(store)
    assert process.returncode == code, err
    assert stderr_lines(err) == [f"interrupted: {finished.sum()} runs saved in {store}; run the same command to "
                                 "resume"], err
    assert 2 <= finished.sum() < 16 and not (tmp_path / "s.zarr.lock").exists()
    np.testing.assert_array_equal(open_store(store)["value"].values[finished], np.arange(16)[finished] + 0.5)


@pytest.mark.parametrize("interrupt", INTERRUPTS)
def test_an_interrupt_while_the_local_cluster_starts_is_not_lost(interrupt, tmp_path):
    """Case 4: SIGINT or SIGTERM to the process group while the local cluster starts (its
    worker processes are there, the store is not yet): the workers survive it, the sweep
    stops once the cluster is up (exit 130 or 143, one line), runs nothing and leaves no
    lock; before, Ctrl-C was dropped and the sweep ran to the end."""
    import psutil

    number, code = INTERRUPTS[interrupt]
    command, store, release = held_sweep(tmp_path)
    process = start_held(command, tmp_path)
    try:
        def workers():
            children = psutil.Process(process.pid).children(recursive=True)
            return [child for child in children if "spawn_main" in " ".join(child.cmdline())]

        wait_until(lambda: workers(), poll=0.01)
        assert not store.exists(), "the cluster had started before the signal: start-up was not tested"
        for worker in workers():  # blocked from exec on, before Python installs any handler
            blocked = int(Path(f"/proc/{worker.pid}/status").read_text().split("SigBlk:")[1].split()[0], 16)
            assert blocked >> (number - 1) & 1, f"worker {worker.pid} does not block signal {number}"
    finally:
        os.killpg(process.pid, number)
        release.write_text("")
        out, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert stderr_lines(err) == [f"interrupted: 0 runs saved in {store}; run the same command to resume"], err
    assert not store.exists() and not (tmp_path / "s.zarr.lock").exists()


def local_workers(process: subprocess.Popen) -> list:
    """The worker processes of the local cluster ``process`` starts (psutil processes)."""
    import psutil

    children = psutil.Process(process.pid).children(recursive=True)
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


def test_a_worker_killed_while_the_local_cluster_starts_is_one_line(tmp_path):
    """Case 3: SIGKILL of a worker process the moment it exists (the cluster is not up, the
    store not created): one line saying the cluster did not start, exit 2, no traceback,
    no store and no lock left (before: exit 1, `RuntimeError: Nanny failed to start.`)."""
    command, store, release = held_sweep(tmp_path)
    release.write_text("")
    process = start_held(command, tmp_path)
    try:
        wait_until(lambda: local_workers(process), poll=0.01)
        assert not store.exists(), "the cluster had started before the kill: start-up was not tested"
        local_workers(process)[0].kill()
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert "Traceback" not in err and process.returncode == 2, err
    assert stderr_lines(err) == ["sweep run: error: the local Dask cluster did not start (RuntimeError: Nanny failed "
                                 "to start.); run the same command again"], err
    assert not store.exists() and not (tmp_path / "s.zarr.lock").exists()


@pytest.mark.slow
def test_a_killed_scheduler_is_one_line_and_a_resume_finishes_the_sweep(tmp_path):
    """Case 2: SIGKILL of the external cluster's `dask scheduler` once the store holds
    finished runs (the rest wait for a file the test creates later): one line naming the
    scheduler and the runs saved, exit 2, no traceback, the lock released; the saved runs
    hold their values. With a new scheduler and workers, the same command finishes the
    sweep: every run's value seed + 0.5, every chunk intact to `sweep verify`."""
    command, store, release = held_sweep(tmp_path)
    (tmp_path / "lost").mkdir()
    lost = DaskProcesses(tmp_path / "lost")
    try:
        for _ in range(2):
            lost.add_worker("--memory-limit", "2GiB")
        with lost.client() as client:
            client.wait_for_workers(2, timeout=60)
        process = start_held([*command, "--scheduler", str(lost.config)], tmp_path)
        try:
            wait_for_done(store, at_least=6)  # seeds 0-5: the others wait, none is being written
        finally:
            lost.processes[0].kill()  # the scheduler
            out, err = process.communicate(timeout=120)
    finally:
        lost.stop()
    saved = read_done(store)
    assert "Traceback" not in err and process.returncode == 2, err
    [line] = stderr_lines(err)
    assert line.startswith(f"sweep run: error: lost the Dask scheduler in '{lost.scheduler_file}' while the sweep "
                           "ran ("), line
    assert line.endswith(f"); 6 runs saved in {store}; restart the scheduler and run the same command to resume"), line
    assert saved.sum() == 6 and not (tmp_path / "s.zarr.lock").exists()
    np.testing.assert_array_equal(open_store(store)["value"].values[saved], np.arange(16)[saved] + 0.5)

    release.write_text("")
    (tmp_path / "restarted").mkdir()
    restarted = DaskProcesses(tmp_path / "restarted")
    try:
        restarted.add_worker("--memory-limit", "2GiB")
        resumed = subprocess.run([*command, "--scheduler", str(restarted.config)], capture_output=True, text=True,
                                 timeout=300, cwd=tmp_path, env=restarted.env)
    finally:
        restarted.stop()
    assert resumed.returncode == 0 and "6 already done" in resumed.stdout, resumed.stderr
    verify = subprocess.run([str(BIN / "sweep"), "verify", str(store)], capture_output=True, text=True)
    assert verify.returncode == 0 and "every chunk is readable" in verify.stdout, verify.stdout
    ds = open_store(store).load()
    assert ds["done"].all()
    np.testing.assert_array_equal(ds["value"].values, np.arange(16) + 0.5)


@pytest.mark.slow
def test_a_reset_connection_as_the_scheduler_dies_is_its_loss(tmp_path):
    """A call that fails with a reset connection the moment the external scheduler is
    killed, before the client has noticed the loss (CI saw `ConnectionPool.gather` do
    so), is SchedulerLost, not the OSError; one raised while the scheduler lives is not."""
    cluster = DaskProcesses(tmp_path)
    try:
        with connect(load_cluster_config(cluster.config)) as client:
            with pytest.raises(ConnectionResetError):
                with cluster_module._scheduler_lost(client, "here"):
                    raise ConnectionResetError(104, "Connection reset by peer")
            with pytest.raises(SchedulerLost, match=r"^lost the Dask scheduler here while the sweep ran "
                                                     r"\(ConnectionResetError: \[Errno 104\]"):
                with cluster_module._scheduler_lost(client, "here"):
                    cluster.processes[0].kill()  # the client notices it only after the raise
                    raise ConnectionResetError(104, "Connection reset by peer")
    finally:
        cluster.stop()


def test_warnings_of_runs_are_counted_not_printed(tmp_path):
    """Case 18's RuntimeWarnings: on a local cluster's workers (whose stderr is the
    terminal's), a run that overflows and divides 0 by 0 in NumPy, and runs that take the
    mean of an empty slice (a warnings.warn that Python shows once per location unless
    reset), print nothing into the progress bar; the summary counts the runs per kind of
    warning, every one of the three, and every run is done."""
    spec = tmp_path / "warns.yaml"
    spec.write_text("name: warns\nproblem: hungry\nparams: {overflow_at: 3, empty_from: 3}\n"
                    "grid:\n  seed: [0, 1, 2, 3, 4, 5]\n")
    store = tmp_path / "s.zarr"
    process = start_held(sweep_command("run", str(spec), "--store", str(store)), tmp_path)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert stderr_lines(err) == [], err
    assert out.splitlines()[-2:] == ["ran 6 runs: 6 done",
                                     "warnings of runs (not shown): RuntimeWarning: Mean of empty slice in 3 runs, "
                                     "invalid value in 1 run, overflow in 1 run"], out
    np.testing.assert_array_equal(open_store(store)["value"].values, np.arange(6) + 0.5)


def test_dask_log_lines_are_not_shown_while_connected():
    """Case 16: `distributed.client` has a level (WARNING) and a handler of its own in
    Dask's logging config, so silencing `distributed` left its "Couldn't gather 1 keys,
    rescheduling" (logged after a worker kill) on the terminal. In a fresh process, while
    connected to a local cluster it is silent; outside, the same logger prints it (the
    test sees a live logger)."""
    code = ("import logging; from sweep.cluster import ClusterConfig, LocalClusterConfig, connect; "
            "log = logging.getLogger('distributed.client')\n"
            "with connect(ClusterConfig(local=LocalClusterConfig(n_workers=1, memory_limit='1GiB'))):\n"
            "    log.warning('inside: Couldn\\'t gather 1 keys, rescheduling')\n"
            "log.warning('outside: Couldn\\'t gather 1 keys, rescheduling')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    logged = [line for line in result.stderr.splitlines() if "gather" in line]
    assert len(logged) == 1 and logged[0].endswith("distributed.client - WARNING - outside: Couldn't gather 1 keys, "
                                                   "rescheduling"), result.stderr


@pytest.fixture
def hungry(monkeypatch):
    monkeypatch.setitem(problems.PROBLEMS, "hungry", "tests.hungry_problem")


def test_poison_run_is_recorded_not_fatal(tmp_path, hungry):
    """Case 2: a run that takes more memory than its worker may have is killed with its
    worker (a real nanny, a real memory limit), tried on a second worker, then recorded as
    failed with the reason; its block-mate, rerun alone, and every other run are done; a
    resume does not repeat the failure."""
    spec = parse_spec({"name": "poison", "problem": "hungry", "params": {"hungry_at": 5, "megabytes": 2000},
                       "grid": {"seed": list(range(16))}})
    assert choose_chunks(spec) == (2,)  # the hungry run shares its block with seed 4
    store = tmp_path / "s.zarr"
    messages = []
    config = ClusterConfig(local=LocalClusterConfig(n_workers=2, memory_limit="400MiB"))
    with connect(config) as client:
        with StoreLock(store) as lock:
            plan = start(plan_sweep(spec, store, token=lock.token))
            tally = execute(plan, client, on_message=messages.append)
    assert tally.runs == 16 and tally.statuses == {"done": 15, "failed": 1}
    reason = "worker died: memory limit 400 MiB (tried on 2 workers)"
    assert messages == [f"block at grid index (4,) (2 runs): {reason}; rerunning its runs one by one",
                        f"run (seed=5) failed: {reason}"]
    ds = open_store(store).load()
    assert ds["done"].all() and ds["error"].values[5] == reason and ds["status"].values[5] == STATUS["failed"]
    others = np.arange(16) != 5
    assert (ds["status"].values[others] == STATUS["done"]).all() and (ds[ERROR].values[others] == "").all()
    np.testing.assert_array_equal(ds["value"].values[others], np.arange(16)[others] + 0.5)
    assert run_sweep(spec, store).runs == 0  # a resume keeps the recorded failure (no cluster needed)


def test_failures_are_final_unless_retried(tmp_path, hungry):
    """A resume never repeats a recorded failure; --retry-failed reruns it alone (its
    block-mate's results are kept as stored, not recomputed)."""
    flag = tmp_path / "failing"
    flag.write_text("")
    spec = parse_spec({"name": "f", "problem": "hungry", "params": {"fail_at": 3, "fail_while": str(flag)},
                       "grid": {"seed": list(range(16))}})
    store = tmp_path / "s.zarr"
    assert run_sweep(spec, store).statuses == {"done": 15, "failed": 1}
    assert "RuntimeError: failing while" in str(open_store(store)[ERROR].values[3])
    flag.unlink()
    assert run_sweep(spec, store).runs == 0
    assert open_store(store)["status"].values[3] == STATUS["failed"]
    assert run_sweep(spec, store, retry_failed=True).statuses == {"done": 1}
    ds = open_store(store).load()
    assert (ds["status"] == STATUS["done"]).all() and (ds[ERROR] == "").all()


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


def test_tasks_pause_the_cyclic_collector_together_and_restore_it():
    """A task's runs go without cyclic garbage collection (sweep.tasks.cyclic_gc_paused):
    two tasks of one worker overlap, the first to end leaves it paused for the other, the
    last restores it; a collector the process had turned off stays off."""
    import gc

    from sweep.tasks import cyclic_gc_paused

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with cyclic_gc_paused():
            first_in.set()
            second_in.wait(30)
        first_out.set()

    def second():
        first_in.wait(30)
        with cyclic_gc_paused():
            second_in.set()
            first_out.wait(30)
            seen["after the first ended"] = gc.isenabled()

    assert gc.isenabled()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert seen == {"after the first ended": False} and gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
