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
import json
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from aiohttp import web
from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

from cms import __version__
from cms.contracts import Media, Post, Rendition, User
from cms.core.site import Site
from cms.web.absolute_links import absolute_html
from cms.web.compression import COMPRESS_MIN_BYTES, accepts_gzip, add_vary
from cms.web.conditional_get import PageValidators, page_validators
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
FeedFormat = Literal["rss", "atom", "json"]
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
# Characters XML 1.0 cannot hold; a post may contain them (a pasted form feed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATOM = "{http://www.w3.org/2005/Atom}"
# The time of a feed with no posts yet (and no better one): fixed, so its copies agree.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cover:
    """A post's cover image as feeds name it: an absolute URL, and what is known of it."""

    url: str
    media_type: str | None
    length: int | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class FeedItem:
    """One post of a feed, with the absolute addresses the view resolved for it."""

    post: Post
    url: str
    author_url: str | None
    cover: Cover | None


@dataclass(frozen=True)
class Feed:
    """What a feed is made of, ready to be written in any format."""

    title: str
    description: str
    #: The page the feed belongs to (the home page, a tag's, an author's).
    page_url: str
    feed_url: str
    #: The site's ``base_url``: site-relative addresses in post HTML are under it.
    base_url: str
    items: tuple[FeedItem, ...]
    updated: datetime
    #: The feed's own author, as ``(name, url)``: the author of an author's feed; the site
    #: when an entry has none (Atom wants one for every entry).
    author: tuple[str, str] | None = None


# -- writing the formats ------------------------------------------------------------------


def render_feed(feed: Feed, feed_format: FeedFormat) -> bytes:
    """``feed`` as a document of ``feed_format``, UTF-8."""
    if feed_format == "json":
        return _json_feed(feed)
    return _xml_feed(feed, feed_format)


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _content(feed: Feed, item: FeedItem) -> str:
    return absolute_html(item.post.html, feed.base_url, item.url)


def _xml_feed(feed: Feed, feed_format: Literal["rss", "atom"]) -> bytes:
    generator = FeedGenerator()
    generator.load_extension("media", atom=True, rss=True)
    if feed_format == "rss":
        # RSS's <author> must be an e-mail address: names go in dc:creator.
        generator.load_extension("dc", atom=False, rss=True)
    generator.id(feed.page_url)
    generator.title(_text(feed.title))
    generator.subtitle(_text(feed.description))
    # RSS's channel link is the last one given: the page, after the feed's own.
    generator.link(href=feed.feed_url, rel="self")
    generator.link(href=feed.page_url, rel="alternate")
    generator.generator("cms", version=__version__)
    generator.updated(feed.updated)
    if feed.author is not None:
        generator.author({"name": _text(feed.author[0]), "uri": feed.author[1]})
    for item in feed.items:
        post = item.post
        entry = generator.add_entry(order="append")
        entry.id(item.url)
        entry.guid(item.url, permalink=True)
        entry.title(_text(post.title))
        entry.link(href=item.url, rel="alternate")
        if post.published_at is not None:
            entry.published(post.published_at)
        entry.updated(post.updated_at)
        if post.byline:
            if feed_format == "rss":
                entry.dc.dc_creator(_text(post.byline))
            else:
                author = {"name": _text(post.byline)}
                if item.author_url is not None:
                    author["uri"] = item.author_url
                entry.author(author)
        # Always a summary: without one feedgen puts the content in RSS's description.
        entry.summary(_text(post.excerpt or post.title))
        # Escaped text, never CDATA (which a "]]>" in a post would end early).
        content = _text(_content(feed, item))
        entry.content(content, type="html" if feed_format == "atom" else None)
        for tag in post.tags:
            entry.category(term=_text(tag.name), label=_text(tag.name))
        if item.cover is not None:
            _add_cover(entry, item.cover, feed_format)
    if feed_format == "rss":
        rss: bytes = generator.rss_str(pretty=False)
        return rss
    return _atom_links(generator.atom_str(pretty=False), feed.items)


def _add_cover(entry: Any, cover: Cover, feed_format: Literal["rss", "atom"]) -> None:
    if cover.media_type is not None:
        if feed_format == "rss":
            entry.enclosure(cover.url, str(cover.length or 0), cover.media_type)
        else:
            # Its rel, type and length are written by _atom_links.
            entry.link(href=cover.url)
    media = {"url": cover.url, "medium": "image"}
    if cover.media_type is not None:
        media["type"] = cover.media_type
    if cover.length:
        media["fileSize"] = str(cover.length)
    if cover.width and cover.height:
        media["width"], media["height"] = str(cover.width), str(cover.height)
    # Outside any <media:group>: there is one image.
    entry.media.content(media, group=None)


def _atom_links(atom: bytes, items: Sequence[FeedItem]) -> bytes:
    """Give entries' links their attributes: feedgen 1.0 writes an entry link's ``href``
    only (it drops ``rel``, ``type`` and ``length``), so a cover would read as a second
    alternate link instead of an enclosure."""
    root = etree.fromstring(atom)
    for entry, item in zip(root.iterchildren(f"{_ATOM}entry"), items, strict=True):
        for link in entry.iterchildren(f"{_ATOM}link"):
            if link.get("href") == item.url:
                link.set("rel", "alternate")
                link.set("type", "text/html")
            elif item.cover is not None and link.get("href") == item.cover.url:
                link.set("rel", "enclosure")
                if item.cover.media_type is not None:
                    link.set("type", item.cover.media_type)
                if item.cover.length:
                    link.set("length", str(item.cover.length))
    written: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return written


def _json_feed(feed: Feed) -> bytes:
    items = []
    for item in feed.items:
        post = item.post
        entry: dict[str, Any] = {
            "id": item.url,
            "url": item.url,
            "title": post.title,
            "content_html": _content(feed, item),
            "summary": post.excerpt or post.title,
            "date_modified": post.updated_at.isoformat(),
        }
        if post.published_at is not None:
            entry["date_published"] = post.published_at.isoformat()
        if post.byline:
            author = {"name": post.byline}
            if item.author_url is not None:
                author["url"] = item.author_url
            entry["authors"] = [author]
        if post.tags:
            entry["tags"] = post.tag_names
        if item.cover is not None:
            entry["image"] = item.cover.url
        items.append(entry)
    document: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.page_url,
        "feed_url": feed.feed_url,
        "description": feed.description,
    }
    if feed.author is not None:
        document["authors"] = [{"name": feed.author[0], "url": feed.author[1]}]
    document["items"] = items
    # A lone surrogate (from a JSON "\\ud800" in an API write) cannot be UTF-8: replaced.
    return json.dumps(document, ensure_ascii=False).encode("utf-8", errors="replace")


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
