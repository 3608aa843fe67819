"""``GET /media/<shard>/<hash>.<ext>``: renditions, cached for good by browsers."""

from __future__ import annotations

import asyncio

from aiohttp import web

from cms.keys import SITE_KEY

__all__ = ["MEDIA_ROUTE", "MediaFileView"]

#: Only rendition names match: two hex digits, a folder of that name, a 32-digit content
#: hash and an image extension. Nothing else under the media folder (source copies,
#: uploads in progress) has such a name, and no ``..`` or other path can be spelled.
MEDIA_ROUTE = r"/media/{shard:[0-9a-f]{2}}/{name:[0-9a-f]{32}\.(?:webp|jpg|png|gif)}"
_TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif"}
#: The name is the content's hash: the bytes behind it never change.
CACHE_CONTROL = "public, max-age=31536000, immutable"


class MediaFileView(web.View):
    """Serve one rendition from the local media store (404 when there is none)."""

    async def get(self) -> web.StreamResponse:
        site = self.request.app[SITE_KEY]
        shard, name = self.request.match_info["shard"], self.request.match_info["name"]
        if not name.startswith(shard) or site.images is None:
            raise web.HTTPNotFound(reason="No such file")
        path = site.images.store.path(f"{shard}/{name}")
        if path is None or not await asyncio.to_thread(path.is_file):
            raise web.HTTPNotFound(reason="No such file")
        return web.FileResponse(
            path,
            headers={
                "Cache-Control": CACHE_CONTROL,
                "Content-Type": _TYPES[name.rsplit(".", 1)[1]],
            },
        )
