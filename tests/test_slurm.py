"""`jobqueue:` in scheduler.yaml (sweep/cluster.py, issue 27): workers as batch jobs through
dask-jobqueue, tested against a real single-node SLURM (tests/slurm_cluster.py): a sweep
stores what a local cluster stores; a job cancelled with `scancel` and workers past their
`lifetime` mid-sweep are replaced and the sweep loses nothing, no task running on two
workers; work is queued for the jobs adaptive scaling may start, which retires no busy
worker; a bad `jobqueue` section, or a job the batch system refuses, ends `sweep run` with
one line and exit 2, no job running."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
import xarray as xr

from sweep import problems
from sweep.cluster import ClusterConfigError, ClusterConfig, LocalClusterConfig, connect, parse_cluster_config
from sweep.engine import IN_FLIGHT_PER_THREAD, run_sweep
from sweep.spec import load_spec
from sweep.store import read_done, run_counts
from sweep.tasks import choose_chunks
from tests.slurm_cluster import single_node_slurm, slurm_missing, squeue_jobs
from tests.store_contents import stored_runs
from tests.test_engine import HELD_YAML, ROOT, sweep_command, wait_for_done

PGD_YAML = """\
name: pgd_on_slurm
problem: relu_pgd
params: {d: 40, s: 4, iterations: 8, n_test: 40}
grid:
  n: [30, 80]
  seed: [0, 1, 2, 3, 4, 5]
