"""What visitors see: the index, a post, theme static files, and the health check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from cms.contracts import Cursor, Post
from cms.core.theming import DEFAULT_THEME, bundled_themes_dir
from cms.web.static_files import STATIC_CACHE_KEY
from cms.web.views.base import BaseView, decode_cursor, encode_cursor
from cms.web.views.previews import draft_for_editor

__all__ = [
    "FaviconView",
    "HealthView",
    "IndexView",
    "PageView",
    "PostDetailView",
    "RobotsView",
    "StaticFileView",
    "keyset_page",
]

HEALTH_CHECK_TIMEOUT = 3.0
log = logging.getLogger("cms")


async def keyset_page(
    view: BaseView, read: Callable[[Cursor | None, int], Awaitable[list[Post]]]
) -> tuple[list[Post], str | None, bool]:
    """One page of a published listing (newest first): its posts, the link onwards (or
    None on the last page), and whether it is the first page. ``read(after, limit)``."""
    after = decode_cursor(view.request.query.get("after"))
    limit = view.site.posts_per_page
    posts = await read(after, limit + 1)
    next_url = None
    if len(posts) > limit:
        posts = posts[:limit]
        last = posts[-1]
        assert last.published_at is not None
        next_url = str(
            view.request.url.relative().with_query(after=encode_cursor(last.published_at, last.id))
        )
    return posts, next_url, after is None


def listing_validators(
    name: str, posts: list[Post], next_url: str | None, first: bool
) -> list[object]:
    """What a listing page is made of: its posts (an edit or a deletion changes ids or
    versions; tags and bylines are joined in) and its link onwards. The cursor it starts
    from is in the URL, which caches key on."""
    return [
        name,
        first,
        next_url,
        *((post.id, post.version, post.byline, post.tags) for post in posts),
    ]


async def moved_post(view: BaseView, slug: str) -> None:
    """Answer 301 when ``slug`` was the slug of a post (or page) before a change: links and
    search engines keep finding it, under its current address."""
    post = await view.site.storage.post_moved_to(slug)
    if post is None or not post.is_published:
        return
    route = view.request.app.router["post" if post.kind == "post" else "page"]
    raise web.HTTPMovedPermanently(
        route.url_for(slug=post.slug).with_query(view.request.rel_url.query)
    )


class IndexView(BaseView):
    """``GET /``: published posts, newest first, one keyset page at a time."""

    async def get(self) -> web.Response:
        if not await self.site.is_set_up():
            raise web.HTTPSeeOther(self.request.app.router["setup"].url_for())
        storage = self.site.storage
        posts, next_url, first = await keyset_page(
            self,
            lambda after, limit: storage.list_posts(status="published", after=after, limit=limit),
        )
        # Like Ghost's home.hbs: a theme may give the first page a template of its own.
        templates = ["home.html", "index.html"] if first else ["index.html"]
        return await self.render(
            templates,
            {"posts": posts, "next_url": next_url, "is_first_page": first},
            validate=listing_validators("index", posts, next_url, first),
        )


class PostDetailView(BaseView):
    """``GET /posts/{slug}``: one published post; a draft or scheduled one only for people
    who may edit it (a preview), 404 for everybody else."""

    async def get(self) -> web.Response:
        slug = self.request.match_info["slug"]
        post = await self.site.storage.get_post_by_slug(slug, status="published", kind="post")
        if post is None:
            await moved_post(self, slug)
            if (draft := await draft_for_editor(self, slug, "post")) is not None:
                return draft
            raise web.HTTPNotFound(reason="There is no post at this address")
        return await self.render(
            [f"post-{post.slug}.html", "post.html"],
            {"post": post, "fields": self.site.fields},
            # Every change to a post bumps its version; its author's name and its tags (which
            # a rename changes) are joined in.
            validate=[
                "post",
                post.id,
                post.version,
                post.updated_at.isoformat(),
                post.byline,
                post.tags,
                # A post published (or removed) next to it changes its previous/next links.
                post.newer,
                post.older,
            ],
            last_modified=post.updated_at,
        )


class PageView(BaseView):
    """``GET /{slug}``: a published page (content of kind ``page``), like Ghost's pages."""

    async def get(self) -> web.Response:
        slug = self.request.match_info["slug"]
        page = await self.site.storage.get_post_by_slug(slug, status="published", kind="page")
        if page is None:
            await moved_post(self, slug)
            await self._redirect_to_folder()
            if (draft := await draft_for_editor(self, slug, "page")) is not None:
                return draft
            raise web.HTTPNotFound(reason="There is nothing at this address")
        return await self.render(
            [f"page-{page.slug}.html", "page.html"],
            {"post": page, "page": page, "fields": self.site.fields},
            validate=[
                "page",
                page.id,
                page.version,
                page.updated_at.isoformat(),
                page.byline,
            ],
            last_modified=page.updated_at,
        )

    async def _redirect_to_folder(self) -> None:
        """``/admin`` answers 301 to ``/admin/`` (the canonical slash middleware does this for
        addresses no route matches; this route matches every single segment)."""
        folder = self.request.rel_url.with_path(self.request.path + "/").with_query(
            self.request.rel_url.query
        )
        match = await self.request.app.router.resolve(self.request.clone(rel_url=folder))
        if match.http_exception is None and match.route.name != "page":
            raise web.HTTPMovedPermanently(location=str(folder))


