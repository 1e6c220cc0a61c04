"""Where a sweep runs: read ``scheduler.yaml`` and connect a ``distributed.Client``.

::

    scheduler_file: null   # a file written by `dask scheduler --scheduler-file F`
    address: null          # e.g. tcp://10.0.0.5:8786
    timeout: 30            # seconds to wait for that scheduler (its file to appear, its address to answer)
    local:                 # used when neither of the above is set
      n_workers: 2
      threads_per_worker: 1
      memory_limit: 4GiB
      dashboard_address: null  # null: the first free port from 8787
    dask: {}               # Dask config keys set while the sweep runs, e.g.
                           # distributed.worker.profile.enabled: true
    jobqueue:              # workers as batch jobs (SLURM, PBS) through dask-jobqueue
      system: slurm        # slurm or pbs
      cores: 1             # per job; memory, processes, walltime, queue, account,
      memory: 4GiB         # job-script-prologue, job-extra-directives, worker-extra-args,
      jobs: 2              # log-directory, interface and scheduler-options as
                           # dask-jobqueue means them; lifetime, lifetime-stagger
                           # (sweep/worker_lifetime.py); jobs: N or adapt: {minimum, maximum}

At most one of ``scheduler_file``, ``address`` and ``jobqueue`` may be set; with none, a
``LocalCluster`` of worker processes is started (and closed with the client); its
workers get LOCAL_CLUSTER_DASK_CONFIG, then the ``dask`` section on top. A ``jobqueue``
cluster (:class:`JobqueueConfig`) runs its scheduler in this process and its workers in
batch jobs, adaptively between ``minimum`` and ``maximum`` jobs (``jobs: N``: N and N);
a job whose workers are gone (its walltime, its ``lifetime``, ``scancel``) is cancelled
and replaced, and the engine reruns the tasks it had not finished.
:func:`parse_cluster_config` checks every value (addresses, byte sizes, ports) and
raises :class:`ClusterConfigError` naming the key and the value; :func:`connect`
raises :class:`ClusterUnavailable` when the scheduler cannot be reached in ``timeout``,
:class:`SchedulerLost` when an external one goes away while it is used.
"""
from __future__ import annotations

import functools
import logging
import re
import signal
import socket
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing import resource_tracker
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from sweep.files import FileTooLarge, read_bounded
from sweep.messages import did_you_mean, short_repr

if TYPE_CHECKING:
    import dask_jobqueue
    import distributed

DEFAULT_CONFIG_FILE = "scheduler.yaml"  # looked up in the working directory
DEFAULT_TIMEOUT = 30.0
MAX_CONFIG_BYTES = 2**16                # a larger scheduler config is refused unread (e.g. /dev/zero)
DASHBOARD_PORTS = range(8787, 8887)     # a local cluster's dashboard takes the first free one
QUIET_LOGGERS = ("distributed", "tornado", "asyncio", "dask_jobqueue")  # silent while a sweep runs, unless quiet=False
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)          # left to the client by a local cluster's workers
SCHEDULER_LOSS_SECONDS = 5.0    # an OSError in a sweep is a lost scheduler if the client notices the loss within

# Dask config of a local cluster (scheduler, nannies and workers share its 2 cores with
# the runs; measured with benchmarks/bench_sweep.py, see benchmarks/README.md):
# - the nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which pins glibc's mmap
#   threshold: a run's short-lived arrays then cost page faults, 5-10% of the run time.
#   None unsets it (glibc's adaptive default).
# - the worker's statistical profiler (every 10 ms) and the monitors polled several times a
#   second took about 4% of a core in the client process; they are slowed or off.
# - a task whose worker dies (a run over the memory limit, a crash) is tried twice, not
#   four times, before the engine reruns its runs alone (sweep/engine.py); one task per
#   worker thread at a time, so that only the task that ran is suspected.
# - the workers ignore Ctrl-C and SIGTERM (blocked while they start, _interrupts_held; the
#   preload runs dask_setup below): the client handles them and closes the cluster.
# - the workers log nothing: a task's error reaches the client, a worker killed by its
#   memory limit is reported by the engine, and the rest is noise on a terminal (e.g. the
#   heartbeat errors of workers that got Ctrl-C with the client).
LOCAL_CLUSTER_DASK_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.nanny.pre-spawn-environ.DASK_LOGGING__DISTRIBUTED": "critical",
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "500ms",
    "distributed.scheduler.allowed-failures": 1,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.preload": ["sweep.cluster"],
}


