"""What media stores implement: where the files of the media library live.

A media store keeps files by key (like ``3f/3fa0...c1.webp``): a folder of this machine
(``local``), an S3 bucket (``s3``), or whatever a plugin offers through
``register_media_stores``. Settings choose one: ``[media] backend = "local"``.

Keys are made from file contents, so the bytes behind a key never change and storing a
key twice is harmless. Work in progress (an upload streaming in, an image handler's job)
happens at local temporary paths the store hands out; finished files move in with
:meth:`MediaStore.save`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["MEDIA_IN_TEXT", "MEDIA_KEY", "MediaStore", "check_key", "media_in_text"]

#: A key: folders and a file name with an extension; nothing that could leave a folder.
MEDIA_KEY = re.compile(r"^(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.[A-Za-z0-9]{1,8}$")


#: An image of the media library named in a post's Markdown, ``![alt](media:<hash>)``: the
#: content hash of the image (what a post's cover holds too).
MEDIA_IN_TEXT = re.compile(r"media:([0-9a-f]{64})")


def media_in_text(body: str) -> set[str]:
    """The content hashes of the media library's images a post's Markdown names. Storage
    keeps them with the post, so an image used in a text is never deleted from under it."""
    return set(MEDIA_IN_TEXT.findall(body)) if "media:" in body else set()


def check_key(key: str) -> str:
    """``key`` when it is a media key; ValueError otherwise."""
    if not MEDIA_KEY.match(key):
        raise ValueError(f"not a media key: {key!r}")
    return key


@runtime_checkable
class MediaStore(Protocol):
    """Where media files live. Every method that reaches the files is a coroutine; a
    store whose files are out of reach raises ``DependencyUnavailable("media", ...)``
    from them (uploads then answer 503; pages, which only need :meth:`url`, keep
    rendering)."""

    #: The name settings use (``[media] backend``).
    name: str

    async def open(self) -> None:
        """Connect (a client, a pool); called once before the site serves."""

    async def close(self) -> None:
        """Release what :meth:`open` took."""

    async def check(self) -> None:
        """Return when the files can be reached; raise DependencyUnavailable otherwise
        (what ``/healthz`` asks)."""

    def temporary_path(self, suffix: str = "") -> Path:
        """A fresh local path (nothing there yet) for a file or folder in progress. It
        blocks (it may create a folder): call it in a thread. Remove it when done."""
        ...

    def clean_temporary(self) -> int:
        """Remove what processes that are gone (a crash, a kill) left at temporary paths,
        never those of processes still running; return how many were removed. Blocks."""
        ...

    async def save(self, key: str, source: Path) -> bool:
        """Store the finished local file ``source`` under ``key``, whole or not at all,
        and remove ``source``. Return False when ``key`` was stored already (the same
        content)."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""
        ...

    def local_file(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local path holding ``key``'s bytes while the context lasts (the stored file
        itself for a local store, a downloaded copy otherwise); FileNotFoundError when
        there is none. Read it, never change it."""
        ...

    def read(self, key: str) -> AsyncGenerator[bytes, None]:
        """``key``'s bytes, in chunks; FileNotFoundError (before the first chunk) when
        there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove a stored file; one that is missing already is fine."""

    def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        """Every stored file's key and modification time (a Unix timestamp)."""
        ...

    def url(self, key: str) -> str:
        """The address browsers fetch the file from (``/media/...``, or a public base URL
        the store was given). Never blocks: pages call it while they render."""
        ...

    def path(self, key: str) -> Path | None:
        """The local file of ``key`` when this store keeps it on this machine (``GET
        /media/...`` then serves it from disk), else None. Never blocks."""
        ...
