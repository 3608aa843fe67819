"""One address per page: ``/admin`` and ``/posts/<slug>/`` answer 301 to ``/admin/`` and
``/posts/<slug>``, the addresses the routes have, so links and bookmarks written either way
work and search engines see one URL."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["canonical_slash_middleware"]

_SAFE = frozenset({"GET", "HEAD"})


@web.middleware
async def canonical_slash_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A GET that no route matches, but would with the trailing slash added or removed,
    answers 301 there (the query kept)."""
    if request.match_info.http_exception is None or request.method not in _SAFE:
        return await handler(request)
    path = request.path
    # Never a Location a browser could read as another host: "//host" or "/\\host".
    if path == "/" or "//" in path or "\\" in path:
        return await handler(request)
    other = path[:-1] if path.endswith("/") else path + "/"
    match = await request.app.router.resolve(request.clone(rel_url=other))
    if match.http_exception is not None:
        return await handler(request)
    location = request.rel_url.with_path(other).with_query(request.rel_url.query)
    raise web.HTTPMovedPermanently(location=str(location))