class ClusterConfigError(ValueError):
    """The scheduler configuration is malformed; the message names the key and value."""


class ClusterUnavailable(RuntimeError):
    """The configured scheduler cannot be reached; the message names it and the wait."""


class SchedulerLost(ClusterUnavailable):
    """The external scheduler went away while the sweep ran (killed, its host down); the
    message names it and what the client last saw."""


@dataclass(frozen=True)
class LocalClusterConfig:
    n_workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str | int = "4GiB"
    dashboard_address: str | None = None  # None: the first free port of DASHBOARD_PORTS


JOB_SYSTEMS = ("slurm", "pbs")
JOBQUEUE_KEYS = ("system", "cores", "memory", "processes", "walltime", "queue", "account", "job-script-prologue",
                 "job-extra-directives", "worker-extra-args", "log-directory", "lifetime", "lifetime-stagger",
                 "interface", "scheduler-options", "jobs", "adapt")
JOBQUEUE_LISTS = ("job-script-prologue", "job-extra-directives", "worker-extra-args")
JOBQUEUE_STRINGS = ("walltime", "queue", "account", "log-directory", "interface")
# SLURM's time formats ([D-]HH[:MM[:SS]], MM[:SS]) and PBS's HH:MM:SS
WALLTIME = re.compile(r"\d+(-\d+)?(:\d+){0,2}")
# Dask config of a jobqueue cluster's scheduler (in this process): one task per worker
# thread at a time, as on a local cluster (LOCAL_CLUSTER_DASK_CONFIG).
JOBQUEUE_DASK_CONFIG = {
    "distributed.scheduler.worker-saturation": 1.0,
}


@dataclass(frozen=True)
class JobqueueConfig:
    """Workers in batch jobs through dask-jobqueue's SLURMCluster or PBSCluster.

    The fields are dask-jobqueue's arguments of the same names (``cores``, ``memory``,
    ``processes`` per job; the lists as given), plus ``lifetime`` and
    ``lifetime_stagger`` (:class:`sweep.worker_lifetime.DrainedLifetime`: a worker
    leaves before its job's walltime, without cutting a run short, and its job is
    replaced), and
    ``minimum``/``maximum``: the jobs adaptive scaling keeps (``jobs: N`` sets both).
    """

    system: str
    cores: int
    memory: str | int
    minimum: int
    maximum: int
    processes: int = 1
    walltime: str | None = None
    queue: str | None = None
    account: str | None = None
    job_script_prologue: tuple[str, ...] = ()
    job_extra_directives: tuple[str, ...] = ()
    worker_extra_args: tuple[str, ...] = ()
    log_directory: str | None = None
    lifetime: str | None = None
    lifetime_stagger: str | None = None
    interface: str | None = None
    scheduler_options: dict = field(default_factory=dict)

    def cluster_arguments(self) -> dict[str, Any]:
        """The keyword arguments of the SLURMCluster or PBSCluster (without the cluster class)."""
        scheduler_options = {"dashboard_address": _free_dashboard_address(), **self.scheduler_options}
        arguments = {"cores": self.cores, "memory": self.memory, "processes": self.processes,
                     "walltime": self.walltime, "queue": self.queue, "account": self.account,
                     "job_script_prologue": list(self.job_script_prologue),
                     "job_extra_directives": list(self.job_extra_directives),
                     "worker_extra_args": list(self.worker_extra_args),
                     "log_directory": self.log_directory, "interface": self.interface,
                     "scheduler_options": scheduler_options}
        return {key: value for key, value in arguments.items() if value is not None}


