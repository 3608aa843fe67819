"""Feeds for readers: RSS 2.0, Atom 1.0 and JSON Feed 1.1 of the site, of each tag and of
each author (``/feed.xml``, ``/feed.atom``, ``/feed.json``; the same under
``/tags/{slug}/`` and ``/authors/{username}/``).

A feed holds the newest :data:`FEED_POSTS` published posts (never drafts, scheduled posts
or pages), each with its full HTML (links and images made absolute against ``[site]
base_url``, as feed readers need), its excerpt, tags, author and cover image (an
enclosure in RSS, a ``rel="enclosure"`` link in Atom, ``image`` in JSON Feed). RSS and
Atom are written by feedgen. A feed answers ``If-None-Match`` with 304: its entity tag is
made of the posts it holds (ids and versions), their bylines and tags, and the site's title.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from aiohttp import web
from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

from cms.contracts import Post
from cms.web.views.base import BaseView

__all__ = ["FEED_POSTS", "FeedView", "feed_routes"]

#: Posts in a feed: the newest ones.
FEED_POSTS = 20
Format = Literal["rss", "atom", "json"]
Scope = Literal["site", "tag", "author"]
_TYPES: dict[Format, str] = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
_SUFFIX: dict[Format, str] = {"rss": "xml", "atom": "atom", "json": "json"}
# A site-relative address in an href or src attribute (never "//host"): sanitized HTML
# always quotes its attribute values.
_RELATIVE = re.compile(r'(\s(?:href|src)=")(/(?!/)[^"]*)"')
_SRCSET = re.compile(r'(\ssrcset=")([^"]*)"')


def absolute_html(html: str, base_url: str) -> str:
    """``html`` with its site-relative links and image addresses made absolute."""
    html = _RELATIVE.sub(lambda match: f'{match.group(1)}{base_url}{match.group(2)}"', html)

    def srcset(match: re.Match[str]) -> str:
        candidates = []
        for candidate in match.group(2).split(","):
            candidate = candidate.strip()
            if candidate.startswith("/") and not candidate.startswith("//"):
                candidate = base_url + candidate
            candidates.append(candidate)
        return f'{match.group(1)}{", ".join(candidates)}"'

    return _SRCSET.sub(srcset, html)


class FeedView(BaseView):
    """One feed: its format and scope are the class's (see :func:`feed_routes`)."""

    format: ClassVar[Format] = "rss"
    scope: ClassVar[Scope] = "site"

    async def get(self) -> web.Response:
        title, page_url, posts = await self._contents()
        etag = self._etag(posts)
        if etag in {
            part.strip() for part in self.request.headers.get("If-None-Match", "").split(",")
        }:
            return web.Response(status=304, headers=self._headers(etag))
        covers = await self._covers(posts)
        feed_url = self.site.settings.site.base_url + self.request.path
        if self.format == "json":
            body = self._json_feed(title, page_url, feed_url, posts, covers)
        else:
            body = self._xml_feed(title, page_url, feed_url, posts, covers)
        response = web.Response(body=body, headers=self._headers(etag))
        response.content_type = _TYPES[self.format]
        response.charset = "utf-8"
        return response

    async def _contents(self) -> tuple[str, str, list[Post]]:
        """The feed's title, the page it belongs to, and its posts; 404 (or 301 for a
        renamed tag) like that page."""
        site, storage, router = self.site.settings.site, self.site.storage, self.request.app.router
        base = site.base_url
        if self.scope == "site":
            posts = await storage.list_posts(status="published", limit=FEED_POSTS)
            return site.title, base + "/", posts
        if self.scope == "tag":
            slug = self.request.match_info["slug"]
            tag = await storage.get_tag(slug)
            if tag is None:
                moved = await storage.tag_moved_to(slug)
                if moved is None:
                    raise web.HTTPNotFound(reason="There is no tag at this address")
                raise web.HTTPMovedPermanently(
                    router[f"tag-feed-{self.format}"].url_for(slug=moved.slug)
                )
            posts = await storage.list_posts(tag_id=tag.id, limit=FEED_POSTS)
            if not posts:
                raise web.HTTPNotFound(reason="There is no tag at this address")
            page = str(router["tag"].url_for(slug=tag.slug))
            return f"{tag.name} · {site.title}", base + page, posts
        username = self.request.match_info["username"]
        author = await storage.get_user_by_username(username)
        if author is None:
            raise web.HTTPNotFound(reason="There is no author at this address")
        posts = await storage.list_posts(status="published", author_id=author.id, limit=FEED_POSTS)
        if not posts:
            raise web.HTTPNotFound(reason="There is no author at this address")
        page = str(router["author"].url_for(username=author.username))
        return f"{author.shown_name} · {site.title}", base + page, posts

    def _etag(self, posts: list[Post]) -> str:
        what = repr(
            (
                self.format,
                self.request.path,
                self.site.settings.site.title,
                [(post.id, post.version, post.byline, post.tags) for post in posts],
            )
        )
        return '"' + hashlib.blake2b(what.encode(), digest_size=12).hexdigest() + '"'

    @staticmethod
    def _headers(etag: str) -> dict[str, str]:
        return {"ETag": etag, "Cache-Control": "public, max-age=300"}

    def _post_url(self, post: Post) -> str:
        path = self.request.app.router["post"].url_for(slug=post.slug)
        return f"{self.site.settings.site.base_url}{path}"

    def _author_url(self, post: Post) -> str | None:
        if post.author is None:
            return None
        path = self.request.app.router["author"].url_for(username=post.author)
        return f"{self.site.settings.site.base_url}{path}"

    async def _covers(self, posts: list[Post]) -> dict[str, tuple[str, int, str]]:
        """Each cover's widest rendition in a format every reader takes (JPEG, PNG or GIF):
        its absolute URL, size in bytes and type, by content hash."""
        images = self.site.images
        hashes = [post.image for post in posts if post.image]
        if images is None or not hashes:
            return {}
        covers: dict[str, tuple[str, int, str]] = {}
        for media in await self.site.storage.find_media(hashes):
            usable = [r for r in media.renditions if r.format in ("jpeg", "png", "gif")]
            if not usable:
                continue
            widest = max(usable, key=lambda rendition: rendition.width)
            url = images.store.url(widest.key)
            if url.startswith("/"):
                url = self.site.settings.site.base_url + url
            covers[media.content_hash] = (url, widest.size, widest.content_type)
        return covers

    @staticmethod
    def _cover(post: Post, covers: dict[str, tuple[str, int, str]]) -> tuple[str, int, str] | None:
        return covers.get(post.image or "")

    def _xml_feed(
        self,
        title: str,
        page_url: str,
        feed_url: str,
        posts: list[Post],
        covers: dict[str, tuple[str, int, str]],
    ) -> bytes:
        site = self.site.settings.site
        feed = FeedGenerator()
        feed.id(page_url)
        feed.title(title)
        feed.subtitle(site.description or f"The newest posts of {site.title}")
        # RSS's channel link is the last one given: the page, after the feed's own.
        feed.link(href=feed_url, rel="self")
        feed.link(href=page_url, rel="alternate")
        feed.language("en")
        feed.generator("cms")
        newest = max((post.updated_at for post in posts), default=datetime.now(UTC))
        feed.updated(newest)
        enclosures: dict[str, tuple[str, int, str]] = {}
        # feedgen writes entries in reverse order of adding them: oldest first here.
        for post in reversed(posts):
            entry = feed.add_entry()
            url = self._post_url(post)
            entry.id(url)
            entry.guid(url, permalink=True)
            entry.title(post.title)
            entry.link(href=url, rel="alternate")
            entry.published(post.published_at)
            entry.updated(post.updated_at)
            if post.byline:
                author: dict[str, str] = {"name": post.byline}
                if (author_url := self._author_url(post)) is not None:
                    author["uri"] = author_url
                entry.author(author)
            # Always a summary: without one, feedgen puts the content in RSS's description.
            entry.summary(post.excerpt or post.title)
            entry.content(absolute_html(post.html, site.base_url), type="CDATA")
            for tag in post.tags:
                entry.category(term=tag.name, label=tag.name)
            cover = self._cover(post, covers)
            if cover is not None:
                if self.format == "atom":
                    entry.link(href=cover[0])  # made an enclosure below
                    enclosures[cover[0]] = cover
                else:
                    entry.enclosure(cover[0], str(cover[1]), cover[2])
        if self.format == "atom":
            return _with_enclosures(feed.atom_str(pretty=False), enclosures)
        rss: bytes = feed.rss_str(pretty=False)
        return rss

    def _json_feed(
        self,
        title: str,
        page_url: str,
        feed_url: str,
        posts: list[Post],
        covers: dict[str, tuple[str, int, str]],
    ) -> bytes:
        site = self.site.settings.site
        items = []
        for post in posts:
            url = self._post_url(post)
            item: dict[str, Any] = {
                "id": url,
                "url": url,
                "title": post.title,
                "content_html": absolute_html(post.html, site.base_url),
                "date_published": post.published_at.isoformat() if post.published_at else None,
                "date_modified": post.updated_at.isoformat(),
                "tags": post.tag_names,
            }
            if post.excerpt:
                item["summary"] = post.excerpt
            if post.byline:
                item["authors"] = [{"name": post.byline, "url": self._author_url(post)}]
            cover = self._cover(post, covers)
            if cover is not None:
                item["image"] = cover[0]
            items.append(item)
        document = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": title,
            "home_page_url": page_url,
            "feed_url": feed_url,
            "description": site.description or f"The newest posts of {site.title}",
            "language": "en",
            "items": items,
        }
        return json.dumps(document, ensure_ascii=False).encode()


