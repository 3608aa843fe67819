"""Reading a Ghost export (Ghost 2.x to 6.x: Settings > Advanced > Export content, JSON).

The file is ``{"db": [{"meta": ..., "data": {"posts": [...], ...}}]}`` (or the inner object
alone). Posts carry ``html``; where an export has only Mobiledoc or Lexical, those are
rendered to HTML here (:mod:`cms.content.importers.ghost_documents`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cms.content.importers.ghost_documents import render_lexical, render_mobiledoc
from cms.content.importers.source import (
    MAX_EXPORT_BYTES,
    BadExport,
    SourceDocument,
    SourcePost,
    SourceUser,
)

__all__ = ["read_ghost"]

_PLACEHOLDER = "__GHOST_URL__"
_STATUSES: dict[str, Literal["draft", "published", "scheduled"]] = {
    "published": "published",
    "scheduled": "scheduled",
    "draft": "draft",
}


def _load(path: Path, max_bytes: int) -> dict[str, Any]:
    size = path.stat().st_size
    if size > max_bytes:
        raise BadExport(f"the file is {size:,} bytes, more than the {max_bytes:,} an import reads")
    try:
        loaded = json.loads(path.read_bytes().decode("utf-8-sig"))
    except json.JSONDecodeError as error:
        raise BadExport(
            f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except UnicodeDecodeError:
        raise BadExport("not a Ghost export: the file is not UTF-8 text") from None
    export = loaded
    if isinstance(loaded, dict) and isinstance(loaded.get("db"), list) and loaded["db"]:
        export = loaded["db"][0]
    if (
        not isinstance(export, dict)
        or not isinstance(export.get("meta"), dict)
        or not isinstance(export.get("data"), dict)
        or not isinstance(export["data"].get("posts"), list)
    ):
        raise BadExport(
            "not a Ghost export: expected a JSON object with db[0].meta and db[0].data.posts "
            "(Ghost: Settings > Advanced > Import/Export > Export content)"
        )
    return export


def _when(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)  # Ghost 2.x: milliseconds
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _rows(data: dict[str, Any], table: str) -> list[dict[str, Any]]:
    rows = data.get(table) or []
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _url(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.replace(_PLACEHOLDER, "")


def _html(post: dict[str, Any], number: int) -> str:
    if isinstance(post.get("html"), str) and post["html"]:
        return str(post["html"])
    try:
        if isinstance(post.get("lexical"), str) and post["lexical"]:
            return render_lexical(json.loads(post["lexical"]))
        if isinstance(post.get("mobiledoc"), str) and post["mobiledoc"]:
            return render_mobiledoc(json.loads(post["mobiledoc"]))
    except (json.JSONDecodeError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise BadExport(
            f"post {number} ({post.get('slug')}): unreadable document: {error}"
        ) from None
    return ""


def read_ghost(path: Path, *, max_bytes: int = MAX_EXPORT_BYTES) -> SourceDocument:
    """Read a Ghost JSON export; raise :class:`BadExport` for anything else."""
    data = _load(path, max_bytes)["data"]
    document = SourceDocument(source="ghost", system="Ghost", media_marker="/content/images/")
    users: dict[str, str] = {}
    for user in _rows(data, "users"):
        login = str(user.get("slug") or user.get("email") or user.get("id") or "")
        if login and str(user.get("id")) not in users:
            users[str(user.get("id"))] = login
            document.users.append(SourceUser(str(user.get("id")), login, user.get("name")))
            document.archive_paths[f"/author/{login}/"] = ("author", login)
    tags: dict[str, tuple[str, str]] = {}
    for tag in _rows(data, "tags"):
        name = str(tag.get("name") or "")
        if name.startswith("#") or tag.get("visibility") == "internal":
            document.skipped["internal #tags"] += 1
            continue
        if name:
            slug = str(tag.get("slug") or name)
            tags[str(tag.get("id"))] = (name, slug)
            document.archive_paths[f"/tag/{slug}/"] = ("tag", slug)
    post_tags: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for link in _rows(data, "posts_tags"):
        post_tags[str(link.get("post_id"))].append(
            (int(link.get("sort_order") or 0), str(link.get("tag_id")))
        )
    authors: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for link in _rows(data, "posts_authors"):
        authors[str(link.get("post_id"))].append(
            (int(link.get("sort_order") or 0), str(link.get("author_id")))
        )
    metas = {str(row.get("post_id")): row for row in _rows(data, "posts_meta")}
    for number, post in enumerate(_rows(data, "posts"), start=1):
        post_id = str(post.get("id") or f"post-{number}")[:100]
        kind: Literal["post", "page"] = (
            "page" if post.get("type") == "page" or post.get("page") in (True, 1) else "post"
        )
        status = _STATUSES.get(str(post.get("status")))
        if status is None:
            document.skipped[f"posts with status {post.get('status')} (emails only)"] += 1
            continue
        if status != "draft" and post.get("visibility") not in (None, "public"):
            document.skipped["members-only visibility (those posts come across as drafts)"] += 1
            status = "draft"
        meta = {**post, **metas.get(post_id, {})}
        author_ids = [author for _, author in sorted(authors.get(post_id, []))]
        author_id = author_ids[0] if author_ids else str(post.get("author_id") or "")
        slug = str(post.get("slug") or "")
        published = _when(post.get("published_at"))
        document.posts.append(
            SourcePost(
                source_id=post_id,
                kind=kind,
                title=str(post.get("title") or ""),
                slug=slug,
                html=_html(post, number).replace(_PLACEHOLDER, ""),
                status=status,
                published_at=published if status != "draft" else None,
                created_at=_when(post.get("created_at")) or published,
                updated_at=_when(post.get("updated_at")),
                old_path=f"/{slug}/" if slug else None,
                author=users.get(author_id),
                tags=[
                    tags[tag_id]
                    for _, tag_id in sorted(post_tags.get(post_id, []))
                    if tag_id in tags
                ],
                excerpt=post.get("custom_excerpt") or None,
                featured=bool(post.get("featured")),
                image_url=_url(post.get("feature_image")),
                image_caption=meta.get("feature_image_caption") or None,
                meta_title=meta.get("meta_title") or None,
                meta_description=meta.get("meta_description") or None,
            )
        )
    return document
