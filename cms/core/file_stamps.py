"""What the files under some folders look like now, to tell when any of them changed.

Used by :mod:`cms.web.conditional_get` (the site's part of every page's entity tag) and
:mod:`cms.web.live_reload` (re-read templates and static files when they change).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FileStamp", "file_stamp", "file_stamps"]

#: A file's path, modification time in nanoseconds and size in bytes.
FileStamp = tuple[str, int, int]


def file_stamp(path: str | Path) -> FileStamp | None:
    """The stamp of one file, or None when it cannot be read (missing, or removed while
    we looked: whoever compares stamps sees that as a change next time)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (str(path), stat.st_mtime_ns, stat.st_size)


def file_stamps(folders: Iterable[Path]) -> list[FileStamp]:
    """The stamps of every file under ``folders``, sorted (a missing folder has none)."""
    stamps: list[FileStamp] = []
    for folder in folders:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                stamp = file_stamp(os.path.join(root, name))
                if stamp is not None:
                    stamps.append(stamp)
    return sorted(stamps)
