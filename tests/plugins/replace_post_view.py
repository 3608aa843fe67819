"""A test plugin: replaces the core post page by registering a view under its route
name, ``post``. Plugin routes win over the core's, which are registered ``trylast``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cms import hookimpl
from cms.web.views.base import BaseView

MARKER = "replaced post view"


class PlainPostView(BaseView):
    """``GET /posts/{slug}``: a published post as plain text."""

    async def get(self) -> web.Response:
        slug = self.request.match_info["slug"]
        post = await self.site.storage.get_post_by_slug(slug, status="published")
        if post is None:
            raise web.HTTPNotFound(reason="No such post (says the replacement view)")
        return web.Response(text=f"{MARKER}: {post.title}")


@hookimpl
def register_routes(cms: Any) -> list[web.RouteDef]:
    return [web.view("/posts/{slug}", PlainPostView, name="post")]