@dataclass(frozen=True)
class ClusterConfig:
    """One of: an existing scheduler (by file or address), batch jobs, or a local cluster."""

    scheduler_file: str | None = None
    address: str | None = None
    jobqueue: JobqueueConfig | None = None
    local: LocalClusterConfig = LocalClusterConfig()
    dask: dict = field(default_factory=dict)  # Dask config keys set while connected
    timeout: float = DEFAULT_TIMEOUT          # seconds to wait for an existing scheduler


def load_cluster_config(path: str | Path | None = None) -> ClusterConfig:
    """Read ``path`` (at most MAX_CONFIG_BYTES); with None, read ./scheduler.yaml if present,
    else use the defaults."""
    from sweep.spec import SpecError, read_yaml

    if path is None:
        if not Path(DEFAULT_CONFIG_FILE).is_file():
            return ClusterConfig()
        path = DEFAULT_CONFIG_FILE
    try:
        text = read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileTooLarge:
        raise ClusterConfigError(f"scheduler config {str(path)!r} is larger than {MAX_CONFIG_BYTES:,} bytes; it is a "
                                 "few lines of YAML") from None
    except OSError as error:
        raise ClusterConfigError(f"cannot read scheduler config {str(path)!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ClusterConfigError(f"scheduler config {str(path)!r} is not UTF-8 text") from None
    try:
        raw = read_yaml(text, f"scheduler config {str(path)!r}")
    except SpecError as error:
        raise ClusterConfigError(str(error).replace("spec key", "scheduler config key")) from None
    return parse_cluster_config({} if raw is None else raw)


def parse_cluster_config(raw: Any) -> ClusterConfig:
    """Validate a configuration given as a mapping (as read from YAML)."""
    _require(isinstance(raw, dict), "scheduler config", raw, "a mapping")
    _check_keys(raw, "", ("scheduler_file", "address", "timeout", "local", "dask", "jobqueue"))
    for key in ("scheduler_file", "address"):
        _require(raw.get(key) is None or isinstance(raw[key], str) and raw[key], key, raw.get(key),
                 "null or a non-empty string")
    _require(not (raw.get("scheduler_file") and raw.get("address")), "address", raw.get("address"),
             "null when scheduler_file is set (give one of them)")
    if raw.get("address"):
        _require(_is_address(raw["address"]), "address", raw["address"],
                 "a Dask scheduler address like tcp://10.0.0.5:8786")
    timeout = raw.get("timeout", DEFAULT_TIMEOUT)
    _require(isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout < 1e6, "timeout",
             timeout, "a number of seconds > 0")
    local = raw.get("local")
    local = {} if local is None else local
    _require(isinstance(local, dict), "local", local, "a mapping")
    _check_keys(local, "local.", ("n_workers", "threads_per_worker", "memory_limit", "dashboard_address"))
    for key in ("n_workers", "threads_per_worker"):
        if key in local:
            value = local[key]
            _require(_is_count(value), f"local.{key}", value, "an integer in [1, 4096]")
    if "memory_limit" in local:
        _require(_is_byte_size(local["memory_limit"]), "local.memory_limit", local["memory_limit"],
                 "a size in bytes > 0, e.g. 4GiB, 512MiB or 4000000000")
    if local.get("dashboard_address") is not None:
        _require(isinstance(local["dashboard_address"], str)
                 and re.fullmatch(r"[\w.\-\[\]:]*:\d{1,5}", local["dashboard_address"]) is not None,
                 "local.dashboard_address", local["dashboard_address"], "null or HOST:PORT (e.g. :8787)")
    dask_config = raw.get("dask")
    dask_config = {} if dask_config is None else dask_config
    _require(isinstance(dask_config, dict) and all(isinstance(key, str) and key for key in dask_config), "dask",
             dask_config, "a mapping of Dask config keys (e.g. distributed.worker.profile.enabled) to values")
    jobqueue = raw.get("jobqueue")
    if jobqueue is not None:
        _require(not (raw.get("scheduler_file") or raw.get("address")), "jobqueue", jobqueue,
                 "null when scheduler_file or address is set (give one of them)")
        jobqueue = _parse_jobqueue(jobqueue)
    return ClusterConfig(scheduler_file=raw.get("scheduler_file"), address=raw.get("address"), jobqueue=jobqueue,
                         local=LocalClusterConfig(**local), dask=dask_config, timeout=float(timeout))


def _parse_jobqueue(raw: Any) -> JobqueueConfig:
    """Validate the ``jobqueue`` section (ClusterConfigError naming the key and value)."""
    from dask.utils import parse_timedelta

    _require(isinstance(raw, dict), "jobqueue", raw, "a mapping (system, cores, memory, jobs or adapt, ...)")
    _check_keys(raw, "jobqueue.", JOBQUEUE_KEYS)
    for key in ("system", "cores", "memory"):
        _require(key in raw, f"jobqueue.{key}", None, "given (dask-jobqueue needs system, cores and memory)")
    _require(raw["system"] in JOB_SYSTEMS, "jobqueue.system", raw["system"], f"one of {list(JOB_SYSTEMS)}")
    for key in ("cores", "processes"):
        if key in raw:
            _require(_is_count(raw[key]), f"jobqueue.{key}", raw[key], "an integer in [1, 4096]")
    processes = raw.get("processes", 1)
    _require(raw["cores"] % processes == 0, "jobqueue.processes", processes,
             f"a divisor of cores ({raw['cores']}): each worker process gets cores / processes threads")
    _require(_is_byte_size(raw["memory"]), "jobqueue.memory", raw["memory"],
             "a size in bytes > 0, e.g. 4GiB, 512MiB or 4000000000")
    walltime = raw.get("walltime")
    _require(not isinstance(walltime, (int, float)), "jobqueue.walltime", walltime,
             'a quoted time limit like "01:30:00" (unquoted, YAML reads 30:00 as the number 1800)')
    for key in JOBQUEUE_STRINGS:
        if raw.get(key) is not None:
            _require(isinstance(raw[key], str) and raw[key].strip() != "", f"jobqueue.{key}", raw[key],
                     "null or a non-empty string")
    if raw.get("walltime") is not None:
        _require(WALLTIME.fullmatch(raw["walltime"]) is not None, "jobqueue.walltime", raw["walltime"],
                 "a batch system time limit like \"01:30:00\" or \"1-12:00:00\"")
    for key in JOBQUEUE_LISTS:
        value = raw.get(key)
        _require(value is None or isinstance(value, list) and all(isinstance(item, str) for item in value),
                 f"jobqueue.{key}", value, "null or a list of strings")
    for key in ("lifetime", "lifetime-stagger"):
        value = raw.get(key)
        if value is not None:
            try:
                seconds = parse_timedelta(value) if isinstance(value, str) and not isinstance(value, bool) else None
            except (ValueError, KeyError, TypeError):
                seconds = None
            _require(seconds is not None and (seconds > 0 or key == "lifetime-stagger"), f"jobqueue.{key}", value,
                     "null or a duration like 55m, 3600s or 1h")
    _require(raw.get("lifetime-stagger") is None or raw.get("lifetime") is not None, "jobqueue.lifetime-stagger",
             raw.get("lifetime-stagger"), "null when lifetime is not set")
    options = raw.get("scheduler-options")
    _require(options is None or isinstance(options, dict) and all(isinstance(key, str) for key in options),
             "jobqueue.scheduler-options", options, "null or a mapping of distributed.Scheduler arguments")
    minimum, maximum = _job_counts(raw)
    return JobqueueConfig(
        system=raw["system"], cores=raw["cores"], memory=raw["memory"], minimum=minimum, maximum=maximum,
        processes=processes, walltime=raw.get("walltime"), queue=raw.get("queue"), account=raw.get("account"),
        job_script_prologue=tuple(raw.get("job-script-prologue") or ()),
        job_extra_directives=tuple(raw.get("job-extra-directives") or ()),
        worker_extra_args=tuple(raw.get("worker-extra-args") or ()), log_directory=raw.get("log-directory"),
        lifetime=raw.get("lifetime"), lifetime_stagger=raw.get("lifetime-stagger"), interface=raw.get("interface"),
        scheduler_options=dict(options or {}))


def _job_counts(raw: dict) -> tuple[int, int]:
    """(minimum, maximum) jobs of the ``jobqueue`` section: ``jobs: N`` or ``adapt: {minimum, maximum}``."""
    _require(("jobs" in raw) != ("adapt" in raw), "jobqueue.jobs", raw.get("jobs"),
             "given, or adapt: {minimum, maximum} instead (one of them)")
    if "jobs" in raw:
        _require(_is_count(raw["jobs"]), "jobqueue.jobs", raw["jobs"], "an integer in [1, 4096]")
        return raw["jobs"], raw["jobs"]
    adapt = raw["adapt"]
    _require(isinstance(adapt, dict), "jobqueue.adapt", adapt, "a mapping {minimum: M, maximum: N}")
    _check_keys(adapt, "jobqueue.adapt.", ("minimum", "maximum"))
    minimum, maximum = adapt.get("minimum", 1), adapt.get("maximum")
    _require(_is_count(minimum), "jobqueue.adapt.minimum", minimum,
             "an integer in [1, 4096] (the engine waits for a worker before it submits work)")
    _require(_is_count(maximum), "jobqueue.adapt.maximum", maximum, "an integer in [1, 4096]")
    _require(minimum <= maximum, "jobqueue.adapt.minimum", minimum, f"at most adapt.maximum ({maximum})")
    return minimum, maximum


@contextmanager
def connect(config: ClusterConfig, *, quiet: bool = True) -> Iterator["distributed.Client"]:
    """Context manager: a ``distributed.Client`` for ``config``; a local cluster it
    starts is closed on exit.

    Raises ClusterUnavailable when the scheduler file does not appear or the scheduler
    does not answer within ``config.timeout``, SchedulerLost when the block fails because
    an external scheduler went away (not the error the client raised then). With ``quiet``, Dask's own log lines below
    CRITICAL are not shown (what matters reaches the caller: a task's error, a worker's
    death), and none at all while closing after an error or Ctrl-C.
    """
    import dask
    from distributed import Client

    with _quiet_logs(logging.CRITICAL if quiet else None):
        if config.scheduler_file or config.address:
            with (dask.config.set(config.dask), _client(config) as client, _silent_teardown(),
                  _scheduler_lost(client, _scheduler_place(config))):
                yield client
            return
        if config.jobqueue:
            with (dask.config.set({**JOBQUEUE_DASK_CONFIG, **config.dask}), _job_cluster(config.jobqueue) as cluster,
                  Client(cluster) as client, _silent_teardown()):
                if config.jobqueue.lifetime:
                    from sweep.worker_lifetime import DrainedLifetime

                    client.register_plugin(DrainedLifetime(config.jobqueue.lifetime,
                                                           config.jobqueue.lifetime_stagger or "0s"))
                yield client
            return
        local = config.local
        with ExitStack() as stack:
            stack.enter_context(dask.config.set({**LOCAL_CLUSTER_DASK_CONFIG, **config.dask}))
            with _interrupts_held():  # blocked in the worker processes started now
                cluster = stack.enter_context(_local_cluster(local))
            client = stack.enter_context(Client(cluster))
            stack.enter_context(_silent_teardown())
            yield client


def _local_cluster(local: LocalClusterConfig) -> "distributed.LocalCluster":
    """A started LocalCluster; ClusterUnavailable when it cannot start (e.g. a worker
    process killed while starting)."""
    from distributed import LocalCluster

    try:
        return LocalCluster(n_workers=local.n_workers, threads_per_worker=local.threads_per_worker,
                            memory_limit=local.memory_limit, processes=True,
                            dashboard_address=local.dashboard_address or _free_dashboard_address())
    except (RuntimeError, OSError, TimeoutError) as error:
        raise ClusterUnavailable(f"the local Dask cluster did not start ({_first_line(error)}); run the same "
                                 "command again") from None


@contextmanager
def _job_cluster(jobqueue: JobqueueConfig) -> Iterator["dask_jobqueue.JobQueueCluster"]:
    """A SLURMCluster or PBSCluster that replaces its lost jobs, its first ``minimum``
    jobs submitted, then scaled adaptively; closed (its jobs cancelled) on exit.
    ClusterUnavailable when a job cannot be submitted (the batch system's message)."""
    cluster = _job_cluster_class(jobqueue.system)(**jobqueue.cluster_arguments())
    try:
        cluster.scale(jobs=jobqueue.minimum)
        cluster.sync(cluster._correct_state)  # returns once the jobs are submitted, or refused
        refusals = [job.refusal for job in cluster.workers.values() if job.refusal]
        if refusals:
            lines = [line.strip() for line in refusals[0].splitlines() if line.strip()]
            raise ClusterUnavailable(f"the batch system refused the worker job ({' '.join(lines[-2:])[:240]}); "
                                     "check the jobqueue section of the scheduler config")
        cluster.adapt(minimum_jobs=jobqueue.minimum, maximum_jobs=jobqueue.maximum)
        cluster.planned_threads = jobqueue.maximum * jobqueue.cores  # one thread per core (cores / processes each)
        yield cluster
    finally:
        cluster.close()


@functools.cache
def _job_cluster_class(system: str) -> type:
    """dask-jobqueue's cluster class for ``system``: its jobs keep why the batch system
    refused them (``refusal``), its adaptive scaling retires idle workers only, and it
    replaces a job whose workers left the scheduler (its walltime, its lifetime,
    ``scancel``): once they have been gone for Dask's
    ``distributed.deploy.lost-worker-timeout``, the job is cancelled and dropped from the
    plan, and adaptive scaling submits a new one. dask-jobqueue alone keeps a lost job of
    several worker processes in its plan, never respawned (its issues #122, #611)."""
    import asyncio

    import dask
    from dask.utils import parse_timedelta
    from distributed.core import Status
    from distributed.deploy.adaptive import Adaptive

    previous = signal.getsignal(signal.SIGINT)
    try:
        from dask_jobqueue import PBSCluster, SLURMCluster
    finally:  # dask_jobqueue.runner sets Ctrl-C to sys.exit() when imported: exit 0, the sweep's interrupt lost
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)
    base = {"slurm": SLURMCluster, "pbs": PBSCluster}[system]

    class RecordingJob(base.job_cls):
        """A job that keeps why the batch system refused it (``refusal``: the submit
        command's error, None once submitted)."""

        refusal: str | None = None

        async def start(self):
            try:
                await super().start()
            except RuntimeError as error:
                self.refusal = str(error)
                self.status = Status.failed  # what the cluster's close expects of a job never started
                raise

    class IdleOnlyAdaptive(Adaptive):
        """Adaptive scaling that retires idle workers only: Dask's may pick a busy one
        (it sizes the cluster by the queued work's expected time, small for short tasks),
        whose running task the scheduler then gives to a second worker while the first
        still runs it, and both write its block."""

        async def workers_to_close(self, target: int) -> list:
            names = await super().workers_to_close(target)
            busy = {ws.name for ws in self.cluster.scheduler.workers.values() if ws.processing}
            return [name for name in names if name not in busy]

    class ReplacingCluster(base):
        job_cls = RecordingJob

        def adapt(self, *args, **kwargs):
            return super().adapt(*args, Adaptive=IdleOnlyAdaptive, **kwargs)

        def _update_worker_status(self, op, msg):
            if op == "remove":
                job = _job_of(self, self.scheduler_info["workers"].get(msg, {}).get("name"))
                delay = parse_timedelta(dask.config.get("distributed.deploy.lost-worker-timeout"))
                asyncio.get_running_loop().call_later(delay, self._drop_lost_job, job)
            super()._update_worker_status(op, msg)

        def _drop_lost_job(self, job):
            if job is None or job not in self.worker_spec or _job_workers(self, job):
                return
            del self.worker_spec[job]
            if job in self.workers:
                self._futures.add(asyncio.ensure_future(self.workers.pop(job).close()))

    ReplacingCluster.__name__ = ReplacingCluster.__qualname__ = base.__name__
    return ReplacingCluster