class HealthView(BaseView):
    """``GET /healthz``: 200 when every dependency answers, else 503 naming those that do not."""

    async def get(self) -> web.Response:
        checks = {"database": self.site.storage.check(), "sessions": self.site.sessions.check()}
        backends = {"database": self.site.storage.name, "sessions": self.site.sessions.name}
        if self.site.media is not None:
            checks["media"] = self.site.media.check()
            backends["media"] = self.site.media.name
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
        headers = {"Cache-Control": "public, max-age=31536000, immutable"}
        cache = self.request.app.get(STATIC_CACHE_KEY)
        if cache is not None and (text := cache.get(path)) is not None:
            # CSS and JavaScript: compressed once, from memory (cms.web.static_files).
            return text.response(self.request, headers)
        return web.FileResponse(path, headers=headers)


class FaviconView(BaseView):
    """``GET /favicon.ico``: the theme chain's ``favicon.ico`` (the default theme ships one,
    so a theme that extends it may ship its own or none), else the default theme's."""

    #: Not a cache-busting name, so not "immutable": a week, then the browser asks again
    #: (and gets a 304 while the file is the same).
    CACHE_CONTROL = "public, max-age=604800"

    async def get(self) -> web.StreamResponse:
        theme = self.site.theme
        hashed = theme.static_names.get("favicon.ico")
        path = theme.static_files.get(hashed) if hashed is not None else None
        if path is None:
            # A theme that extends no other has no share in the default theme's files.
            path = bundled_themes_dir() / DEFAULT_THEME / "static" / "favicon.ico"
        return web.FileResponse(
            path,
            headers={
                "Cache-Control": self.CACHE_CONTROL,
                "Content-Type": "image/vnd.microsoft.icon",
            },
        )


class RobotsView(BaseView):
    """``GET /robots.txt``: crawlers welcome, except where only signed-in people go; the
    sitemap index named by its absolute address.

    A plugin replaces it by registering a route named ``robots``.
    """

    #: Paths no crawler should ask for: pages that only redirect to the sign-in form or
    #: answer an API client.
    PRIVATE = ("/admin/", "/api/", "/login", "/logout", "/setup")

    async def get(self) -> web.Response:
        lines = ["User-agent: *", *(f"Disallow: {path}" for path in self.PRIVATE)]
        sitemap = self.request.app.router.named_resources().get("sitemap")
        if sitemap is not None:
            base_url = self.site.settings.site.base_url
            lines += ["", f"Sitemap: {base_url}{sitemap.url_for()}"]
        return web.Response(
            text="\n".join(lines) + "\n",
            content_type="text/plain",
            headers={"Cache-Control": "public, max-age=3600"},
        )