def _with_enclosures(atom: bytes, enclosures: dict[str, tuple[str, int, str]]) -> bytes:
    """Mark covers' links in an Atom feed as enclosures: feedgen 1.0 writes an entry link's
    href only (it drops rel, type and length)."""
    if not enclosures:
        return atom
    tree = etree.fromstring(atom)
    for link in tree.iter("{http://www.w3.org/2005/Atom}link"):
        cover = enclosures.get(link.get("href", ""))
        if cover is not None and link.getparent().tag.endswith("entry"):
            link.set("rel", "enclosure")
            link.set("type", cover[2])
            link.set("length", str(cover[1]))
    written: bytes = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return written


def feed_routes() -> list[web.RouteDef]:
    """The nine feeds' routes: ``feed-rss``, ``tag-feed-atom``, ``author-feed-json``..."""
    routes: list[web.RouteDef] = []
    prefixes: dict[Scope, tuple[str, str]] = {
        "site": ("", "feed"),
        "tag": ("/tags/{slug}", "tag-feed"),
        "author": ("/authors/{username}", "author-feed"),
    }
    formats: tuple[Format, ...] = ("rss", "atom", "json")
    for scope, (prefix, name) in prefixes.items():
        for kind in formats:
            view = type(
                f"{scope.title()}{kind.title()}Feed", (FeedView,), {"format": kind, "scope": scope}
            )
            routes.append(web.view(f"{prefix}/feed.{_SUFFIX[kind]}", view, name=f"{name}-{kind}"))
    return routes
