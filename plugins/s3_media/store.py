"""``S3MediaStore``: media files in a bucket of an S3-compatible object store, through
aiobotocore (the async client of botocore, so credentials come from where AWS tools look:
the environment, ``~/.aws``, an instance role; never from settings.toml)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import mimetypes
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from cms.contracts import DependencyUnavailable, check_key
from cms.media import ScratchFolder

__all__ = ["CACHE_CONTROL", "S3MediaStore"]

log = logging.getLogger("cms.media")

#: Keys are named after their content: the bytes behind one never change.
CACHE_CONTROL = "public, max-age=31536000, immutable"
#: What the visitor's 503 says while the bucket is out of reach.
UNAVAILABLE = "The media store is unavailable right now; nothing was stored. Try again shortly."
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CHUNK = 256 * 1024
T = TypeVar("T")


class S3MediaStore:
    """Files under ``prefix`` in ``bucket``; work in progress in a local scratch folder."""

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        scratch: Path,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        public_base_url: str | None = None,
        addressing_style: str = "auto",
        timeout: float = 5.0,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.prefix = prefix
        self.public_base_url = public_base_url.rstrip("/") + "/" if public_base_url else None
        self.scratch = ScratchFolder(scratch)
        self._config = AioConfig(
            connect_timeout=timeout,
            read_timeout=max(timeout, 30.0),
            retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": addressing_style},
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    # -- life ----------------------------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            return
        stack = AsyncExitStack()
        # Making the client reads credentials and the region; it connects nothing yet, so
        # a site starts (and serves pages) while its bucket is away.
        self._client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                config=self._config,
            )
        )
        self._stack = stack

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def check(self) -> None:
        await self._call(self._s3().head_bucket(Bucket=self.bucket))

    # -- files ---------------------------------------------------------------------------

    def object_key(self, key: str) -> str:
        """The object's name in the bucket."""
        return self.prefix + check_key(key)

    def temporary_path(self, suffix: str = "") -> Path:
        return self.scratch.temporary_path(suffix)

    def clean_temporary(self) -> int:
        return self.scratch.clean_temporary()

    async def exists(self, key: str) -> bool:
        try:
            await self._call(self._s3().head_object(Bucket=self.bucket, Key=self.object_key(key)))
        except FileNotFoundError:
            return False
        return True

    async def save(self, key: str, source: Path) -> bool:
        try:
            if await self.exists(key):
                return False
            data = await asyncio.to_thread(source.read_bytes)
            await self.put(key, data)
            return True
        finally:
            await asyncio.to_thread(source.unlink, True)

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``: the bucket checks the bytes it got against their
        MD5, and keeps their SHA-256 (``x-amz-meta-sha256``) for ``cms media migrate``."""
        await self._call(
            self._s3().put_object(
                Bucket=self.bucket,
                Key=self.object_key(key),
                Body=data,
                ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),  # noqa: S324
                ContentType=mimetypes.guess_type(key)[0] or "application/octet-stream",
                CacheControl=CACHE_CONTROL,
                Metadata={"sha256": hashlib.sha256(data).hexdigest()},
            )
        )

    async def sha256(self, key: str) -> str | None:
        """The SHA-256 the object was stored with (None for one stored by something else);
        FileNotFoundError when there is none."""
        head = await self._call(
            self._s3().head_object(Bucket=self.bucket, Key=self.object_key(key))
        )
        value = head.get("Metadata", {}).get("sha256")
        return str(value) if value else None

    @asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        path = await asyncio.to_thread(self.temporary_path, Path(key).suffix)
        try:
            out = await asyncio.to_thread(path.open, "wb")
            try:
                async for chunk in self.read(key):
                    await asyncio.to_thread(out.write, chunk)
            finally:
                out.close()
            yield path
        finally:
            await asyncio.to_thread(path.unlink, True)

    async def read(self, key: str) -> AsyncGenerator[bytes, None]:
        answer = await self._call(
            self._s3().get_object(Bucket=self.bucket, Key=self.object_key(key))
        )
        async with answer["Body"] as body:
            while True:
                chunk = await self._call(body.read(_CHUNK))
                if not chunk:
                    break
                yield chunk

    async def delete(self, key: str) -> None:
        await self._call(self._s3().delete_object(Bucket=self.bucket, Key=self.object_key(key)))

    async def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        pages = (
            self._s3()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=self.prefix)
        )
        iterator = aiter(pages)
        while True:
            try:
                page = await self._call(anext(iterator))
            except StopAsyncIteration:
                return
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                with contextlib.suppress(ValueError):
                    yield check_key(key), item["LastModified"].timestamp()

    def url(self, key: str) -> str:
        if self.public_base_url is not None:
            return self.public_base_url + self.prefix + key
        return f"/media/{key}"

    def path(self, key: str) -> Path | None:
        return None

    # -- errors --------------------------------------------------------------------------

    def _s3(self) -> Any:
        if self._client is None:
            raise RuntimeError("the s3 media store is not open")
        return self._client

    async def _call(self, call: Awaitable[T]) -> T:
        """Await a client call: a missing object is FileNotFoundError; anything that says
        the bucket is out of reach is DependencyUnavailable("media")."""
        try:
            return await call
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise FileNotFoundError(code) from None
            raise self._unavailable(f"{code}: {error}") from error
        except (BotoCoreError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise self._unavailable(f"{type(error).__name__}: {error}") from error

    def _unavailable(self, reason: str) -> DependencyUnavailable:
        where = self.endpoint_url or "AWS"
        return DependencyUnavailable(
            "media", f"s3 bucket {self.bucket!r} at {where}: {reason}", message=UNAVAILABLE
        )
