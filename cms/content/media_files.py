"""The media library read whole: every image, and every file they name."""

from __future__ import annotations

from cms.contracts import Media, Storage

__all__ = ["all_media", "library_keys"]


async def all_media(storage: Storage) -> list[Media]:
    """Every image of the media library, read a page at a time."""
    found: list[Media] = []
    while page := await storage.list_media(after_id=found[-1].id if found else None, limit=500):
        found.extend(page)
    return found


async def library_keys(storage: Storage) -> list[str]:
    """Every media store key an image names (source copies and renditions), once each."""
    keys = {key for media in await all_media(storage) for key in media.keys}
    return sorted(keys)