def _job_of(cluster, worker_name) -> Any:
    """The job (its key in ``cluster.worker_spec``) that runs the worker ``worker_name``
    (a job of several processes names its workers JOB-0, JOB-1, ...)."""
    for job, spec in list(cluster.worker_spec.items()):
        if worker_name == job or any(worker_name == f"{job}{suffix}" for suffix in spec.get("group", ())):
            return job
    return None


def _job_workers(cluster, job) -> list:
    """The scheduler's workers of ``job`` that are connected now."""
    workers = list(cluster.scheduler_info["workers"].values())  # a copy: the progress line reads it from its thread
    return [info for info in workers if _job_of(cluster, info["name"]) == job]


def planned_threads(client: "distributed.Client") -> int:
    """The worker threads a sweep on ``client`` keeps busy: a jobqueue cluster's at its
    maximum number of jobs (most may not have started: the work queued meanwhile is what
    makes adaptive scaling submit them), else those of the workers connected now."""
    return getattr(getattr(client, "cluster", None), "planned_threads", None) or sum(client.nthreads().values())


def job_states(client: "distributed.Client") -> tuple[int, int] | None:
    """(pending, running) jobs of ``client``'s jobqueue cluster, None for another cluster:
    a job runs once one of its workers has joined the scheduler; until then (queued,
    starting, or lost and about to be replaced) it is pending."""
    cluster = getattr(client, "cluster", None)
    if getattr(cluster, "job_cls", None) is None:  # not a dask-jobqueue cluster
        return None
    running = sum(1 for job in list(cluster.worker_spec) if _job_workers(cluster, job))
    return len(cluster.worker_spec) - running, running


