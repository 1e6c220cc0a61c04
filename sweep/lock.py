"""One writer per store: the lock file of a `sweep run`, and the check every task makes.

``sweep run`` holds :class:`StoreLock` while it plans, creates and runs a sweep. The
lock is a file beside the store, ``<store>.lock``, created with ``O_CREAT | O_EXCL``
(atomic on local file systems and on NFS v3+), holding who holds it: a random token, the
user, host, pid, start time and command. While held, a thread refreshes the file's
modification time every HEARTBEAT_SECONDS.

A lock is *stale* when its holder is known to be gone: on the same host, its pid is not
alive; on any host, no heartbeat for STALE_SECONDS (clocks of the hosts sharing the file
system are assumed to agree to well within that). A lock file that cannot be read (empty,
cut short, not UTF-8, not the JSON of a holder: a `sweep run` killed or out of disk space
while writing it) is judged by its age alone: a holder writes its file whole right after
creating it, so one older than UNREADABLE_GRACE_SECONDS is stale; messages name the
file's owner. A stale lock is taken over (and the
taker waits TAKEOVER_GRACE_SECONDS, longer than any block write, so that a write a dead
holder's task had already begun lands before anything else changes); a live one is
refused with a message naming its holder.

Every task checks, before it runs and again before it writes, that the lock file still
holds its run's token and that the holder is alive (:func:`check_holder`): the tasks of a
`sweep run` that was killed, or whose store another `sweep run` took over, write nothing.
"""
from __future__ import annotations

import getpass
import json
import os
import pwd
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sweep.files import read_bounded

HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 60.0
TAKEOVER_GRACE_SECONDS = 2.0
UNREADABLE_GRACE_SECONDS = 5.0   # an unreadable lock file younger than this may be being written
MAX_LOCK_BYTES = 2**16           # a lock file is < 1 kB; a larger one is unreadable


class LockError(RuntimeError):
    """The lock cannot be taken (held by a live `sweep run`, or not writable); the message says by whom."""


class LockLost(RuntimeError):
    """A task's `sweep run` no longer holds its store (killed, finished or taken over): it writes nothing."""


@dataclass(frozen=True)
class Holder:
    """What a lock file says about the `sweep run` holding it."""

    token: str
    user: str
    host: str
    pid: int
    started: str
    command: str
    heartbeat_age: float  # seconds since the file's last heartbeat (its mtime)

    @property
    def readable(self) -> bool:
        """Whether the lock file said who holds it (else ``user`` is the file's owner)."""
        return bool(self.token)

    def alive(self) -> bool:
        """False when the holder is known to be gone (dead pid on this host, no heartbeat,
        or an unreadable lock file past UNREADABLE_GRACE_SECONDS)."""
        if not self.readable:
            return self.heartbeat_age <= UNREADABLE_GRACE_SECONDS
        if self.heartbeat_age > STALE_SECONDS:
            return False
        if self.host == socket.gethostname():
            return _pid_alive(self.pid)
        return True

    def describe(self) -> str:
        if not self.readable:
            return f"an unreadable lock file of user {self.user}, last written {self.heartbeat_age:.0f} s ago"
        return (f"pid {self.pid} on host {self.host}, user {self.user}, started {self.started}, "
                f"last heartbeat {self.heartbeat_age:.0f} s ago: {self.command}")


def lock_path(store: str | Path) -> Path:
    """The lock file of the store at ``store``: ``<store>.lock``, beside it."""
    store = Path(store)
    return store.with_name(store.name + ".lock")


def read_holder(store: str | Path) -> Holder | None:
    """The holder of the store's lock, or None when there is no lock file. A lock file
    that cannot be parsed reads as a holder that is not ``readable``, whose ``user`` is
    the file's owner (see the module docstring)."""
    path = lock_path(store)
    try:
        status = path.stat()
        data = read_bounded(path, MAX_LOCK_BYTES)
    except FileNotFoundError:
        return None
    except OSError:  # too large, or unreadable for this user
        data = b""
    age = time.time() - status.st_mtime
    try:
        fields = json.loads(data.decode("utf-8"))
        holder = Holder(*(fields[key] for key in ("token", "user", "host", "pid", "started", "command")), age)
    except (ValueError, KeyError, TypeError):  # not UTF-8, not JSON, not a mapping, keys missing
        holder = None
    if holder is None or not _well_formed(holder):
        return Holder("", _owner(status.st_uid), "?", -1, "?", "(unreadable lock file)", age)
    return holder


