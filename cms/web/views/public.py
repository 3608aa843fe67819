"""What visitors see: the index, a post, theme static files, and the health check."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from cms.web.views.base import BaseView, decode_cursor, encode_cursor

__all__ = ["HealthView", "IndexView", "PostDetailView", "RobotsView", "StaticFileView"]

HEALTH_CHECK_TIMEOUT = 3.0
log = logging.getLogger("cms")


class IndexView(BaseView):
    """``GET /``: published posts, newest first, one keyset page at a time."""

    async def get(self) -> web.Response:
        if not await self.site.is_set_up():
            raise web.HTTPSeeOther(self.request.app.router["setup"].url_for())
        after = decode_cursor(self.request.query.get("after"))
        limit = self.site.posts_per_page
        posts = await self.site.storage.list_posts(status="published", after=after, limit=limit + 1)
        next_url = None
        if len(posts) > limit:
            posts = posts[:limit]
            last = posts[-1]
            assert last.published_at is not None
            next_url = str(
                self.request.url.relative().with_query(
                    after=encode_cursor(last.published_at, last.id)
                )
            )
        # Like Ghost's home.hbs: a theme may give the first page a template of its own.
        templates = ["home.html", "index.html"] if after is None else ["index.html"]
        return await self.render(
            templates,
            {"posts": posts, "next_url": next_url, "is_first_page": after is None},
            # The page is its posts (an edit or a deletion changes ids or versions) and its
            # link onwards; the cursor it starts from is in the URL, which caches key on.
            validate=[
                "index",
                after is None,
                next_url,
                *((post.id, post.version, post.author) for post in posts),
            ],
        )


class PostDetailView(BaseView):
    """``GET /posts/{slug}``: one published post; drafts are 404 for everybody here."""

    async def get(self) -> web.Response:
        slug = self.request.match_info["slug"]
        post = await self.site.storage.get_post_by_slug(slug, status="published")
        if post is None:
            raise web.HTTPNotFound(reason="There is no post at this address")
        return await self.render(
            [f"post-{post.slug}.html", "post.html"],
            {"post": post, "fields": self.site.fields},
            # Every change to a post bumps its version; its author's name is joined in.
            validate=["post", post.id, post.version, post.updated_at.isoformat(), post.author],
            last_modified=post.updated_at,
        )


class HealthView(BaseView):
    """``GET /healthz``: 200 when every dependency answers, else 503 naming those that do not."""

    async def get(self) -> web.Response:
        checks = {"database": self.site.storage.check(), "sessions": self.site.sessions.check()}
        results: dict[str, str] = {}
        down: list[str] = []
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check, HEALTH_CHECK_TIMEOUT)
                results[name] = "ok"
            except Exception as error:  # any failure means "down", never a 500 here
                # The reason goes to the log, not to the public: it names hosts and ports.
                log.warning("health check: %s is down: %s", name, error)
                results[name] = "unavailable"
                down.append(name)
        backends = {"database": self.site.storage.name, "sessions": self.site.sessions.name}
        if down:
            message = ", ".join(f"{name} ({backends[name]})" for name in down) + " unavailable"
            return web.json_response(
                {
                    "status": "unavailable",
                    "down": down,
                    "message": message,
                    "checks": results,
                    "backends": backends,
                },
                status=503,
                headers={"Retry-After": "5", "Cache-Control": "no-store"},
            )
        return web.json_response(
            {"status": "ok", "checks": results, "backends": backends},
            headers={"Cache-Control": "no-store"},
        )


class StaticFileView(BaseView):
    """``GET /static/{theme}/{name}``: only files the theme chain declared, under hashed names."""

    async def get(self) -> web.StreamResponse:
        theme = self.site.theme
        if self.request.match_info["theme"] != theme.name:
            raise web.HTTPNotFound(reason="No such static file")
        path = theme.static_files.get(self.request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(reason="No such static file")
        return web.FileResponse(
            path, headers={"Cache-Control": "public, max-age=31536000, immutable"}
        )


class RobotsView(BaseView):
    """``GET /robots.txt``: crawlers welcome, except where only signed-in people go.

    A plugin replaces it by registering a route named ``robots``.
    """

    #: Paths no crawler should ask for: pages that only redirect to the sign-in form or
    #: answer an API client.
    PRIVATE = ("/admin/", "/api/", "/login", "/logout", "/setup")

    async def get(self) -> web.Response:
        lines = ["User-agent: *", *(f"Disallow: {path}" for path in self.PRIVATE)]
        return web.Response(
            text="\n".join(lines) + "\n",
            content_type="text/plain",
            headers={"Cache-Control": "public, max-age=3600"},
        )