def dask_setup(worker) -> None:
    """Worker preload of a local cluster (see LOCAL_CLUSTER_DASK_CONFIG): the worker ignores
    Ctrl-C, which a terminal sends to the whole process group, and SIGTERM, which a batch
    system or container stop sends to all; the client handles them and closes the cluster."""
    if threading.current_thread() is threading.main_thread():
        for number in HELD_SIGNALS:
            signal.signal(number, signal.SIG_IGN)


def _client(config: ClusterConfig) -> "distributed.Client":
    """A client of the existing scheduler, or ClusterUnavailable within ``config.timeout``."""
    from distributed import Client

    if config.scheduler_file:
        deadline = time.monotonic() + config.timeout
        while not Path(config.scheduler_file).is_file():
            if time.monotonic() > deadline:
                raise ClusterUnavailable(
                    f"the scheduler file {config.scheduler_file!r} (scheduler config key 'scheduler_file') does not "
                    f"exist after {config.timeout:g} s; start `dask scheduler --scheduler-file "
                    f"{config.scheduler_file}` or fix the path")
            time.sleep(0.1)
        target = {"scheduler_file": config.scheduler_file}
    else:
        target = {"address": config.address}
    try:
        return Client(**target, timeout=config.timeout)
    except (OSError, TimeoutError, ValueError) as error:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler {_scheduler_place(config)} within "
                                 f"{config.timeout:g} s ({_first_line(error)})") from None


