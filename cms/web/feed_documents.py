"""Feed documents: a feed's posts written as RSS 2.0, Atom 1.0 (both by feedgen) or JSON
Feed 1.1, each entry with its full HTML made absolute, its excerpt, tags, author and cover.
What goes in a feed, and when, is :mod:`cms.web.views.feeds`'s."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

from cms import __version__
from cms.contracts import Post
from cms.web.absolute_links import absolute_html

__all__ = ["Cover", "Feed", "FeedFormat", "FeedItem", "render_feed"]

FeedFormat = Literal["rss", "atom", "json"]
# Characters XML 1.0 cannot hold; a post may contain them (a pasted form feed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATOM = "{http://www.w3.org/2005/Atom}"


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