def check_holder(store: str | Path, token: str) -> None:
    """Raise LockLost unless the `sweep run` with ``token`` holds the store and is alive."""
    holder = read_holder(store)
    if holder is None or holder.token != token:
        raise LockLost(f"the store {str(store)!r} is no longer held by the `sweep run` that started this task")
    if not holder.alive():
        raise LockLost(f"the `sweep run` that started this task on {str(store)!r} is gone ({holder.describe()})")


def _well_formed(holder: Holder) -> bool:
    """Every field of the type a lock file holds (a pid such as 1e400 or true is not one)."""
    texts = (holder.token, holder.user, holder.host, holder.started, holder.command)
    return (all(isinstance(text, str) for text in texts) and holder.token != "" and type(holder.pid) is int
            and 0 < holder.pid < 2**31)


class StoreLock:
    """Context manager: hold the lock of the store at ``store`` (see the module docstring).

    ``token`` identifies this `sweep run`; tasks carry it and :func:`check_holder` it.
    Raises LockError when a live `sweep run` holds the store or the lock file cannot be
    created (e.g. a read-only directory).
    """

    def __init__(self, store: str | Path):
        self.store = Path(store)
        self.path = lock_path(self.store)
        self.token = secrets.token_hex(16)
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> "StoreLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        for _ in range(5):
            if self._try_create():
                self._heartbeat = threading.Thread(target=self._beat, name="sweep-lock-heartbeat", daemon=True)
                self._heartbeat.start()
                return
            holder = read_holder(self.store)
            if holder is None:
                continue  # released in between: try again
            if holder.alive():
                raise LockError(f"the store {str(self.store)!r} is in use by another `sweep run` ({holder.describe()}); "
                                f"wait for it to finish or stop it (lock file {str(self.path)!r})")
            self._break(holder)
        raise LockError(f"could not take the lock {str(self.path)!r}: other processes keep taking it")

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if it is still ours."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None
        holder = read_holder(self.store)
        if holder is not None and holder.token == self.token:
            self.path.unlink(missing_ok=True)

    def _try_create(self) -> bool:
        content = json.dumps({
            "token": self.token, "user": _user(), "host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:300],
        })
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if self.path.exists():
                return False
            raise LockError(f"cannot create the lock file {str(self.path)!r}: a file is in the way") from None
        except OSError as error:
            raise LockError(f"cannot create the lock file {str(self.path)!r}: {error.strerror}") from None
        try:
            with os.fdopen(fd, "w") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
        except OSError as error:  # e.g. a full disk: an empty lock file would keep others out
            self.path.unlink(missing_ok=True)
            raise LockError(f"cannot write the lock file {str(self.path)!r}: {error.strerror}") from None
        return True

    def _break(self, holder: Holder) -> None:
        """Remove the stale lock of ``holder`` (renamed aside first, so that two takers do
        not both remove it), then let a write its tasks had begun land."""
        grave = self.path.with_name(f"{self.path.name}.stale-{self.token}")
        try:
            os.rename(self.path, grave)
        except FileNotFoundError:
            return
        grave.unlink(missing_ok=True)
        print(f"taking over the store {str(self.store)!r} from a `sweep run` that is gone ({holder.describe()})",
              file=sys.stderr)
        time.sleep(TAKEOVER_GRACE_SECONDS)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except OSError:
                pass  # taken over or removed: the tasks notice (check_holder)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    """False for a zombie (dead, not yet reaped by its parent); True where /proc is absent."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _owner(uid: int) -> str:
    """The name of the user ``uid`` (the number if it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
