"""What image handlers implement."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from cms.contracts.media import MediaStore
from cms.contracts.records import Media, StoredImage

__all__ = ["ImageHandler", "MediaStore"]


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
