"""Files the engine and the CLI read and write themselves.

Bounded reads: every file read here (a spec, a scheduler config, a lock file, a store's
metadata and manifests, a README to update) is read up to a size cap, so that
``--scheduler /dev/zero`` or a runaway file is refused, not read until the memory runs
out. Atomic writes below a directory's file descriptor: a store's chunks and manifests
(:func:`write_file`), so that a writer that outlived its store writes nothing into the
store that replaced it.
"""
from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path


class FileTooLarge(OSError):
    """A file holds more than its cap (an OSError, so that the CLI prints it as one line)."""

    def __init__(self, path: str | Path, limit: int):
        super().__init__(errno.EFBIG, f"larger than {limit:,} bytes, more than this file may hold", str(path))
        self.limit = limit


def read_bounded(path: str | Path, limit: int, *, dir_fd: int | None = None) -> bytes:
    """The bytes of ``path`` (relative to the directory ``dir_fd`` if given); FileTooLarge
    when it holds more than ``limit`` bytes (only ``limit + 1`` are ever read). A FIFO or
    device is read the same way (``/dev/zero`` is refused after ``limit + 1`` bytes)."""
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(path, limit)
    return data


def open_directory(path: str | Path) -> int:
    """A file descriptor of the directory ``path`` (close it with ``os.close``)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


def write_file(relative: str, data: bytes, dir_fd: int) -> None:
    """Write ``data`` to ``relative`` ("a/b/c", below the directory ``dir_fd``; missing
    folders are made) under a temporary name, then rename it into place: a reader sees the
    old file or the new one, never part of one. Every step goes through ``dir_fd``, not a
    path: once that directory has been removed (a store replaced by another), this raises
    FileNotFoundError and nothing is written anywhere."""
    folder, _, name = relative.rpartition("/")
    temporary = f"{folder}/" * bool(folder) + f".{name}.{secrets.token_hex(4)}.partial"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
    except FileNotFoundError:
        _make_folders(folder, dir_fd)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, relative, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def _make_folders(folder: str, dir_fd: int) -> None:
    parts = folder.split("/")
    for end in range(1, len(parts) + 1):
        try:
            os.mkdir("/".join(parts[:end]), dir_fd=dir_fd)
        except FileExistsError:
            pass
