"""Sitemaps for search engines (sitemaps.org 0.9): ``/sitemap.xml`` is an index of child
sitemaps, each of at most :data:`MAX_URLS` URLs, every ``<loc>`` absolute (``[site]
base_url``) and every ``<lastmod>`` a W3C datetime in UTC.

Children:

- ``/sitemaps/pages.xml``: the home page, then every published page (``/{slug}``);
- ``/sitemaps/tags.xml``: ``/tags``, then every tag with published posts;
- ``/sitemaps/authors.xml``: every author with published posts (listed when there is one);
- ``/sitemaps/posts-YYYY-MM.xml``: the posts published in that month (UTC), one child per
  month that has any, newest month first.

How the posts are cut, and what it costs
----------------------------------------
The storage contract reads posts only whole (``list_posts``: body and HTML included, some
25 KB a post on the bench site) and counts no published posts. Cutting children every
50,000 posts would make the index read every post to find where each child starts: the
whole database (2.5 GB at 100,000 posts of the bench), on every request. So children are
cut by **publication month** instead, and the index finds the months with a skip scan of
the keyset: the newest published post, then the newest one before the start of its
month, and so on. That is one ``list_posts(limit=1)`` seek per month that has posts (a
site of ten years asks 120 times, whatever its size), and no post is read twice.

A month child reads its month by keyset pages of :data:`READ_BATCH` posts, newest first,
and streams its URLs as it goes: its memory is one batch, its time that of reading the
month's posts in full (bodies too; nothing cheaper exists to read).

Measured on the bench site (100,000 posts one minute apart, SQLite, warm page cache): the
index in 4 ms (30 ms on the first request); the largest child, 44,639 posts, in 2.2 s,
its first bytes after 3 ms (4.7 MB, 254 KB gzipped). ``pages.xml`` took 0.6 to 0.8 s there
although the site has no pages: ``list_posts(kind="page")`` walks the published posts
until it has found enough pages, because no index leads with ``kind`` (``/api/pages``
costs the same).

The limit: a month of more than :data:`MAX_URLS` published posts (more than one post every
54 seconds for a whole month, in practice a bulk import without dates) can only be cut
further by counting, which the contract cannot do without reading. Its child lists the
newest :data:`MAX_URLS` and logs a warning; the rest are left out rather than breaking
the protocol's limit.

Child entries in the index carry no ``<lastmod>``: the newest change inside a month is only
known by reading the month. ``lastmod`` of a post or page is when it last changed or became
visible (a scheduled post becomes visible after it was saved); of the home page, a tag or
an author, that of the newest post it lists.

Documents small enough to build whole (the index, pages, tags, authors) get an ``ETag``
and answer ``If-None-Match`` with 304; a month child is streamed, so it has none. All are
``application/xml; charset=utf-8``, gzipped when the client takes it, and cacheable for
:data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from contextlib import aclosing
from datetime import UTC, datetime
from functools import partial
from xml.sax.saxutils import escape

from aiohttp import web

from cms.contracts import Cursor, Kind, Post, Storage
from cms.web.compression import COMPRESS_MIN_BYTES, accepts_gzip, add_vary
from cms.web.views.base import BaseView

__all__ = [
    "MAX_SITEMAPS",
    "MAX_URLS",
    "READ_BATCH",
    "AuthorSitemapView",
    "PageSitemapView",
    "PostSitemapView",
    "SitemapIndexView",
    "TagSitemapView",
    "published_months",
]

log = logging.getLogger("cms")

SITEMAP_NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
#: The most URLs one sitemap lists (the protocol's limit; tests lower it).
MAX_URLS = 50_000
#: The most sitemaps an index lists (the protocol's limit too).
MAX_SITEMAPS = 50_000
#: Posts read per storage call while a child is written: one batch is held at a time.
READ_BATCH = 200
#: Tags (or authors) whose newest post is asked for at once.
_CONCURRENT_READS = 8
#: A crawler may keep a sitemap this long; a new post shows up in it within the hour.
CACHE_SECONDS = 3600
#: Bytes gathered before a streamed child writes them out.
_WRITE_CHUNK = 64 * 1024

_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{SITEMAP_NAMESPACE}">\n'
_TAIL = "</urlset>\n"


def _w3c(moment: datetime) -> str:
    """A W3C datetime (what ``<lastmod>`` takes), in UTC, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def changed_at(post: Post) -> datetime:
    """When a post last changed for its readers: its last edit, or when it became visible
    if that came later (a scheduled post)."""
    if post.published_at is not None and post.published_at > post.updated_at:
        return post.published_at
    return post.updated_at


