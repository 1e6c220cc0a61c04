"""Bad input and a hostile environment through the real CLI (`python -m sweep`, issue 26,
cases 7-15 and 17): one stderr line naming the field or the value, exit 2, no traceback,
and a finished store beside it unchanged to the byte."""
import json
import os
import pwd
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sweep.cli import EXIT_USAGE
from sweep.lock import lock_path
from sweep.spec import load_spec
from sweep.store import read_done
from tests.test_cli import SPEC, shared, sweep_as_nobody, write_spec  # noqa: F401 (shared: a fixture)

OTHER_SPEC = SPEC.replace("max_epochs: 5", "max_epochs: 6")


def sweep(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sweep", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def assert_refused(result: subprocess.CompletedProcess, *names: str, code: int = EXIT_USAGE) -> None:
    """Exit ``code``, exactly one stderr line, holding each of ``names``; no traceback anywhere."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]


def store_files(store: Path) -> dict[str, bytes]:
    return {str(path.relative_to(store)): path.read_bytes() for path in sorted(store.rglob("*")) if path.is_file()}


class FinishedStore:
    """A store of SPEC with every run done, and the bytes of each of its files."""

    def __init__(self, folder: Path):
        self.spec, self.store = write_spec(folder), folder / "finished.zarr"
        result = sweep("run", self.spec, "--store", str(self.store), "--serial")
        assert result.returncode == 0, result.stderr
        self.files = store_files(self.store)

    def assert_unchanged(self) -> None:
        assert store_files(self.store) == self.files
        assert read_done(self.store).all() and not lock_path(self.store).exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return FinishedStore(tmp_path_factory.mktemp("finished"))


def test_a_layout_too_big_to_allocate_is_refused_with_its_size(tmp_path, finished):
    """Case 7: `save_weights` with a width of 10^9 (d 2): refused before any work with the
    size of a run and the variable, not a MemoryError."""
    spec = write_spec(tmp_path, "name: huge\nparams: {n: 20, n_test: 10, d: 2, max_epochs: 5, save_weights: true}\n"
                                "grid:\n  width: [2, 1000000000]\n")
    assert_refused(sweep("run", spec, "--store", str(tmp_path / "new.zarr"), "--serial"), "'weights'", "29.80 GiB")
    assert not (tmp_path / "new.zarr").exists()
    assert_refused(sweep("run", spec, "--store", str(finished.store), "--serial", "--overwrite"), "'weights'")
    finished.assert_unchanged()


def test_an_endless_scheduler_file_is_refused_unread(finished):
    """Case 8: `--scheduler /dev/zero` is refused after its size cap, not read until the
    memory runs out."""
    assert_refused(sweep("run", finished.spec, "--store", str(finished.store), "--scheduler", "/dev/zero"),
                   "'/dev/zero'", "65,536 bytes")
    finished.assert_unchanged()


def test_control_characters_in_spec_and_scheduler_files(tmp_path, finished):
    """Case 9: a NUL in a spec, a control byte in a scheduler config: where it is, in one line."""
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(OTHER_SPEC.replace("name: cli", "name: c\0li").encode())
    assert_refused(sweep("run", str(nul), "--store", str(finished.store), "--serial", "--overwrite"),
                   "'" + str(nul) + "'", "U+0000", "line 1, column 8")
    scheduler = tmp_path / "scheduler.yaml"
    scheduler.write_bytes(b"address: tcp://127.0.0.1:8786\x01\n")
    assert_refused(sweep("run", finished.spec, "--store", str(finished.store), "--scheduler", str(scheduler)),
                   "scheduler config", "U+0001", "line 1, column 30")
    finished.assert_unchanged()


def test_a_symlink_loop_or_the_root_directory_as_store(tmp_path, finished):
    """Case 10: `--store` a loop of symbolic links, or `/`: named, nothing created."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    before = sorted(tmp_path.iterdir())
    assert_refused(sweep("run", finished.spec, "--store", str(tmp_path / "a"), "--serial"),
                   f"'{tmp_path / 'a'}'", "cannot be resolved")
    assert_refused(sweep("run", finished.spec, "--store", "/", "--serial"), "'/'", "root directory")
    assert sorted(tmp_path.iterdir()) == before and not Path("/.lock").exists()
    finished.assert_unchanged()


@pytest.mark.parametrize("key", ["name", "description"])
def test_a_lone_surrogate_is_refused_before_the_store_is_written(tmp_path, finished, key):
    """Case 11: a YAML escape making a lone surrogate (which UTF-8 cannot encode, and which
    broke `sweep report`) is refused up front, naming the key."""
    text = OTHER_SPEC.replace("name: cli", f'name: cli\n{key}: "bad\\ud800surrogate"') if key != "name" else \
        OTHER_SPEC.replace("name: cli", 'name: "bad\\ud800surrogate"')
    spec = write_spec(tmp_path, text)
    assert_refused(sweep("run", spec, "--store", str(finished.store), "--serial", "--overwrite"),
                   f"'{key}'", "lone surrogate")
    finished.assert_unchanged()


def axis_spec(values: str) -> str:
    return f"name: long\nparams: {{n: 20, n_test: 10, d: 3, max_epochs: 5}}\ngrid:\n  seed: [{values}]\n"


def test_a_150000_value_axis_is_checked_whole(tmp_path):
    """Case 12: a legal 0.94 MB spec with one 150,000-value axis parses (its values as
    written); the same axis with its first value repeated at the very end is refused,
    naming the value: the duplicate check reads the whole list (a set, not pairs)."""
    values = ",".join(map(str, range(150_000)))
    legal = write_spec(tmp_path, axis_spec(values), "legal.yaml")
    assert 0.9e6 < Path(legal).stat().st_size <= 2**20
    assert load_spec(legal).grid["seed"] == tuple(range(150_000))
    repeated = write_spec(tmp_path, axis_spec(values + ",0"), "repeated.yaml")
    assert_refused(sweep("run", repeated, "--store", str(tmp_path / "s.zarr"), "--serial"), "'grid.seed'",
                   "(0 repeats)")
    assert not (tmp_path / "s.zarr").exists()


# ---------------------------------------------------------------- case 13: a real full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs mounted at ``tmp_path / "disk"`` (root only), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with a file; its path."""
    filler = disk / f"filler{len(list(disk.glob('filler*')))}"
    with open(filler, "wb") as file:
        while True:
            status = os.statvfs(disk)
            room = status.f_bavail * status.f_frsize - leave
            if room <= 0:
                break
            try:
                file.write(b"\0" * min(room, 2**20))
                file.flush()
            except OSError:
                break
    return filler


def test_a_full_disk_leaves_no_lock_and_loses_nothing(tmp_path, small_disk):
    """Case 13: on a full disk `sweep run` is refused in one line and leaves no lock file
    (an empty one used to keep every run out for 60 s); once space is freed the next run
    goes ahead at once. A finished store on the full disk, resumed or overwritten by
    another spec (with room for the lock but not for a new store), is unchanged."""
    store, spec = small_disk / "s.zarr", write_spec(tmp_path)
    filler = fill(small_disk)
    assert_refused(sweep("run", spec, "--store", str(store), "--serial"), "'" + str(lock_path(store)) + "'",
                   "No space left on device")
    assert sorted(small_disk.iterdir()) == [filler]
    filler.unlink()
    created = sweep("run", spec, "--store", str(store), "--serial")
    assert created.returncode == 0 and "ran 4 runs" in created.stdout, created.stderr
    files = store_files(store)

    filler = fill(small_disk)
    assert_refused(sweep("run", spec, "--store", str(store), "--serial"), "No space left on device")
    filler.unlink()
    fill(small_disk, leave=40 * 1024)
    other = write_spec(tmp_path, OTHER_SPEC, "other.yaml")
    assert_refused(sweep("run", other, "--store", str(store), "--serial", "--overwrite"), "No space left on device",
                   str(store))
    assert store_files(store) == files and not lock_path(store).exists()
    assert [path.name for path in small_disk.iterdir() if not path.name.startswith("filler")] == ["s.zarr"]
    for path in small_disk.glob("filler*"):
        path.unlink()
    resumed = sweep("run", spec, "--store", str(store), "--serial")
    assert resumed.returncode == 0 and "ran 0 runs: nothing to do" in resumed.stdout, resumed.stderr
    assert store_files(store) == files and read_done(store).all()


# ---------------------------------------------------------------- case 14: another user's chunk folders

def test_a_chunk_folder_of_another_user_is_refused_up_front(shared):
    """Case 14: a store every user may write, but one chunk folder (a variable's, where
    its shard files lie) left by another user (root's, mode 0755): a `sweep run` of user nobody on it is refused before any run,
    naming that folder, and the store is unchanged (before, it failed mid-sweep with
    "Permission denied: ...partial")."""
    spec = shared / "spec.yaml"
    spec.write_text(SPEC)
    other = shared / "other.yaml"
    other.write_text(OTHER_SPEC)
    store = shared / "rw" / "s.zarr"
    assert sweep("run", str(spec), "--store", str(store), "--serial").returncode == 0
    for path in (spec, other):
        path.chmod(0o644)
    for path in [store, *store.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    theirs = store / "final_loss"  # its shard files lie in it
    theirs.chmod(0o755)
    files = store_files(store)
    for args in ([str(spec), "--retry-failed"], [str(other), "--overwrite"]):
        result = sweep_as_nobody(shared, "run", *args, "--store", str(store), "--serial")
        assert_refused(result, f"'{theirs}'", "read-only for this user")
    assert store_files(store) == files and read_done(store).all() and not lock_path(store).exists()


# ---------------------------------------------------------------- case 15: lock files that cannot be read

UNREADABLE_LOCKS = {
    "empty": b"",
    "not UTF-8": b"\xff\xfe",
    "pid 1e400": json.dumps({"token": "t", "user": "someone", "host": socket.gethostname(), "pid": 0,
                             "started": "2026-01-01T00:00:00+00:00", "command": "sweep run x.yaml"}
                            ).replace('"pid": 0', '"pid": 1e400').encode(),
    "cut JSON": b'{"token": "t", "user": "someone", "ho',
}


class Rewriting:
    """Context manager: a thread keeps setting the file's modification time to now (a
    `sweep run` still writing it), however long the process under test takes to start."""

    def __init__(self, path: Path):
        self.path, self.stop = path, threading.Event()
        self.thread = threading.Thread(target=self._touch)

    def _touch(self) -> None:
        while not self.stop.wait(0.1):
            os.utime(self.path)

    def __enter__(self):
        os.utime(self.path)
        self.thread.start()

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


@pytest.mark.parametrize("kind", UNREADABLE_LOCKS)
def test_an_unreadable_lock_file_is_judged_by_its_age(kind, finished):
    """Case 15 (and 13's empty lock): a lock file that is empty, not UTF-8, has a pid of
    1e400 or is cut short is no traceback. Being written, it may be a `sweep run`'s:
    refused in one line naming the file and its owner; an hour old, it is stale and taken
    over at once (not after 60 s), and the finished store is resumed, unchanged."""
    lock = lock_path(finished.store)
    lock.write_bytes(UNREADABLE_LOCKS[kind])
    owner = pwd.getpwuid(os.getuid()).pw_name
    try:
        with Rewriting(lock):
            result = sweep("run", finished.spec, "--store", str(finished.store), "--serial")
        assert_refused(result, f"(an unreadable lock file of user {owner}, last written", f"'{lock}'")
        assert lock.read_bytes() == UNREADABLE_LOCKS[kind]
        old = time.time() - 3600
        os.utime(lock, (old, old))
        result = sweep("run", finished.spec, "--store", str(finished.store), "--serial")
        assert "Traceback" not in result.stderr and result.returncode == 0, result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith(f"taking over the store '{finished.store}' from a `sweep run` that is gone (an "
                               f"unreadable lock file of user {owner}, last written 36") and line.endswith(" s ago)"), line
        assert "ran 0 runs: nothing to do" in result.stdout
    finally:
        lock.unlink(missing_ok=True)
    finished.assert_unchanged()


def test_a_yaml_syntax_error_is_one_line(tmp_path, finished):
    """Case 17: an unclosed bracket: one line saying what and where (PyYAML's own message
    spans 8 lines)."""
    spec = write_spec(tmp_path, "name: x\ngrid: {seed: [0, 1\n")
    assert_refused(sweep("run", spec, "--store", str(finished.store), "--serial", "--overwrite"),
                   "is not valid YAML", "expected ',' or ']'", "(line 3, column 1)", "(line 2, column 14)")
    finished.assert_unchanged()
