"""Feeds for readers: RSS 2.0, Atom 1.0 and JSON Feed 1.1 of the site, of each tag and of
each author (``/feed.xml``, ``/feed.atom``, ``/feed.json``; the same under
``/tags/{slug}/`` and ``/authors/{username}/``).

A feed holds the newest :data:`FEED_POSTS` published posts, newest first (never drafts,
scheduled or deleted posts, nor pages: ``list_posts`` returns only posts visible now),
each with its full HTML (links and image addresses made absolute, as feed readers need),
its excerpt, tags, author and cover image: an enclosure and ``media:content`` in RSS, a
``rel="enclosure"`` link and ``media:content`` in Atom, ``image`` in JSON Feed. RSS and
Atom are written by feedgen.

A feed exists where its page does: a tag's feed is 404 while the tag has no published
post, an author's while their page is (a former user with nothing published; an author
who has not published yet has an empty feed to follow); a renamed tag's old feed address
answers 301, as its page does, and so does an author's name in other letter case.

Conditional GET: the ``ETag`` comes from :func:`cms.web.conditional_get.page_validators`
(the site's fingerprint, then the posts' ids, versions, bylines, tags and covers), and a
request that holds it is answered 304. ``Last-Modified`` (when the newest post last
changed or became visible) is sent for readers that show it, but ``If-Modified-Since``
alone never earns a 304: a post deleted or unpublished leaves the newest time as it was,
so only the tag can tell that the feed changed. A rendered feed is kept by tag in the
page cache, like a page (:mod:`cms.web.page_cache`).
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar, Literal

from aiohttp import web

from cms.contracts import Media, Post, Rendition, User
from cms.core.site import Site
from cms.web.absolute_links import absolute_html
from cms.web.compression import COMPRESS_MIN_BYTES, accepts_gzip, add_vary
from cms.web.conditional_get import PageValidators, page_validators
from cms.web.feed_documents import Cover, Feed, FeedFormat, FeedItem, render_feed
from cms.web.page_cache import PAGE_CACHE_KEY
from cms.web.views.base import BaseView

__all__ = [
    "FEED_MEDIA_TYPES",
    "FEED_POSTS",
    "Cover",
    "Feed",
    "FeedItem",
    "FeedView",
    "absolute_html",
    "feed_covers",
    "feed_routes",
    "render_feed",
]

#: Posts in a feed: the newest ones.
FEED_POSTS = 20
Scope = Literal["site", "tag", "author"]
#: What each format is served as (with ``charset=utf-8``).
FEED_MEDIA_TYPES: dict[FeedFormat, str] = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
_SUFFIXES: dict[FeedFormat, str] = {"rss": "xml", "atom": "atom", "json": "json"}
# A cover's rendition: the formats every reader shows first, WebP when there is no other.
_COVER_FORMATS = ("jpeg", "png", "gif", "webp")
# Post HTML larger than this (all entries together) is made absolute and written in a
# thread, so a feed of long posts never stalls the event loop.
_INLINE_LIMIT = 20_000
# The time of a feed with no posts yet (and no better one): fixed, so its copies agree.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- covers -------------------------------------------------------------------------------


def _is_media_hash(value: str) -> bool:
    return len(value) == 64 and all(char in "0123456789abcdef" for char in value)


async def feed_covers(site: Site, posts: Sequence[Post]) -> dict[str, Cover]:
    """The covers of ``posts``, by the post's ``image`` value (one query): an image of the
    media library as its widest rendition in the first of JPEG, PNG, GIF and WebP it has
    (with its size in bytes, which an RSS enclosure needs); an address as it is."""
    base_url = site.settings.site.base_url
    covers: dict[str, Cover] = {}
    hashes = []
    for post in posts:
        image = post.image or ""
        if _is_media_hash(image):
            hashes.append(image)
        elif image.startswith(("https://", "http://")) or (
            image.startswith("/") and "//" not in image
        ):
            url = base_url + image if image.startswith("/") else image
            covers[image] = Cover(url, mimetypes.guess_type(url.split("?")[0])[0])
    if site.images is None or not hashes:
        return covers
    store = site.images.store
    for media in await site.storage.find_media(sorted(set(hashes))):
        cover = _widest(media)
        if cover is None:
            continue
        url = store.url(cover.key)
        covers[media.content_hash] = Cover(
            base_url + url if url.startswith("/") else url,
            cover.content_type,
            cover.size,
            cover.width,
            cover.height,
        )
    return covers


def _widest(media: Media) -> Rendition | None:
    for kind in _COVER_FORMATS:
        renditions = [rendition for rendition in media.renditions if rendition.format == kind]
        if renditions:
            return max(renditions, key=lambda rendition: rendition.width)
    return None


# -- the views ----------------------------------------------------------------------------


class FeedView(BaseView):
    """One feed: its format and scope are the class's (see :func:`feed_routes`)."""

    feed_format: ClassVar[FeedFormat] = "rss"
    scope: ClassVar[Scope] = "site"

    async def get(self) -> web.Response:
        title, description, page_url, posts, author = await self._contents()
        covers = await feed_covers(self.site, posts)
        items = tuple(
            FeedItem(
                post,
                self._url("post", slug=post.slug),
                None if post.author is None else self._url("author", username=post.author),
                covers.get(post.image or ""),
            )
            for post in posts
        )
        newest = max((_changed_at(post) for post in posts), default=None)
        feed = Feed(
            title=title,
            description=description,
            page_url=page_url,
            feed_url=self.site.settings.site.base_url + self.request.path,
            base_url=self.site.settings.site.base_url,
            items=items,
            updated=newest or (author.created_at if author and author.created_at else _EPOCH),
            author=self._feed_author(author, page_url, posts),
        )
        validators = page_validators(
            self.request,
            [
                f"feed-{self.scope}-{self.feed_format}",
                title,
                description,
                page_url,
                *(_made_of(item) for item in items),
            ],
            user=None,
            token="",
            last_modified=newest,
        )
        # The same feed for every visitor, signed in or not: it varies with no cookie.
        headers = {name: value for name, value in validators.headers.items() if name != "Vary"}
        # A 304 for If-None-Match only (see the module's docstring).
        answer = PageValidators(validators.etag, None, headers).not_modified(self.request)
        if answer is not None:
            return answer
        cache = self.request.app.get(PAGE_CACHE_KEY)
        if cache is not None and validators.etag is not None:
            key = cache.key(self.request, validators.etag, f"feed-{self.feed_format}")
            page = cache.get(key) or cache.put(key, await self._render(feed))
            response = page.response(self.request, headers)
        else:
            body = await self._render(feed)
            response = web.Response(body=body, headers=headers)
            if len(body) >= COMPRESS_MIN_BYTES:
                add_vary(response, "Accept-Encoding")
                if accepts_gzip(self.request):
                    response.enable_compression(web.ContentCoding.gzip)
        response.content_type = FEED_MEDIA_TYPES[self.feed_format]
        response.charset = "utf-8"
        return response

    async def _render(self, feed: Feed) -> bytes:
        if sum(len(item.post.html) for item in feed.items) <= _INLINE_LIMIT:
            return render_feed(feed, self.feed_format)
        return await asyncio.to_thread(render_feed, feed, self.feed_format)

    def _feed_author(
        self, author: User | None, page_url: str, posts: list[Post]
    ) -> tuple[str, str] | None:
        """An author's feed is theirs; Atom wants an author for every entry, so an entry
        without one (its writer's account gone) is the site's."""
        if author is not None:
            return author.shown_name, page_url
        if any(not post.byline for post in posts):
            return self.site.settings.site.title, self._url("index")
        return None

    def _url(self, route: str, **parts: str) -> str:
        path = self.request.app.router[route].url_for(**parts)
        return f"{self.site.settings.site.base_url}{path}"

    async def _contents(self) -> tuple[str, str, str, list[Post], User | None]:
        """The feed's title and description, the page it belongs to, its posts and (for
        an author's feed) its author; 404 or 301 where that page answers so."""
        site, storage = self.site.settings.site, self.site.storage
        if self.scope == "site":
            posts = await storage.list_posts(status="published", limit=FEED_POSTS)
            description = site.description or f"The latest posts of {site.title}."
            return site.title, description, self._url("index"), posts, None
        if self.scope == "tag":
            slug = self.request.match_info["slug"]
            tag = await storage.get_tag(slug)
            if tag is None:
                moved = await storage.tag_moved_to(slug)
                if moved is None:
                    raise web.HTTPNotFound(reason="There is no tag at this address")
                raise self._moved(slug=moved.slug)
            posts = await storage.list_posts(tag_id=tag.id, limit=FEED_POSTS)
            if not posts:
                # Only on drafts or scheduled posts so far: its name is not public yet.
                raise web.HTTPNotFound(reason="There is no tag at this address")
            title = f"{tag.name} · {site.title}"
            description = f"Posts about {tag.name} on {site.title}."
            return title, description, self._url("tag", slug=tag.slug), posts, None
        username = self.request.match_info["username"]
        author = await storage.get_user_by_username(username)
        if author is None:
            raise web.HTTPNotFound(reason="There is no author at this address")
        if author.username != username:
            raise self._moved(username=author.username)
        posts = await storage.list_posts(status="published", author_id=author.id, limit=FEED_POSTS)
        if not posts and not author.is_active:
            # A former user with nothing published has no public page, nor feed.
            raise web.HTTPNotFound(reason="There is no author at this address")
        title = f"{author.shown_name} · {site.title}"
        description = author.bio or f"Posts by {author.shown_name} on {site.title}."
        page_url = self._url("author", username=author.username)
        return title, description, page_url, posts, author

    def _moved(self, **parts: str) -> web.HTTPMovedPermanently:
        name = f"{self.scope}-feed-{self.feed_format}"
        url = self.request.app.router[name].url_for(**parts)
        return web.HTTPMovedPermanently(url.with_query(self.request.query))


