"""``PillowImageHandler``: uploads checked and turned into renditions in a process pool."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from cms.contracts import ImageRejected, Media, MediaStore, Rendition, StoredImage

from . import worker
from .worker import SUFFIXES, JobConfig

__all__ = ["PillowImageHandler", "rendition_key", "source_key"]

log = logging.getLogger("cms.images")

# A worker serves this many jobs, then a fresh process takes over (Pillow's memory use
# grows with fragmentation over many large images).
_TASKS_PER_WORKER = 200
_FORMAT_OF_SUFFIX = {f".{suffix}": kind for kind, suffix in SUFFIXES.items()}


def rendition_key(digest: str, kind: str) -> str:
    """A rendition's key: named after its content (the first 128 bits of its SHA-256)."""
    return f"{digest[:2]}/{digest[:32]}.{SUFFIXES[kind]}"


def source_key(digest: str, kind: str) -> str:
    """A source copy's key: outside the names ``/media/`` serves."""
    return f"sources/{digest[:2]}/{digest[:32]}.{SUFFIXES[kind]}"


class PillowImageHandler:
    """The ``pillow`` image handler (see ``docs/images.md``).

    Jobs run in a ``ProcessPoolExecutor`` of ``workers`` processes at a lower priority,
    created in :meth:`open` and shut down in :meth:`close`; the event loop only moves
    finished files into the store (in a thread).
    """

    name = "pillow"

    def __init__(
        self,
        store: MediaStore,
        *,
        widths: tuple[int, ...],
        max_bytes: int,
        max_pixels: int,
        allow_animation: bool,
        quality: int,
        workers: int,
        nice: int,
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.workers = workers
        self.nice = nice
        self.config = JobConfig(
            widths=widths,
            max_pixels=max_pixels,
            allow_animation=allow_animation,
            quality=quality,
        )
        self._pool: ProcessPoolExecutor | None = None

    async def open(self) -> None:
        removed = await asyncio.to_thread(self.store.clean_temporary)
        if removed:
            log.info("images: removed %d file(s) left by interrupted uploads", removed)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver, not fork: the web process has threads (never safe to fork), and the
        # server process starts once with Pillow imported, so new workers start fast.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([worker.__name__])
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=worker.initialize,
            initargs=(self.nice,),
            max_tasks_per_child=_TASKS_PER_WORKER,
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)

    async def _run(self, function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        pool = self._pool
        if pool is None:
            raise RuntimeError("the image handler is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            # A worker died (killed for memory, most likely by this very image): a new
            # pool serves the next upload; this one (and any queued with it) is refused.
            if self._pool is pool:  # the first job to notice replaces it, once
                log.warning("images: a worker process died; starting a new pool")
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise ImageRejected("The image could not be processed; try again") from None

    async def ingest(self, source_path: Path, original_name: str) -> StoredImage:
        out_dir = await asyncio.to_thread(self._job_dir)
        try:
            result = await self._run(
                worker.process_upload, str(source_path), original_name, str(out_dir), self.config
            )
            if not result["ok"]:
                raise ImageRejected(result["message"], status=result["status"])
            return await self._keep(
                result,
                content_hash=result["content_hash"],
                image_format=result["format"],
                source=None,
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)

    async def rebuild(self, media: Media) -> StoredImage:
        out_dir = await asyncio.to_thread(self._job_dir)
        try:
            copy = out_dir / f"source{Path(media.source).suffix}"
            await self._copy_out(media.source, copy)
            kind = _FORMAT_OF_SUFFIX.get(Path(media.source).suffix, "jpeg")
            result = await self._run(
                worker.process_source, str(copy), kind, str(out_dir), self.config
            )
            if not result["ok"]:
                raise ImageRejected(result["message"], status=result["status"])
            return await self._keep(
                result,
                content_hash=media.content_hash,
                image_format=media.format,
                source=media.source,
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, out_dir, True)

    def _job_dir(self) -> Path:
        path = self.store.temporary_path(".job")
        path.mkdir()
        return path

    async def _copy_out(self, key: str, target: Path) -> None:
        async with self.store.local_file(key) as path:
            await asyncio.to_thread(shutil.copyfile, path, target)

    async def _delete(self, keys: list[str]) -> None:
        for key in keys:
            await self.store.delete(key)

    async def _keep(
        self,
        result: dict[str, Any],
        *,
        content_hash: str,
        image_format: Any,
        source: str | None,
    ) -> StoredImage:
        """Move a job's files into the store; if that fails, remove those it added."""
        added: list[str] = []
        try:
            if source is None:
                made = result["source"]
                source = source_key(made["sha256"], made["format"])
                if await self.store.save(source, Path(made["path"])):
                    added.append(source)
            renditions: list[Rendition] = []
            for made in result["renditions"]:
                key = rendition_key(made["sha256"], made["format"])
                if await self.store.save(key, Path(made["path"])):
                    added.append(key)
                renditions.append(
                    Rendition(
                        key=key,
                        width=made["width"],
                        height=made["height"],
                        format=made["format"],
                        size=made["size"],
                    )
                )
        except BaseException:
            await asyncio.shield(self._delete(added))
            raise
        return StoredImage(
            content_hash=content_hash,
            width=result["width"],
            height=result["height"],
            format=image_format,
            source=source,
            renditions=tuple(renditions),
            animated=result["animated"],
            added=tuple(added),
        )
