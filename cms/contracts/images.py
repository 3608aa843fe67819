"""What image handlers and media stores implement."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from cms.contracts.records import Media, StoredImage

__all__ = ["ImageHandler", "MediaStore"]


@runtime_checkable
class MediaStore(Protocol):
    """Where media files live, by key (like ``3f/3fa0...c1.webp``): a local folder now;
    shared or object storage can implement the same methods.

    Keys are made from file contents, so the bytes behind a key never change and storing
    a key twice is harmless. Methods that touch files block: cms calls them in a thread.
    """

    name: str

    def temporary_path(self, suffix: str = "") -> Path:
        """A fresh local path (nothing there yet) for a file or folder in progress, such
        as an upload streaming in; on the stored files' filesystem when the store is
        local, so a finished file moves in by rename. Remove it when done."""
        ...

    def clean_temporary(self) -> int:
        """Remove what processes that are gone (a crash, a kill) left at temporary paths,
        never those of processes still running; return how many were removed."""
        ...

    def save(self, key: str, source: Path) -> bool:
        """Move the finished local file ``source`` in under ``key``, whole or not at all
        (written to disk, then renamed atomically). Return False when ``key`` was stored
        already (the same content): ``source`` is then just removed."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """A stored file, open for reading; FileNotFoundError when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove a stored file; one that is missing already is fine."""

    def url(self, key: str) -> str:
        """The address browsers fetch the file from (``/media/...`` for a local store)."""
        ...

    def path(self, key: str) -> Path | None:
        """The local file of ``key`` when this store keeps it on this machine (``GET
        /media/...`` serves it), else None."""
        ...


@runtime_checkable
class ImageHandler(Protocol):
    """Turns uploaded images into safe renditions, in a media store.

    The heavy work (decoding, resizing, encoding) never runs on the event loop.
    """

    name: str
    #: Where the files go.
    store: MediaStore
    #: Uploads larger than this are refused (413) while they stream in.
    max_bytes: int

    async def open(self) -> None:
        """Start worker pools; clean what a crash left at the store's temporary paths."""

    async def close(self) -> None:
        """Stop worker pools."""

    async def ingest(self, source_path: Path, original_name: str) -> StoredImage:
        """Check an uploaded file (at a temporary path of the store) and store its source
        and renditions. ``original_name`` is the uploader's file name, checked against the
        content, never used for a stored file. Raise :class:`ImageRejected` (nothing is
        stored then)."""
        ...

    async def rebuild(self, media: Media) -> StoredImage:
        """Make ``media``'s renditions again from its source with the current settings
        (widths, quality): what ``cms images rebuild`` runs after they change."""
        ...
