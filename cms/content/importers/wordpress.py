"""Reading a WordPress export (WXR 1.0 to 1.2, the RSS file of Tools > Export).

The XML is parsed by defusedxml: no entity expansion (a "billion laughs" file is refused,
not expanded), no external entities or DTDs fetched, nothing from the network.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

from cms.content.importers.source import (
    MAX_EXPORT_BYTES,
    BadExport,
    SourceDocument,
    SourcePost,
    SourceUser,
)

__all__ = ["read_wordpress"]

_WP = re.compile(r"^\{https?://wordpress\.org/export/1\.\d+/\}")
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
_STATUSES: dict[str, Literal["draft", "published", "scheduled"]] = {
    "publish": "published",
    "future": "scheduled",
    "draft": "draft",
    "pending": "draft",
    "private": "draft",
}
_SKIPPED_STATUSES = {"trash": "posts in the trash", "auto-draft": "auto-drafts"}
_KINDS: dict[str, Literal["post", "page"]] = {"post": "post", "page": "page"}
_NOT_CONTENT = {
    "attachment": "attachments (media entries; their files come from --media-dir)",
    "nav_menu_item": "menu items",
}
#: WordPress gives every post this category when it has no other: it means none.
_PLACEHOLDER_CATEGORY = "uncategorized"


def _parse(path: Path, max_bytes: int) -> Element:
    size = path.stat().st_size
    if size > max_bytes:
        raise BadExport(
            f"the file is {size:,} bytes, more than the {max_bytes:,} an import reads; "
            "split the export (Tools > Export, by date range)"
        )
    data = path.read_bytes()
    try:
        root: Element = SafeTree.fromstring(data, forbid_dtd=True)
    except ParseError as error:
        line, column = error.position
        raise BadExport(f"malformed XML at line {line}, column {column + 1}") from None
    except DefusedXmlException as error:
        raise BadExport(
            f"the XML declares a DTD or entities ({type(error).__name__}), which an "
            "export never does: refused unread"
        ) from None
    return root


def _text(element: Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "").strip() if found is not None else ""


def _when(value: str) -> datetime | None:
    """A WXR date (``2013-01-10 20:15:40``), read as UTC; None for WordPress's zero date."""
    value = value.strip()
    if not value or value.startswith("0000"):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _old_path(link: str) -> str | None:
    parts = urlsplit(link)
    path = re.sub("/{2,}", "/", unquote(parts.path or ""))
    if path in ("", "/"):
        return None  # ?p=123: an address a redirect cannot tell apart
    return path if path.startswith("/") else "/" + path


def _term_path(domain: str | None, slug: str, parents: dict[str, str]) -> str:
    """A tag's or category's page on a WordPress site with the default bases."""
    if domain == "post_tag":
        return f"/tag/{slug}/"
    trail = [slug]
    while (parent := parents.get(trail[-1])) and parent not in trail and len(trail) < 10:
        trail.append(parent)
    return "/category/" + "/".join(reversed(trail)) + "/"