def _scheduler_place(config: ClusterConfig) -> str:
    """"in 'FILE'" or "at ADDRESS": where the external scheduler of ``config`` is."""
    return f"in {config.scheduler_file!r}" if config.scheduler_file else f"at {config.address}"


def _first_line(error: BaseException) -> str:
    """"TypeName: the first line of its message" (at most 160 characters of it)."""
    message = str(error).splitlines()[0][:160] if str(error) else "no message"
    return f"{type(error).__name__}: {message}"


@contextmanager
def _scheduler_lost(client: "distributed.Client", where: str) -> Iterator[None]:
    """SchedulerLost for an error of the block once ``client`` has lost its scheduler
    (a future cancelled with reason "scheduler-connection-lost", a closed connection
    while the client is reconnecting): the error itself says nothing a user can act on."""
    import asyncio
    import concurrent.futures

    try:
        yield
    except (concurrent.futures.CancelledError, asyncio.CancelledError, OSError, TimeoutError) as error:
        if getattr(error, "reason", None) != "scheduler-connection-lost" and not _client_left_running(client):
            raise
        raise SchedulerLost(f"lost the Dask scheduler {where} while the sweep ran ({_first_line(error)})") from None


def _client_left_running(client: "distributed.Client") -> bool:
    """Whether ``client`` leaves the "running" state within SCHEDULER_LOSS_SECONDS: a
    call to a scheduler killed a moment ago can fail with a reset connection before the
    client itself has noticed the loss."""
    deadline = time.monotonic() + SCHEDULER_LOSS_SECONDS
    while client.status == "running":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _free_dashboard_address() -> str:
    """":PORT" of the first free port of DASHBOARD_PORTS (":0", any port, if none is)."""
    for port in DASHBOARD_PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("", port))
            except OSError:
                continue
            return f":{port}"
    return ":0"


