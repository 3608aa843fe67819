"""``LocalMediaStore``: media files in a folder of this machine, served under ``/media/``."""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["MEDIA_KEY", "LocalMediaStore"]

#: A key: folders and a file name with an extension; nothing that could leave the folder.
MEDIA_KEY = re.compile(r"^(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.[A-Za-z0-9]{1,8}$")
#: Temporary paths are named ``<host>.<pid>.<random><suffix>``: the process that owns one
#: can be told from its name, so start-up removes only what dead processes left.
_TEMPORARY = re.compile(r"^(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]+")
_TEMPORARY_DIR = ".tmp"
# Another machine's leftovers (a shared folder) are removed once they are this old.
_FOREIGN_AGE = 24 * 3600
# Something at a temporary path that cms did not name is removed once this old.
_UNKNOWN_AGE = 3600


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:60] or "host"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process has just started: nothing of its own is there yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class LocalMediaStore:
    """Files under ``root`` by key; uploads in progress under ``root/.tmp``, on the same
    filesystem, so a finished file moves in by an atomic rename."""

    name = "local"

    def __init__(self, root: Path, url_prefix: str = "/media/") -> None:
        self.root = root
        self.url_prefix = url_prefix
        self.temporary_root = root / _TEMPORARY_DIR
        self._host = _host()

    def file(self, key: str) -> Path:
        """The path of ``key``; ValueError for a key that is not a safe relative name."""
        if not MEDIA_KEY.match(key):
            raise ValueError(f"not a media key: {key!r}")
        return self.root / key

    def temporary_path(self, suffix: str = "") -> Path:
        self.temporary_root.mkdir(parents=True, exist_ok=True)
        return self.temporary_root / f"{self._host}.{os.getpid()}.{secrets.token_hex(8)}{suffix}"

    def clean_temporary(self) -> int:
        if not self.temporary_root.is_dir():
            return 0
        removed = 0
        now = time.time()
        for entry in self.temporary_root.iterdir():
            match = _TEMPORARY.match(entry.name)
            try:
                age = now - entry.lstat().st_mtime
            except FileNotFoundError:
                continue
            if match is None:
                stale = age > _UNKNOWN_AGE
            elif match["host"] == self._host:
                stale = not _alive(int(match["pid"]))
            else:
                stale = age > _FOREIGN_AGE
            if stale:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def save(self, key: str, source: Path) -> bool:
        target = self.file(key)
        if target.is_file():
            source.unlink(missing_ok=True)
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as content:
            os.fsync(content.fileno())  # the bytes are on disk before the name is
        try:
            os.replace(source, target)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            # From another filesystem: copy beside the target first, then rename.
            staged = self.temporary_path(".copy")
            try:
                shutil.copyfile(source, staged)
                with staged.open("rb") as content:
                    os.fsync(content.fileno())
                os.replace(staged, target)
            finally:
                staged.unlink(missing_ok=True)
            source.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return True

    def keys(self) -> Iterator[tuple[str, float]]:
        """Every file's key and modification time (temporary files left out)."""
        if not self.root.is_dir():
            return
        for folder, dirs, names in os.walk(self.root):
            if Path(folder) == self.root:
                dirs[:] = [name for name in dirs if name != _TEMPORARY_DIR]
            for name in names:
                path = Path(folder) / name
                key = path.relative_to(self.root).as_posix()
                if not MEDIA_KEY.match(key):
                    continue  # not a file cms names (a README, a .DS_Store): left alone
                try:
                    yield key, path.lstat().st_mtime
                except FileNotFoundError:
                    continue

    def open(self, key: str) -> IO[bytes]:
        return self.file(key).open("rb")

    def delete(self, key: str) -> None:
        # Shard folders stay, even empty: removing one could race a save into it.
        self.file(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return f"{self.url_prefix}{key}"

    def path(self, key: str) -> Path | None:
        try:
            return self.file(key)
        except ValueError:
            return None