"""
JOBQUEUE_YAML = """\
jobqueue:
  system: slurm
  cores: {processes}
  memory: 1GiB
  processes: {processes}
  walltime: "00:10:00"
  log-directory: {folder}/logs
  job-script-prologue: ["echo prologue ran"]
  job-extra-directives: ["--job-name=sweep-test"]
  jobs: {jobs}
{extra}"""
WAIT = 120.0  # seconds for a state of the batch system (a job running, replaced, gone)


@pytest.fixture(scope="module")
def slurm():
    missing = slurm_missing()
    if missing or os.geteuid() != 0:
        why = (f"SLURM is not installed ({', '.join(missing)} missing; .ci/run installs slurmctld, slurmd, "
               "slurm-client and munge)" if missing else "the single-node SLURM is started as root")
        if os.environ.get("CI"):
            pytest.fail(f"{why}, and CI must run these tests")
        pytest.skip(why)
    with single_node_slurm() as env:
        yield env


def wait_until(condition, what: str):
    deadline = time.monotonic() + WAIT
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {WAIT:g} s"
        time.sleep(0.2)
    return value


def running_jobs(env) -> set[str]:
    jobs = squeue_jobs(env)
    assert {name for _, _, name in jobs} <= {"sweep-test"}  # job-extra-directives reach the job script
    return {job for job, state, _ in jobs if state == "RUNNING"}


def write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder / name


def jobqueue_file(folder: Path, extra: str = "") -> Path:
    """``folder/scheduler.yaml``: JOBQUEUE_YAML with two jobs of one worker, plus ``extra`` keys."""
    return write(folder, "scheduler.yaml", JOBQUEUE_YAML.format(folder=folder, processes=1, jobs=2, extra=extra))


def start_sweep(spec: Path, store: Path, scheduler: Path, env: dict) -> subprocess.Popen:
    """`sweep run` (the test problems registered) in a new process; the jobs it submits
    inherit its environment, so their workers import tests.hungry_problem too."""
    env = {**env, "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])}
    return subprocess.Popen(sweep_command("run", str(spec), "--store", str(store), "--scheduler", str(scheduler)),
                            cwd=spec.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def hungry(monkeypatch):
    monkeypatch.setitem(problems.PROBLEMS, "hungry", "tests.hungry_problem")


def local_reference(spec_file: Path, store: Path) -> xr.Dataset:
    local = ClusterConfig(local=LocalClusterConfig(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
    with connect(local) as client:
        run_sweep(load_spec(spec_file), store, client=client)
    return stored_runs(store)


def test_jobqueue_sweep_stores_what_a_local_cluster_stores(tmp_path, slurm):
    spec = write(tmp_path, "pgd.yaml", PGD_YAML)
    scheduler = jobqueue_file(tmp_path)
    sweep = start_sweep(spec, tmp_path / "slurm.zarr", scheduler, slurm)
    out, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, err
    assert "ran 12 runs" in out and "jobs: 0 pending, 2 running" in err
    assert not squeue_jobs(slurm)  # the cluster's jobs are cancelled with it
    outputs = sorted((tmp_path / "logs").glob("*.out"))
    assert len(outputs) == 2 and all(path.read_text().startswith("prologue ran\n") for path in outputs)
    xr.testing.assert_identical(local_reference(spec, tmp_path / "local.zarr"), stored_runs(tmp_path / "slurm.zarr"))


def held_spec(tmp_path: Path) -> tuple[Path, Path, int]:
    """A sweep of 12 runs whose runs from seed 6 on wait for a release file: (its spec
    file, the release file, how many runs are done before the release)."""
    release = tmp_path / "release"
    spec = write(tmp_path, "held.yaml", HELD_YAML.format(until=release, seeds=", ".join(map(str, range(12)))))
    block = choose_chunks(load_spec(spec))[0]
    return spec, release, 6 // block * block


def test_a_cancelled_job_is_replaced_and_its_runs_rerun(tmp_path, slurm, hungry):
    """Once the runs before the release are done and both jobs run (each worker then holds
    a waiting run), one job is cancelled; once a new job runs in its place and the lost one
    is gone, the release file is created: the sweep finishes with every run done, as a
    local cluster stores them."""
    spec, release, before = held_spec(tmp_path)
    store = tmp_path / "slurm.zarr"
    scheduler = jobqueue_file(tmp_path)
    sweep = start_sweep(spec, store, scheduler, slurm)
    try:
        wait_for_done(store, at_least=before)
        first = wait_until(lambda: (running := running_jobs(slurm)) and len(running) == 2 and running,
                           "2 jobs running")
        lost = sorted(first)[0]
        subprocess.run(["scancel", lost], env=slurm, check=True)
        wait_until(lambda: lost not in {job for job, _, _ in squeue_jobs(slurm)}, f"job {lost} gone")
        wait_until(lambda: running_jobs(slurm) - first, "a new job running")
        assert read_done(store).sum() < 12
        release.touch()
        out, err = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, err
    assert run_counts(store)["remaining"] == 0
    xr.testing.assert_identical(local_reference(spec, tmp_path / "local.zarr"), stored_runs(store))


def test_ctrl_c_saves_what_is_done_and_cancels_the_jobs(tmp_path, slurm, hungry):
    """Ctrl-C (SIGINT) to a jobqueue sweep that cannot finish: exit 130, one line saying how
    many runs are saved, the lock released, and no job left in the queue."""
    spec, release, before = held_spec(tmp_path)
    store = tmp_path / "slurm.zarr"
    scheduler = jobqueue_file(tmp_path)
    sweep = start_sweep(spec, store, scheduler, slurm)
    try:
        wait_for_done(store, at_least=max(before, 1))
        wait_until(lambda: running_jobs(slurm), "a job running")
        sweep.send_signal(signal.SIGINT)
        out, err = sweep.communicate(timeout=120)
    finally:
        sweep.kill()
        release.touch()
    assert sweep.returncode == 130, err
    assert f"interrupted: {read_done(store).sum()} runs saved in {store}" in err.splitlines()[-1], err
    assert not (tmp_path / "slurm.zarr.lock").exists()
    wait_until(lambda: not squeue_jobs(slurm), "the jobs cancelled")


def scheduler_state(client, read):
    return client.run_on_scheduler(lambda dask_scheduler: read(dask_scheduler))


def test_a_worker_past_its_lifetime_finishes_its_run_then_its_job_is_replaced(tmp_path, slurm, hungry,
                                                                                monkeypatch):
    """One job of two worker processes with a 10 s lifetime: each worker, then holding a
    run that waits for the release, stops taking tasks but stays until its run is done;
    after the release both leave, the job ends, and a new job runs the rest (dask-jobqueue
    alone would not replace it: its plan names the job, the scheduler its workers JOB-0 and
    JOB-1). No task ever ran on two workers, and the store is a local cluster's."""
    spec, release, before = held_spec(tmp_path)
    store = tmp_path / "slurm.zarr"
    scheduler = JOBQUEUE_YAML.format(folder=tmp_path, processes=2, jobs=1,
                                     extra="  lifetime: 10s\n  lifetime-stagger: 1s\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))  # the jobs' too
    with connect(parse_cluster_config(yaml.safe_load(scheduler))) as client:
        sweep = threading.Thread(target=run_sweep, args=(load_spec(spec), store), kwargs={"client": client})
        sweep.start()
        try:
            wait_for_done(store, at_least=before)
            first = wait_until(lambda: running_jobs(slurm), "the job running")
            wait_until(lambda: scheduler_state(client, lambda s: sorted(w.status.name for w in s.workers.values()))
                       == ["closing_gracefully"] * 2, "both workers past their lifetime")
            assert running_jobs(slurm) == first and read_done(store).sum() == before  # their runs not cut short
        finally:
            release.touch()
        wait_until(lambda: not first & {job for job, _, _ in squeue_jobs(slurm)}, "the first job gone")
        wait_until(lambda: running_jobs(slurm) - first, "a new job running")
        sweep.join(timeout=300)
        processing = scheduler_state(client, lambda s: [entry[0] for entry in s.transition_log
                                                         if entry[2] == "processing"])
    assert not sweep.is_alive() and run_counts(store)["remaining"] == 0
    assert len(processing) == len(set(processing)) == 12 // choose_chunks(load_spec(spec))[0]
    xr.testing.assert_identical(local_reference(spec, tmp_path / "local.zarr"), stored_runs(store))


def test_work_is_queued_for_the_jobs_adaptive_scaling_may_start(tmp_path, slurm, hungry, monkeypatch):
    """adapt {minimum: 1, maximum: 2}: the sweep starts on one job, and queues
    IN_FLIGHT_PER_THREAD tasks per thread of the 2 jobs (the queue is what adaptive scaling
    reads), not only of the worker that has joined; asked to scale down to none while
    every worker runs a task, adaptive scaling retires none of them."""
    spec, release, _ = held_spec(tmp_path)
    store = tmp_path / "slurm.zarr"
    scheduler = JOBQUEUE_YAML.format(folder=tmp_path, processes=1, jobs=2, extra="").replace(
        "  jobs: 2\n", "  adapt: {minimum: 1, maximum: 2}\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))  # the jobs' too
    with connect(parse_cluster_config(yaml.safe_load(scheduler))) as client:
        sweep = threading.Thread(target=run_sweep, args=(load_spec(spec), store), kwargs={"client": client})
        sweep.start()
        try:
            wait_until(lambda: scheduler_state(client, lambda s: len(s.tasks)) == IN_FLIGHT_PER_THREAD * 2,
                       "the tasks of 2 one-core jobs in flight")
            wait_until(lambda: scheduler_state(client, lambda s: all(w.processing for w in s.workers.values())),
                       "every worker running a (waiting) task")
            cluster = client.cluster  # adaptive scaling never retires a worker that runs a task
            assert cluster.sync(cluster._adaptive.workers_to_close, target=0) == []
        finally:
            release.touch()
            sweep.join(timeout=300)
    assert not sweep.is_alive() and run_counts(store)["remaining"] == 0


def test_a_bad_jobqueue_section_is_refused_before_any_job(tmp_path, slurm):
    spec = write(tmp_path, "pgd.yaml", PGD_YAML)
    for extra, key in (("  walltim: '01:00:00'\n", "jobqueue.walltim"), ("  lifetime: soon\n", "jobqueue.lifetime")):
        scheduler = jobqueue_file(tmp_path, extra=extra)
        done = subprocess.run([str(Path(sys.executable).parent / "sweep"), "run", str(spec), "--store",
                               str(tmp_path / "s.zarr"), "--scheduler", str(scheduler)], env=slurm,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and repr(key) in done.stderr, done.stderr
        assert not squeue_jobs(slurm) and not (tmp_path / "s.zarr").exists()
        assert not (tmp_path / "logs").exists()  # dask-jobqueue never ran: it creates the log directory


def test_a_job_the_batch_system_refuses_ends_the_sweep_with_its_message(tmp_path, slurm):
    spec = write(tmp_path, "pgd.yaml", PGD_YAML)
    scheduler = jobqueue_file(tmp_path, extra="  queue: nowhere\n")
    done = subprocess.run([str(Path(sys.executable).parent / "sweep"), "run", str(spec), "--store",
                           str(tmp_path / "s.zarr"), "--scheduler", str(scheduler)], env=slurm,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "refused the worker job" in done.stderr, done.stderr
    assert "invalid partition" in done.stderr.lower(), done.stderr  # sbatch's own words
    assert not squeue_jobs(slurm) and not (tmp_path / "s.zarr").exists()


GOOD = {"system": "slurm", "cores": 2, "memory": "4GiB", "jobs": 3}


def test_the_readme_slurm_example_is_a_valid_scheduler_config():
    readme = (ROOT / "README.md").read_text()
    example = readme.split("### SLURM", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_cluster_config(yaml.safe_load(example))
    assert config.jobqueue.system == "slurm" and (config.jobqueue.minimum, config.jobqueue.maximum) == (1, 20)


@pytest.mark.parametrize("change, key", [
    ({"system": "sge"}, "jobqueue.system"),
    ({"cores": 0}, "jobqueue.cores"),
    ({"cores": 3, "processes": 2}, "jobqueue.processes"),
    ({"memory": "lots"}, "jobqueue.memory"),
    ({"walltime": "1 hour"}, "jobqueue.walltime"),
    ({"walltime": 1800}, "jobqueue.walltime"),  # `walltime: 30:00` unquoted
    ({"job-extra-directives": "--exclusive"}, "jobqueue.job-extra-directives"),
    ({"lifetime-stagger": "4m"}, "jobqueue.lifetime-stagger"),
    ({"jobs": None, "adapt": {"minimum": 3, "maximum": 2}}, "jobqueue.adapt.minimum"),
    ({"jobs": None, "adapt": {"minimum": 0, "maximum": 2}}, "jobqueue.adapt.minimum"),
    ({"adapt": {"maximum": 2}}, "jobqueue.jobs"),
    ({"jobs": None}, "jobqueue.jobs"),
    ({"accont": "x"}, "jobqueue.accont"),
])
def test_jobqueue_values_are_checked_when_read(change, key):
    raw = {**GOOD, **change}
    raw = {name: value for name, value in raw.items() if value is not None}
    with pytest.raises(ClusterConfigError, match=f"'{key}'"):
        parse_cluster_config({"jobqueue": raw})


def test_jobqueue_section_maps_to_dask_jobqueue_arguments():
    adaptive = {name: value for name, value in GOOD.items() if name != "jobs"}
    config = parse_cluster_config({"jobqueue": {**adaptive, "adapt": {"maximum": 8}, "lifetime": "55m",
                                                "lifetime-stagger": "4m", "worker-extra-args": ["--nthreads", "2"],
                                                "queue": "short", "scheduler-options": {"dashboard_address": ":0"}}})
    jobqueue = config.jobqueue
    assert (jobqueue.minimum, jobqueue.maximum) == (1, 8)
    arguments = jobqueue.cluster_arguments()
    assert arguments["worker_extra_args"] == ["--nthreads", "2"]  # the lifetime is sweep's (DrainedLifetime)
    assert (jobqueue.lifetime, jobqueue.lifetime_stagger) == ("55m", "4m")
    assert arguments["queue"] == "short" and arguments["scheduler_options"] == {"dashboard_address": ":0"}
    assert "account" not in arguments  # left to dask-jobqueue's own configuration
    from dask_jobqueue import SLURMCluster

    with SLURMCluster(**arguments) as cluster:
        script = cluster.job_script()  # dask-jobqueue writes the job script
    assert "#SBATCH -p short" in script and "--nthreads 2" in script and "#SBATCH --cpus-per-task=2" in script
    assert parse_cluster_config({"jobqueue": GOOD}).jobqueue.minimum == 3  # jobs: N keeps N jobs
    with pytest.raises(ClusterConfigError, match="'jobqueue'"):
        parse_cluster_config({"jobqueue": GOOD, "address": "tcp://10.0.0.5:8786"})
