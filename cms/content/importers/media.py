"""Images of an import: found in ``--media-dir`` (a copy of the other site's uploads, never
fetched over the network) and stored through the site's image handler."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cms.contracts import ImageHandler, ImageRejected, StoredImage

__all__ = ["ImportedImages", "locate_images", "store_images"]

# The fallback formats every browser shows, best first (what an in-text image points at).
_FALLBACKS = ("jpeg", "png", "gif", "webp")


@dataclass
class ImportedImages:
    """Images by their old address: the files found, those not found, those stored."""

    files: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    #: Refused by the image handler: address and why.
    refused: list[tuple[str, str]] = field(default_factory=list)
    stored: dict[str, StoredImage] = field(default_factory=dict)
    #: Keys this import put into the media store (removed again if it fails).
    added: list[str] = field(default_factory=list)

    def new_addresses(self, url_of: object) -> dict[str, str]:
        """Old address -> address of the widest rendition in a format every browser shows."""
        moved: dict[str, str] = {}
        for address, image in self.stored.items():
            best = max(
                image.renditions,
                key=lambda r: (
                    -_FALLBACKS.index(r.format) if r.format in _FALLBACKS else -9,
                    r.width,
                ),
                default=None,
            )
            if best is not None and callable(url_of):
                moved[address] = str(url_of(best.key))
        return moved


def _relative(address: str, marker: str) -> str | None:
    parts = urlsplit(address)
    path = unquote(parts.path)
    if marker and marker in path:
        return path.split(marker, 1)[1]
    if parts.hostname and parts.hostname.endswith(".files.wordpress.com"):
        return path.lstrip("/")  # WordPress.com keeps uploads at the root of files.*
    return None


def locate_images(addresses: Iterable[str], media_dir: Path | None, marker: str) -> ImportedImages:
    """Which images are in ``media_dir``; an address outside the other site's uploads
    (another host's image) is left as it is and not counted missing."""
    found = ImportedImages()
    root = media_dir.resolve() if media_dir is not None else None
    for address in dict.fromkeys(addresses):
        relative = _relative(address, marker)
        if relative is None:
            continue
        if root is None:
            found.missing.append(address)
            continue
        candidate = (root / relative).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            found.files[address] = candidate
        else:
            found.missing.append(address)
    return found


async def store_images(images: ImportedImages, handler: ImageHandler) -> None:
    """Store every found file through the image handler (each once, whatever the number
    of addresses that name it); the keys added are kept in ``images.added``."""
    by_file: dict[Path, StoredImage | None] = {}
    for address, path in images.files.items():
        if path not in by_file:
            staged = await asyncio.to_thread(handler.store.temporary_path, path.suffix)
            try:
                await asyncio.to_thread(shutil.copyfile, path, staged)
                stored = await handler.ingest(staged, path.name)
            except ImageRejected as error:
                images.refused.append((address, str(error)))
                by_file[path] = None
                continue
            finally:
                staged.unlink(missing_ok=True)
            images.added.extend(stored.added)
            by_file[path] = stored
        if (image := by_file[path]) is not None:
            images.stored[address] = image
