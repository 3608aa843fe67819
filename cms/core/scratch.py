"""``ScratchFolder``: local paths for work in progress (an upload streaming in, an image
handler's job), named so that what a crashed or killed process left can be told from
what a running one is still writing."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path

__all__ = ["ScratchFolder"]

#: Temporary paths are named ``<host>.<pid>.<random><suffix>``: the process that owns one
#: can be told from its name, so start-up removes only what dead processes left.
_TEMPORARY = re.compile(r"^(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]+")
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


class ScratchFolder:
    """Fresh paths under ``root`` (made when first needed). Its methods block."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._host = _host()

    def temporary_path(self, suffix: str = "") -> Path:
        """A fresh path (nothing there yet) owned by this process."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f"{self._host}.{os.getpid()}.{secrets.token_hex(8)}{suffix}"

    def clean_temporary(self) -> int:
        """Remove what processes of this host that are gone left, what other hosts left a
        day ago (a shared folder), and what cms did not name an hour ago; return how many
        entries were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        now = time.time()
        for entry in self.root.iterdir():
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
