"""Where a sweep runs: read ``scheduler.yaml`` and connect a ``distributed.Client``.

::

    scheduler_file: null   # a file written by `dask scheduler --scheduler-file F`
    address: null          # e.g. tcp://10.0.0.5:8786
    local:                 # used when neither of the above is set
      n_workers: 2
      threads_per_worker: 1
      memory_limit: 4GiB
    dask: {}               # Dask config keys set while the sweep runs, e.g.
                           # distributed.worker.profile.enabled: true

At most one of ``scheduler_file`` and ``address`` may be set; with neither, a
``LocalCluster`` of worker processes is started (and closed with the client); its
workers get LOCAL_CLUSTER_DASK_CONFIG, then the ``dask`` section on top.
Errors raise :class:`ClusterConfigError` naming the key and the value.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import yaml

if TYPE_CHECKING:
    import distributed

DEFAULT_CONFIG_FILE = "scheduler.yaml"  # looked up in the working directory

# Dask config of a local cluster (scheduler, nannies and workers share its 2 cores with
# the runs; measured with benchmarks/bench_sweep.py, see benchmarks/README.md):
# - the nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which pins glibc's mmap
#   threshold: a run's short-lived arrays then cost page faults, 5-10% of the run time.
#   None unsets it (glibc's adaptive default).
# - the worker's statistical profiler (every 10 ms) and the monitors polled several times a
#   second took about 4% of a core in the client process; they are slowed or off.
LOCAL_CLUSTER_DASK_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "500ms",
}


class ClusterConfigError(ValueError):
    """The scheduler configuration is malformed; the message names the key and value."""


@dataclass(frozen=True)
class LocalClusterConfig:
    n_workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str = "4GiB"
    dashboard_address: str = ":8787"  # distributed picks a free port when it is taken


@dataclass(frozen=True)
class ClusterConfig:
    """One of: an existing scheduler (by file or address), or a local cluster."""

    scheduler_file: str | None = None
    address: str | None = None
    local: LocalClusterConfig = LocalClusterConfig()
    dask: dict = field(default_factory=dict)  # Dask config keys set while connected


def load_cluster_config(path: str | Path | None = None) -> ClusterConfig:
    """Read ``path``; with None, read ./scheduler.yaml if present, else use the defaults."""
    if path is None:
        if not Path(DEFAULT_CONFIG_FILE).is_file():
            return ClusterConfig()
        path = DEFAULT_CONFIG_FILE
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ClusterConfigError(f"cannot read scheduler file {str(path)!r}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ClusterConfigError(f"scheduler file {str(path)!r} is not valid YAML: {error}") from None
    return parse_cluster_config(raw or {})


def parse_cluster_config(raw: Any) -> ClusterConfig:
    """Validate a configuration given as a mapping (as read from YAML)."""
    _require(isinstance(raw, dict), "scheduler config", raw, "a mapping")
    _check_keys(raw, "", ("scheduler_file", "address", "local", "dask"))
    for key in ("scheduler_file", "address"):
        _require(raw.get(key) is None or isinstance(raw[key], str) and raw[key], key, raw.get(key),
                 "null or a non-empty string")
    _require(not (raw.get("scheduler_file") and raw.get("address")), "address", raw.get("address"),
             "null when scheduler_file is set (give one of them)")
    local = raw.get("local") or {}
    _require(isinstance(local, dict), "local", local, "a mapping")
    _check_keys(local, "local.", ("n_workers", "threads_per_worker", "memory_limit", "dashboard_address"))
    for key in ("n_workers", "threads_per_worker"):
        if key in local:
            value = local[key]
            _require(isinstance(value, int) and not isinstance(value, bool) and value >= 1, f"local.{key}", value,
                     "an integer >= 1")
    for key in ("memory_limit", "dashboard_address"):
        if key in local:
            _require(isinstance(local[key], str), f"local.{key}", local[key], "a string (e.g. 4GiB, :8787)")
    dask_config = raw.get("dask") or {}
    _require(isinstance(dask_config, dict) and all(isinstance(key, str) and key for key in dask_config), "dask",
             dask_config, "a mapping of Dask config keys (e.g. distributed.worker.profile.enabled) to values")
    return ClusterConfig(scheduler_file=raw.get("scheduler_file"), address=raw.get("address"),
                         local=LocalClusterConfig(**local), dask=dask_config)


@contextmanager
def connect(config: ClusterConfig) -> Iterator["distributed.Client"]:
    """Context manager: a ``distributed.Client`` for ``config``; a local cluster it
    starts is closed on exit."""
    import dask
    from distributed import Client, LocalCluster

    if config.scheduler_file or config.address:
        target = {"scheduler_file": config.scheduler_file} if config.scheduler_file else {"address": config.address}
        with dask.config.set(config.dask), Client(**target) as client:
            yield client
        return
    local = config.local
    with dask.config.set({**LOCAL_CLUSTER_DASK_CONFIG, **config.dask}), \
            LocalCluster(n_workers=local.n_workers, threads_per_worker=local.threads_per_worker,
                         memory_limit=local.memory_limit, dashboard_address=local.dashboard_address,
                         processes=True) as cluster, Client(cluster) as client:
        yield client


def _check_keys(raw: dict, prefix: str, known: tuple[str, ...]) -> None:
    for key in raw:
        _require(key in known, prefix + str(key), raw[key], f"a known key (one of {list(known)})")


def _require(condition: bool, key: str, value: Any, expected: str) -> None:
    if not condition:
        raise ClusterConfigError(f"scheduler config key {key!r} must be {expected}, got {value!r}")