def read_wordpress(path: Path, *, max_bytes: int = MAX_EXPORT_BYTES) -> SourceDocument:
    """Read a WXR file; raise :class:`BadExport` for anything else or a damaged one."""
    root = _parse(path, max_bytes)
    channel = root.find("channel")
    namespace = next(
        (
            match.group(0)
            for element in (channel if channel is not None else [])
            if (match := _WP.match(element.tag))
        ),
        None,
    )
    if root.tag != "rss" or channel is None or namespace is None:
        raise BadExport(
            "not a WordPress export: a WXR file is RSS with wp: elements "
            "(WordPress: Tools > Export > All content)"
        )
    wp = namespace
    excerpt_tag = wp[:-1] + "excerpt/}encoded"
    site = _text(channel, f"{wp}base_blog_url") or _text(channel, "link") or "unknown"
    document = SourceDocument(
        source=f"wordpress:{site.rstrip('/')}"[:300], system="WordPress", media_marker="/uploads/"
    )
    for author in channel.findall(f"{wp}author"):
        login = _text(author, f"{wp}author_login")
        if login and login not in {user.login for user in document.users}:
            document.users.append(
                SourceUser(login, login, _text(author, f"{wp}author_display_name") or None)
            )
    known_users = {user.login for user in document.users}
    # A category's address holds its parents' (/category/parent/child/).
    parents = {
        unquote(_text(term, f"{wp}category_nicename")): unquote(_text(term, f"{wp}category_parent"))
        for term in channel.findall(f"{wp}category")
    }
    attachments: dict[str, tuple[str, str]] = {}
    items = channel.findall("item")
    for item in items:
        if _text(item, f"{wp}post_type") == "attachment":
            caption = _text(item, excerpt_tag) or _text(item, _CONTENT)
            attachments[_text(item, f"{wp}post_id")] = (
                _text(item, f"{wp}attachment_url") or _text(item, "guid"),
                caption,
            )
    for number, item in enumerate(items, start=1):
        post_type = _text(item, f"{wp}post_type") or "post"
        kind = _KINDS.get(post_type)
        if kind is None:
            document.skipped[_NOT_CONTENT.get(post_type, f"items of type {post_type}")] += 1
            continue
        raw_status = _text(item, f"{wp}status") or "publish"
        if raw_status in _SKIPPED_STATUSES:
            document.skipped[_SKIPPED_STATUSES[raw_status]] += 1
            continue
        status = _STATUSES.get(raw_status)
        if status is None:
            document.skipped[f"items with status {raw_status}"] += 1
            continue
        if _text(item, f"{wp}post_password"):
            document.skipped["password protection (those posts come across as drafts)"] += 1
            status = "draft"
        document.skipped["comments"] += len(item.findall(f"{wp}comment"))
        meta = {
            _text(entry, f"{wp}meta_key"): _text(entry, f"{wp}meta_value")
            for entry in item.findall(f"{wp}postmeta")
        }
        source_id = (_text(item, f"{wp}post_id") or f"item-{number}")[:100]
        posted = _when(_text(item, f"{wp}post_date_gmt")) or _when(_text(item, f"{wp}post_date"))
        byline = _text(item, _CREATOR) or None
        if byline and byline not in known_users:
            # WXR 1.0 lists no authors: the byline names them.
            known_users.add(byline)
            document.users.append(SourceUser(byline, byline, None))
        image_url, image_caption = attachments.get(meta.get("_thumbnail_id", ""), ("", ""))
        post = SourcePost(
            source_id=source_id,
            kind=kind,
            title=unescape(_text(item, "title")),
            slug=unquote(_text(item, f"{wp}post_name")),
            html=_text(item, _CONTENT),
            status=status,
            published_at=posted if status != "draft" else None,
            created_at=posted,
            updated_at=_when(_text(item, f"{wp}post_modified_gmt")),
            old_path=_old_path(_text(item, "link")),
            author=byline,
            excerpt=_text(item, excerpt_tag) or None,
            featured=_text(item, f"{wp}is_sticky") == "1",
            image_url=image_url or None,
            image_caption=image_caption or None,
            meta_title=meta.get("_yoast_wpseo_title") or None,
            meta_description=meta.get("_yoast_wpseo_metadesc") or None,
        )
        for category in item.findall("category"):
            if category.get("domain") not in ("category", "post_tag"):
                continue
            name = unescape((category.text or "").strip())
            slug = unquote(category.get("nicename") or "") or name
            if name and slug.lower() != _PLACEHOLDER_CATEGORY:
                post.tags.append((name, slug))
                document.archive_paths[_term_path(category.get("domain"), slug, parents)] = (
                    "tag",
                    slug,
                )
        if byline:
            document.archive_paths[f"/author/{byline}/"] = ("author", byline)
        document.posts.append(post)
    return document
