"""``LocalMediaStore``: media files in a folder of this machine, served under ``/media/``.

The file work blocks, so each coroutine runs it in a thread."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from cms.contracts import MEDIA_KEY, DependencyUnavailable, check_key
from cms.media import ScratchFolder

__all__ = ["MEDIA_KEY", "LocalMediaStore"]

_CHUNK = 256 * 1024
_TEMPORARY_DIR = ".tmp"


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
        self.scratch = ScratchFolder(self.temporary_root)

    def file(self, key: str) -> Path:
        """The path of ``key``; ValueError for a key that is not a safe relative name."""
        return self.root / check_key(key)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def check(self) -> None:
        def writable() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise PermissionError(f"{self.root} is not writable")

        try:
            await asyncio.to_thread(writable)
        except OSError as error:
            raise DependencyUnavailable("media", str(error)) from error

    def temporary_path(self, suffix: str = "") -> Path:
        return self.scratch.temporary_path(suffix)

    def clean_temporary(self) -> int:
        return self.scratch.clean_temporary()

    async def save(self, key: str, source: Path) -> bool:
        return await asyncio.to_thread(self.save_file, key, source)

    def save_file(self, key: str, source: Path) -> bool:
        """:meth:`save`, blocking."""
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

    async def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        for item in await asyncio.to_thread(lambda: list(self.list_files())):
            yield item

    def list_files(self) -> Iterator[tuple[str, float]]:
        """Every file's key and modification time (temporary files left out); blocks."""
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

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.file(key).is_file)

    @asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        path = self.file(key)
        if not await asyncio.to_thread(path.is_file):
            raise FileNotFoundError(f"no media file {key}")
        yield path

    async def read(self, key: str) -> AsyncGenerator[bytes, None]:
        content = await asyncio.to_thread(self.file(key).open, "rb")
        try:
            while chunk := await asyncio.to_thread(content.read, _CHUNK):
                yield chunk
        finally:
            content.close()

    async def delete(self, key: str) -> None:
        # Shard folders stay, even empty: removing one could race a save into it.
        await asyncio.to_thread(self.file(key).unlink, True)

    def url(self, key: str) -> str:
        return f"{self.url_prefix}{key}"

    def path(self, key: str) -> Path | None:
        try:
            return self.file(key)
        except ValueError:
            return None
