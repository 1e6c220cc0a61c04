"""One writer per store (sweep/lock.py): the lock file, stale locks, and the check tasks make."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

import sweep.lock
from sweep.lock import LockError, LockLost, StoreLock, check_holder, lock_path, read_holder


@pytest.fixture(autouse=True)
def no_grace(monkeypatch):
    monkeypatch.setattr(sweep.lock, "TAKEOVER_GRACE_SECONDS", 0.0)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(store, *, pid: int, host: str, age: float = 0.0, token: str = "theirs") -> None:
    path = lock_path(store)
    path.write_text(json.dumps({"token": token, "user": "someone", "host": host, "pid": pid,
                                "started": "2026-01-01T00:00:00+00:00", "command": "sweep run other.yaml"}))
    os.utime(path, (time.time() - age, time.time() - age))


def test_lock_names_its_holder_and_is_released(tmp_path):
    store = tmp_path / "s.zarr"
    with StoreLock(store) as lock:
        holder = read_holder(store)
        assert holder.token == lock.token and holder.pid == os.getpid() and holder.host == socket.gethostname()
        assert holder.alive()
        check_holder(store, lock.token)
        with pytest.raises(LockError) as refused:
            StoreLock(store).acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and socket.gethostname() in message and "in use" in message
        assert "\n" not in message
    assert not lock_path(store).exists()
    with pytest.raises(LockLost):
        check_holder(store, lock.token)


def test_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    store = tmp_path / "s.zarr"
    write_lock(store, pid=dead_pid(), host=socket.gethostname())
    assert not read_holder(store).alive()
    with pytest.raises(LockLost, match="gone"):
        check_holder(store, "theirs")  # the dead holder's tasks write nothing
    with StoreLock(store) as lock:
        assert read_holder(store).token == lock.token
    assert "taking over" in capsys.readouterr().err


def test_lock_of_another_host_is_stale_only_without_heartbeat(tmp_path):
    store = tmp_path / "s.zarr"
    write_lock(store, pid=1, host="elsewhere.example", age=5)
    with pytest.raises(LockError, match="elsewhere.example"):
        StoreLock(store).acquire()
    write_lock(store, pid=1, host="elsewhere.example", age=sweep.lock.STALE_SECONDS + 5)
    with StoreLock(store) as lock:
        assert read_holder(store).token == lock.token


def test_heartbeat_keeps_the_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep.lock, "HEARTBEAT_SECONDS", 0.05)
    store = tmp_path / "s.zarr"
    with StoreLock(store):
        os.utime(lock_path(store), (time.time() - 1000, time.time() - 1000))
        time.sleep(0.3)
        assert read_holder(store).heartbeat_age < 1


def test_a_task_of_a_superseded_run_is_refused(tmp_path):
    store = tmp_path / "s.zarr"
    with StoreLock(store):
        with pytest.raises(LockLost, match="no longer held"):
            check_holder(store, "token of an earlier sweep run")


def test_missing_folders_are_made_and_impossible_places_refused(tmp_path):
    with StoreLock(tmp_path / "results" / "s.zarr"):
        assert lock_path(tmp_path / "results" / "s.zarr").is_file()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(LockError, match="cannot create the lock file"):
        StoreLock(tmp_path / "a-file" / "s.zarr").acquire()
