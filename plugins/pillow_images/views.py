"""``GET /media/<shard>/<hash>.<ext>``: renditions, cached for good by browsers."""

from __future__ import annotations

import asyncio

from aiohttp import web

from cms.keys import SITE_KEY

__all__ = ["MEDIA_ROUTE", "MediaFileView"]

#: Only rendition names match: two hex digits, a folder of that name, a 32-digit content
#: hash and an image extension. Nothing else in the media store (source copies, uploads in
#: progress) has such a name, and no ``..`` or other path can be spelled.
MEDIA_ROUTE = r"/media/{shard:[0-9a-f]{2}}/{name:[0-9a-f]{32}\.(?:webp|jpg|png|gif)}"
_TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif"}
#: The name is the content's hash: the bytes behind it never change.
CACHE_CONTROL = "public, max-age=31536000, immutable"


class MediaFileView(web.View):
    """Serve one rendition from the media store: from disk for a local store, by a
    redirect when the store has a public address of its own, else streamed from it; 404
    when there is none."""

    async def get(self) -> web.StreamResponse:
        site = self.request.app[SITE_KEY]
        shard, name = self.request.match_info["shard"], self.request.match_info["name"]
        store = site.media
        if not name.startswith(shard) or store is None:
            raise web.HTTPNotFound(reason="No such file")
        key = f"{shard}/{name}"
        headers = {"Cache-Control": CACHE_CONTROL, "Content-Type": _TYPES[name.rsplit(".", 1)[1]]}
        path = store.path(key)
        if path is not None:
            if not await asyncio.to_thread(path.is_file):
                raise web.HTTPNotFound(reason="No such file")
            return web.FileResponse(path, headers=headers)
        public = store.url(key)
        if not public.startswith("/"):
            # Pages link there already; an old link or a feed reader lands here.
            raise web.HTTPMovedPermanently(location=public)
        chunks = store.read(key)
        try:
            try:
                first = await anext(chunks)
            except (FileNotFoundError, StopAsyncIteration):
                raise web.HTTPNotFound(reason="No such file") from None
            response = web.StreamResponse(headers=headers)
            await response.prepare(self.request)
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            await chunks.aclose()