def _dask_loggers() -> list[logging.Logger]:
    """The loggers of QUIET_LOGGERS and every one below them that exists: Dask's config
    gives some their own level and handler (``distributed.client`` at WARNING logs
    "Couldn't gather 1 keys, rescheduling" after a worker dies), so the parent's level
    alone does not silence them."""
    names = [name for name in logging.root.manager.loggerDict if name.startswith(tuple(f"{quiet}." for quiet in
                                                                                       QUIET_LOGGERS))]
    return [logging.getLogger(name) for name in (*QUIET_LOGGERS, *names)]


@contextmanager
def _quiet_logs(level: int | None) -> Iterator[None]:
    loggers = _dask_loggers()
    before = [logger.level for logger in loggers]
    if level is not None:
        for logger in loggers:
            logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, old in zip(loggers, before):
            logger.setLevel(old)


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """While a local cluster starts: SIGINT and SIGTERM (HELD_SIGNALS) are blocked in this
    thread, so that the threads started meanwhile (the cluster's event loop) and the
    worker processes they start (the mask survives fork and exec) keep them blocked: a
    Ctrl-C or SIGTERM sent to the whole process group leaves the workers running, for the
    client to close. One that arrives meanwhile is noted and raised again here, once the
    cluster is up (so that it is neither lost nor cuts the cluster's start short).

    multiprocessing's resource tracker is started first, here: started later from the
    cluster's event loop, it would unblock both signals in that thread (it blocks them
    around its own start, then unblocks them), and every worker it starts would lose the
    mask."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    resource_tracker.ensure_running()
    caught: list[int] = []
    previous = {number: signal.signal(number, lambda number, frame: caught.append(number))
                for number in HELD_SIGNALS}
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)  # one pending is delivered now
        for number, handler in previous.items():
            signal.signal(number, handler)
        if caught:
            signal.raise_signal(caught[0])


@contextmanager
def _silent_teardown() -> Iterator[None]:
    """On an error or Ctrl-C, silence Dask before the client and cluster close: what it
    says while being torn down mid-task (cancelled futures, workers killed) is noise."""
    try:
        yield
    except BaseException:
        for logger in _dask_loggers():
            logger.setLevel(logging.CRITICAL + 1)
        raise


def _is_address(value: str) -> bool:
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(value, strict=True)
        if scheme in ("tcp", "tls", "ws", "wss"):
            host, port = parse_host_port(location)
            return bool(host) and 0 < int(port) < 65536
    except (ValueError, TypeError):
        return False
    return bool(location)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4096


def _is_byte_size(value: Any) -> bool:
    from dask.utils import parse_bytes

    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return False
    try:
        return parse_bytes(value) > 0
    except (ValueError, TypeError):
        return False


def _check_keys(raw: dict, prefix: str, known: tuple[str, ...]) -> None:
    for key in raw:
        _require(key in known, prefix + str(key), raw[key], f"a known key{did_you_mean(key, known)} (one of {list(known)})")


def _require(condition: bool, key: str, value: Any, expected: str) -> None:
    if not condition:
        raise ClusterConfigError(f"scheduler config key {key!r} must be {expected}, got {short_repr(value)}")
