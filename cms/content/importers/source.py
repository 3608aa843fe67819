"""What an importer reads from another system's export, before anything is decided about
this site: users, posts and pages with their source ids, and what was left out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "MAX_EXPORT_BYTES",
    "BadExport",
    "SourceDocument",
    "SourcePost",
    "SourceUser",
]

#: Exports larger than this are refused before they are read (a blog of 100,000 posts
#: makes a WXR file of a few hundred megabytes).
MAX_EXPORT_BYTES = 512 * 1024 * 1024


class BadExport(Exception):
    """The file is not an export this importer reads, or is damaged: the message is one
    line for people, naming the line or the item where there is one."""


@dataclass
class SourceUser:
    """An author of the other system."""

    source_id: str
    #: Their sign-in name there (made fit for cms's rules by the plan).
    login: str
    display_name: str | None = None


@dataclass
class SourcePost:
    """A post or page of the other system, its text still HTML."""

    source_id: str
    kind: Literal["post", "page"]
    title: str
    #: The slug there, percent-decoded (may be empty: drafts often have none).
    slug: str
    html: str
    #: draft, published or scheduled (what cms keeps); others are skipped by the reader.
    status: Literal["draft", "published", "scheduled"]
    published_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    #: The path readers knew it at (``/2013/01/10/hello/``), or None.
    old_path: str | None
    author: str | None = None
    tags: list[tuple[str, str]] = field(default_factory=list)
    excerpt: str | None = None
    featured: bool = False
    #: The featured image's address there.
    image_url: str | None = None
    image_caption: str | None = None
    meta_title: str | None = None
    meta_description: str | None = None


@dataclass
class SourceDocument:
    """A whole export as read: what comes across, and counts of what does not."""

    #: Names the other site (``wordpress:https://example.com``): source ids are unique in it.
    source: str
    system: str
    users: list[SourceUser] = field(default_factory=list)
    posts: list[SourcePost] = field(default_factory=list)
    #: Kinds of things left out, each with a count (comments, menu items, trash...).
    skipped: Counter[str] = field(default_factory=Counter)
    #: Where in-text and featured images live in a copy of the other site's media folder:
    #: the part of an address after this marker is a path under ``--media-dir``.
    media_marker: str = ""
    #: The other site's tag and author pages: old path -> ("tag", its slug there) or
    #: ("author", the author's login). They lead to /tags/... and /authors/... here.
    archive_paths: dict[str, tuple[str, str]] = field(default_factory=dict)
