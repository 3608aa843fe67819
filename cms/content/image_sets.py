"""An image of the media library as pages show it: its renditions by format, as URLs.

Free of the web framework: post bodies are rendered with these (``![alt](media:<hash>)``)
as well as templates (``picture()`` in :mod:`cms.web.images`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cms.contracts import Media, MediaStore, Rendition

if TYPE_CHECKING:
    from cms.core.site import Site

__all__ = ["ImageSet", "image_set", "image_set_of", "image_sets"]

_HASH = re.compile(r"^[0-9a-f]{64}$")

# The format browsers that cannot show WebP get, best first.
_FALLBACKS = ("jpeg", "png", "gif")


@dataclass(frozen=True)
class ImageSet:
    """An image of the media library as templates use it: its renditions by format, each
    as ``(url, width, height)`` from the narrowest to the widest."""

    content_hash: str
    width: int
    height: int
    renditions: Mapping[str, tuple[tuple[str, int, int], ...]]

    @property
    def fallback_format(self) -> str | None:
        """The format every browser shows (JPEG, or PNG for transparency, or GIF)."""
        return next((kind for kind in _FALLBACKS if self.renditions.get(kind)), None)

    def srcset(self, kind: str | None = None) -> str:
        """``url 320w, url 800w, ...`` for one format (the fallback format by default)."""
        kind = kind or self.fallback_format
        return ", ".join(f"{url} {width}w" for url, width, _ in self.renditions.get(kind or "", ()))

    def url(self, width: int | None = None, kind: str | None = None) -> str:
        """The narrowest rendition at least ``width`` wide (the widest without one)."""
        files = self.renditions.get(kind or self.fallback_format or "", ())
        if not files:
            return ""
        if width is not None:
            for url, rendition_width, _ in files:
                if rendition_width >= width:
                    return url
        return files[-1][0]


def image_set(store: MediaStore, media: Media) -> ImageSet:
    """A media row with its rendition URLs, for templates."""
    return image_set_of(store, media.content_hash, media.width, media.height, media.renditions)


def image_set_of(
    store: MediaStore,
    content_hash: str,
    width: int,
    height: int,
    renditions: Iterable[Rendition],
) -> ImageSet:
    """An image with its rendition URLs, from its parts (a media row's, or an export's
    media record's before the row exists)."""
    by_format: dict[str, list[Rendition]] = {}
    for rendition in renditions:
        by_format.setdefault(rendition.format, []).append(rendition)
    return ImageSet(
        content_hash=content_hash,
        width=width,
        height=height,
        renditions={
            kind: tuple((store.url(r.key), r.width, r.height) for r in sorted(files, key=_by_width))
            for kind, files in by_format.items()
        },
    )


def _by_width(rendition: Rendition) -> int:
    return rendition.width


async def image_sets(site: Site, hashes: Iterable[str | None]) -> dict[str, ImageSet]:
    """The images of the media library with these content hashes (one query), by hash;
    values that are not media hashes are left out."""
    wanted = sorted({value for value in hashes if value and _HASH.match(value)})
    if site.images is None or not wanted:
        return {}
    store = site.images.store
    found = sorted(await site.storage.find_media(wanted), key=lambda media: media.content_hash)
    # In a stable order: the page's ETag covers these (cms.web.conditional_get), so a rebuild that
    # changes renditions changes it, and nothing else does.
    return {media.content_hash: image_set(store, media) for media in found}
