"""The values a post read joins in as JSON (its tags, its neighbours): the correlated
subqueries that make them, and the records made of them.

The databases give them as JSON text (SQLite's ``json_group_array``, asyncpg's
``json_agg``) or, with psycopg, as Python lists. A listing of ten posts parsed ten such
texts into tags on every request, a tenth of a PostgreSQL index page's time, while the
texts repeat from one request to the next: the records made of a text are kept by that
text (they are frozen, so every read may share them), a few thousand at most.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select, tuple_

from cms.contracts import PostLink, Tag

from .schema import Schema, is_kind
from .times import has_come

__all__ = ["KEPT", "link_of", "neighbour_column", "tags_column", "tags_of"]

#: Texts whose records are kept (per kind); all are forgotten when it is full.
KEPT = 4096

_tags: dict[str | bytes, tuple[Tag, ...]] = {}
_links: dict[str | bytes, PostLink] = {}


def tags_column(schema: Schema, is_sqlite: bool) -> Any:
    """A post's tags as one JSON array of ``[position, id, name, slug]`` (a correlated
    subquery: one index range per post read, and no second round trip)."""
    posts, tags, post_tags = schema.posts, schema.tags, schema.post_tags
    build = func.json_array if is_sqlite else func.json_build_array
    row = build(post_tags.c.position, tags.c.id, tags.c.name, tags.c.slug)
    aggregate = func.json_group_array(row) if is_sqlite else func.json_agg(row)
    return (
        select(aggregate)
        .select_from(post_tags.join(tags, tags.c.id == post_tags.c.tag_id))
        .where(post_tags.c.post_id == posts.c.id)
        .scalar_subquery()
    )


def neighbour_column(schema: Schema, is_sqlite: bool, *, newer: bool) -> Any:
    """The published post just newer (or older) than the row's, as a JSON array
    ``[slug, title]``: one seek of the status index each, for previous/next links. Only
    for a visible row (the public post page reads published posts whose time came)."""
    posts = schema.posts
    other = posts.alias("neighbour")
    build = func.json_array if is_sqlite else func.json_build_array
    position = tuple_(other.c.published_at, other.c.id)
    here = tuple_(posts.c.published_at, posts.c.id)
    order = (
        (other.c.published_at.asc(), other.c.id.asc())
        if newer
        else (other.c.published_at.desc(), other.c.id.desc())
    )
    # SQLite seeks by one bound at each end, and not by (published_at, id) when id
    # is the rowid: it walked every post from the newest down to this one (17 ms at
    # 100,000 posts). So each side says its seek bound plainly: newer posts lie
    # between this one's time and now; older ones below this one's time, which has
    # come (this row is visible), so "its time has come" needs no bound of its own.
    if newer:
        window = [
            has_come(other.c.published_at, is_sqlite),
            other.c.published_at >= posts.c.published_at,
            position > here,
        ]
    else:
        window = [
            other.c.published_at.is_not(None),
            other.c.published_at <= posts.c.published_at,
            position < here,
        ]
    return (
        select(build(other.c.slug, other.c.title))
        .where(is_kind(other, "post"), other.c.status == "published", *window)
        .order_by(*order)
        .limit(1)
        .scalar_subquery()
    )


def tags_of(value: Any) -> tuple[Tag, ...]:
    """The tag column of a post read (``[[position, id, name, slug], ...]``), in order."""
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        found = _tags.get(value)
        if found is None:
            if len(_tags) >= KEPT:
                _tags.clear()
            found = _tags[value] = _make_tags(json.loads(value))
        return found
    return _make_tags(value)


def _make_tags(rows: list[Any]) -> tuple[Tag, ...]:
    rows = sorted(rows, key=lambda row: (row[0], row[1]))
    return tuple(Tag(id=row[1], name=row[2], slug=row[3]) for row in rows)


def link_of(value: Any) -> PostLink | None:
    """A neighbour column (``[slug, title]``), or None."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        found = _links.get(value)
        if found is None:
            if len(_links) >= KEPT:
                _links.clear()
            slug, title = json.loads(value)
            found = _links[value] = PostLink(slug=slug, title=title)
        return found
    slug, title = value
    return PostLink(slug=slug, title=title)