def _url(loc: str, lastmod: datetime | None) -> str:
    stamp = "" if lastmod is None else f"<lastmod>{_w3c(lastmod)}</lastmod>"
    return f"<url><loc>{escape(loc)}</loc>{stamp}</url>\n"


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def _next_month(year: int, month: int) -> datetime:
    return _month_start(year + month // 12, month % 12 + 1)


async def published_months(storage: Storage, *, limit: int = MAX_SITEMAPS) -> list[tuple[int, int]]:
    """The (year, month) of every month, in UTC, with published posts, newest first: one
    keyset seek of one post per month (the newest post before the month found last)."""
    months: list[tuple[int, int]] = []
    after: Cursor | None = None
    while len(months) < limit:
        newest = await storage.list_posts(status="published", after=after, limit=1)
        if not newest or newest[0].published_at is None:
            break
        when = newest[0].published_at.astimezone(UTC)
        months.append((when.year, when.month))
        # Strictly before the month's first instant: (time, id) < (start, 0).
        after = (_month_start(when.year, when.month), 0)
    return months


async def _published(
    storage: Storage,
    *,
    kind: Kind = "post",
    start: datetime | None = None,
    end: datetime | None = None,
) -> AsyncGenerator[list[Post], None]:
    """Published posts (or pages) with ``start <= published_at < end`` (either bound
    optional), newest first, in keyset batches of :data:`READ_BATCH`."""
    after: Cursor | None = None if end is None else (end, 0)
    while True:
        batch = await storage.list_posts(
            status="published", after=after, limit=READ_BATCH, kind=kind
        )
        inside = [
            post
            for post in batch
            if post.published_at is not None and (start is None or post.published_at >= start)
        ]
        if inside:
            yield inside
        if len(inside) < len(batch) or len(batch) < READ_BATCH:
            return
        last = batch[-1]
        assert last.published_at is not None
        after = (last.published_at, last.id)


class SitemapBaseView(BaseView):
    """What the sitemap views share: absolute addresses and the XML answer."""

    def absolute(self, route: str, **parts: str) -> str:
        """The absolute URL of a route of the site, under ``[site] base_url``."""
        path = self.request.app.router[route].url_for(**parts)
        return f"{self.site.settings.site.base_url}{path}"

    def document(self, text: str) -> web.Response:
        """A whole XML document, with an ETag and a 304 for a request that holds it."""
        body = text.encode()
        etag = f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={CACHE_SECONDS}"}
        held = self.request.headers.get("If-None-Match", "")
        if etag.removeprefix("W/") in {tag.strip().removeprefix("W/") for tag in held.split(",")}:
            return web.Response(status=304, headers=headers)
        response = web.Response(
            body=body, content_type="application/xml", charset="utf-8", headers=headers
        )
        if len(body) >= COMPRESS_MIN_BYTES:
            add_vary(response, "Accept-Encoding")
            if accepts_gzip(self.request):
                response.enable_compression(web.ContentCoding.gzip)
        return response

    def urlset(self, urls: Iterable[str], what: str) -> web.Response:
        """A ``<urlset>`` of ``urls`` (``<url>`` elements), at most :data:`MAX_URLS`; one
        without any is a 404 (the protocol wants at least one)."""
        listed = list(urls)
        if not listed:
            raise web.HTTPNotFound(reason="There is nothing in this sitemap")
        if len(listed) > MAX_URLS:
            log.warning(
                "sitemap %s: %d URLs, only the first %d are listed", what, len(listed), MAX_URLS
            )
            listed = listed[:MAX_URLS]
        return self.document(_HEAD + "".join(listed) + _TAIL)

    async def newest_changes(
        self, reads: Sequence[Callable[[], Awaitable[list[Post]]]]
    ) -> list[datetime | None]:
        """Run reads of one post (``list_posts(..., limit=1)``) a few at a time; the
        change time of the post each found, or None."""
        found: list[datetime | None] = []
        for start in range(0, len(reads), _CONCURRENT_READS):
            pages = await asyncio.gather(
                *(read() for read in reads[start : start + _CONCURRENT_READS])
            )
            found.extend(changed_at(posts[0]) if posts else None for posts in pages)
        return found


class SitemapIndexView(SitemapBaseView):
    """``GET /sitemap.xml``: the sitemap index (see the module's notes on its cost)."""

    async def get(self) -> web.Response:
        storage = self.site.storage
        children = [self.absolute("sitemap-pages"), self.absolute("sitemap-tags")]
        months = await published_months(storage, limit=MAX_SITEMAPS - len(children) - 1)
        if months and await self._has_authors():
            children.append(self.absolute("sitemap-authors"))
        children.extend(
            self.absolute("sitemap-posts", year=f"{year:04d}", month=f"{month:02d}")
            for year, month in months
        )
        entries = "".join(f"<sitemap><loc>{escape(loc)}</loc></sitemap>\n" for loc in children)
        return self.document(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="{SITEMAP_NAMESPACE}">\n{entries}</sitemapindex>\n'
        )

    async def _has_authors(self) -> bool:
        """Whether someone has a published post (asked person by person, until one has)."""
        storage = self.site.storage
        for user in await storage.list_users():
            if await storage.list_posts(status="published", author_id=user.id, limit=1):
                return True
        return False


class PageSitemapView(SitemapBaseView):
    """``GET /sitemaps/pages.xml``: the home page and every published page."""

    async def get(self) -> web.Response:
        storage = self.site.storage
        # The home page changes with the posts of its first page.
        first_page = await storage.list_posts(status="published", limit=self.site.posts_per_page)
        home_changed = max((changed_at(post) for post in first_page), default=None)
        urls = [_url(self.absolute("index"), home_changed)]
        async with aclosing(_published(storage, kind="page")) as batches:
            async for batch in batches:
                urls.extend(
                    _url(self.absolute("page", slug=page.slug), changed_at(page)) for page in batch
                )
        return self.urlset(urls, "pages")


class TagSitemapView(SitemapBaseView):
    """``GET /sitemaps/tags.xml``: ``/tags``, then every tag with published posts, each
    changed when its newest post was."""

    async def get(self) -> web.Response:
        storage = self.site.storage
        tags = [tag for tag in await storage.list_tags() if tag.count]
        changes = await self.newest_changes(
            [partial(storage.list_posts, tag_id=tag.id, limit=1) for tag in tags]
        )
        urls = [_url(self.absolute("tags"), max(filter(None, changes), default=None))]
        urls.extend(
            _url(self.absolute("tag", slug=tag.slug), changed)
            for tag, changed in zip(tags, changes, strict=True)
        )
        return self.urlset(urls, "tags")


class AuthorSitemapView(SitemapBaseView):
    """``GET /sitemaps/authors.xml``: every author with published posts."""

    async def get(self) -> web.Response:
        storage = self.site.storage
        users = await storage.list_users()
        changes = await self.newest_changes(
            [
                partial(storage.list_posts, status="published", author_id=user.id, limit=1)
                for user in users
            ]
        )
        return self.urlset(
            (
                _url(self.absolute("author", username=user.username), changed)
                for user, changed in zip(users, changes, strict=True)
                if changed is not None
            ),
            "authors",
        )


class PostSitemapView(SitemapBaseView):
    """``GET /sitemaps/posts-YYYY-MM.xml``: the posts published in one month (UTC), newest
    first, streamed as they are read."""

    async def get(self) -> web.StreamResponse:
        year = int(self.request.match_info["year"])
        month = int(self.request.match_info["month"])
        if not (1 <= month <= 12 and 1 <= year <= 9998):
            raise web.HTTPNotFound(reason="There is no such sitemap")
        start, end = _month_start(year, month), _next_month(year, month)
        storage = self.site.storage
        newest = await storage.list_posts(status="published", after=(end, 0), limit=1)
        if not newest or newest[0].published_at is None or newest[0].published_at < start:
            raise web.HTTPNotFound(reason="There is no post in this month")
        response = web.StreamResponse(headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}"})
        response.content_type = "application/xml"
        response.charset = "utf-8"
        add_vary(response, "Accept-Encoding")
        head = self.request.method == "HEAD"
        if accepts_gzip(self.request):
            if head:
                # The GET's header without a compressor, which would still write the
                # (empty) gzip stream's bytes after the headers of a HEAD.
                response.headers["Content-Encoding"] = "gzip"
            else:
                response.enable_compression(web.ContentCoding.gzip)
        await response.prepare(self.request)
        if head:
            return response
        listed = 0
        buffer = [_HEAD]
        size = len(_HEAD)
        async with aclosing(_published(storage, start=start, end=end)) as batches:
            async for batch in batches:
                full = listed + len(batch) > MAX_URLS
                if full:
                    # See the module's notes: only counting could cut the month further.
                    log.warning(
                        "sitemap posts-%04d-%02d: more than %d posts in one month; "
                        "only the newest %d are listed",
                        year,
                        month,
                        MAX_URLS,
                        MAX_URLS,
                    )
                    batch = batch[: MAX_URLS - listed]
                for post in batch:
                    entry = _url(self.absolute("post", slug=post.slug), changed_at(post))
                    buffer.append(entry)
                    size += len(entry)
                listed += len(batch)
                if size >= _WRITE_CHUNK:
                    await response.write("".join(buffer).encode())
                    buffer, size = [], 0
                if full:
                    break
        buffer.append(_TAIL)
        await response.write("".join(buffer).encode())
        await response.write_eof()
        return response