def _made_of(item: FeedItem) -> tuple[object, ...]:
    """What an entry shows that can change: an edit bumps the version; the author's name,
    the tags (a rename), the time it became visible and the cover's file are joined in."""
    post = item.post
    return (
        post.id,
        post.version,
        post.author,
        post.byline,
        post.tags,
        _changed_at(post),
        item.cover,
    )


def _changed_at(post: Post) -> datetime:
    """When a post last changed for readers: its last edit, or when it became visible if
    that came later (a scheduled post)."""
    if post.published_at is not None and post.published_at > post.updated_at:
        return post.published_at
    return post.updated_at


def feed_routes() -> list[web.RouteDef]:
    """The nine feeds' routes, named ``<scope>-<format>``: ``feed-rss``, ``feed-atom``,
    ``feed-json``; ``tag-feed-rss``...; ``author-feed-rss``..."""
    routes: list[web.RouteDef] = []
    prefixes: dict[Scope, tuple[str, str]] = {
        "site": ("", "feed"),
        "tag": ("/tags/{slug}", "tag-feed"),
        "author": ("/authors/{username}", "author-feed"),
    }
    for scope, (prefix, name) in prefixes.items():
        for feed_format in FEED_MEDIA_TYPES:
            view = type(
                f"{scope.title()}{feed_format.title()}FeedView",
                (FeedView,),
                {"feed_format": feed_format, "scope": scope, "__module__": __name__},
            )
            routes.append(
                web.view(
                    f"{prefix}/feed.{_SUFFIXES[feed_format]}", view, name=f"{name}-{feed_format}"
                )
            )
    return routes
