"""A real single-node SLURM on this machine, for the tests of ``jobqueue:`` (issue 27).

:func:`single_node_slurm` starts, as root, ``munged`` (its own key and socket) and
``slurmctld`` and ``slurmd`` with a ``slurm.conf`` generated in a temporary directory
(its own free ports, state and spool directories, log files; ``proctrack/linuxproc``,
``task/none``, ``select/cons_tres``; one node, this host, with ``CPUS`` CPUs), waits
until ``sinfo`` shows the node idle, exports ``SLURM_CONF`` to this process (and so to
the ``sbatch``/``squeue``/``scancel`` that dask-jobqueue runs), and tears everything down
on exit. The binaries come from Debian's ``slurmctld``, ``slurmd``, ``slurm-client`` and
``munge`` packages, which ``.ci/run`` installs.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
CPUS = 2
START_TIMEOUT = 60.0  # seconds for the daemons to come up and the node to be idle

SLURM_CONF = """\
ClusterName=sweeptest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=5
MinJobAge=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def slurm_missing() -> list[str]:
    """The binaries of BINARIES not on PATH (nor in /usr/sbin)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin"
    return [name for name in BINARIES if shutil.which(name, path=path) is None]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb() -> int:
    """Half of the available memory in MiB: RealMemory must not exceed what slurmd sees."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024 // 2
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def _wait_for(condition, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                              for log in logs if log.exists())
            raise RuntimeError(f"single-node SLURM: {what} not reached in {START_TIMEOUT:g} s\n{tails}")
        time.sleep(0.2)


def _sbin(name: str) -> str:
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin")


@contextmanager
def single_node_slurm() -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd (as root); yield the environment to run SLURM
    commands with (SLURM_CONF set, also in os.environ meanwhile); stop them on exit."""
    root = Path(tempfile.mkdtemp(prefix="sweep-slurm-"))
    daemons: list[subprocess.Popen] = []
    previous = os.environ.get("SLURM_CONF")
    host = socket.gethostname().split(".")[0]
    try:
        for sub in ("state", "spool", "munge"):
            (root / sub).mkdir(mode=0o700)
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        munge_socket = root / "munge" / "munge.socket"
        daemons.append(subprocess.Popen(
            [_sbin("munged"), "--foreground", "--force", f"--socket={munge_socket}", f"--key-file={key}",
             f"--pid-file={root / 'munge' / 'munged.pid'}", f"--log-file={root / 'munge' / 'munged.log'}",
             f"--seed-file={root / 'munge' / 'munged.seed'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        _wait_for(munge_socket.exists, "munged's socket", [root / "munge" / "munged.log"])
        conf = root / "slurm.conf"
        conf.write_text(SLURM_CONF.format(host=host, ctld_port=_free_port(), slurmd_port=_free_port(),
                                          munge_socket=munge_socket, root=root, cpus=CPUS,
                                          memory_mb=_memory_mb()))
        env = {**os.environ, "SLURM_CONF": str(conf)}
        logs = [root / "slurmctld.log", root / "slurmd.log"]
        for daemon in ("slurmctld", "slurmd"):
            daemons.append(subprocess.Popen([_sbin(daemon), "-D", "-f", str(conf)], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True))

        def node_idle() -> bool:
            done = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True)
            return done.returncode == 0 and done.stdout.strip() == "idle"

        _wait_for(node_idle, "the node idle in sinfo", logs)
        os.environ["SLURM_CONF"] = str(conf)
        yield env
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        if len(daemons) == 3:
            subprocess.run(["scancel", "--full", "-u", "root"],
                           env={**os.environ, "SLURM_CONF": str(root / "slurm.conf")}, capture_output=True)
        for daemon in reversed(daemons):
            _stop(daemon)
        _kill_left_behind(root / "slurm.conf")
        shutil.rmtree(root, ignore_errors=True)


def _stop(daemon: subprocess.Popen) -> None:
    """SIGTERM the daemon's session (a daemon and what it started), SIGKILL after 10 s."""
    for number, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(daemon.pid, number)
        except ProcessLookupError:
            pass
        try:
            daemon.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_left_behind(conf: Path) -> None:
    """SIGKILL what this SLURM started and left running (a job's slurmstepd, which leaves
    slurmd's session, and its workers): the processes whose environment names ``conf``."""
    marker = f"SLURM_CONF={conf}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def squeue_jobs(env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(job id, state, job name) of every job SLURM knows (pending, running, completing)."""
    done = subprocess.run(["squeue", "-h", "-o", "%i %T %j"], env=env, capture_output=True, text=True, check=True)
    return [tuple(line.split()) for line in done.stdout.splitlines() if line.strip()]
