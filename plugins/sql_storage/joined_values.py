"""The values a post read joins in as JSON (its tags, its neighbours), made into records.

The databases give them as JSON text (SQLite's ``json_group_array``, asyncpg's
``json_agg``) or, with psycopg, as Python lists. A listing of ten posts parsed ten such
texts into tags on every request, a tenth of a PostgreSQL index page's time, while the
texts repeat from one request to the next: the records made of a text are kept by that
text (they are frozen, so every read may share them), a few thousand at most.
"""

from __future__ import annotations

import json
from typing import Any

from cms.contracts import PostLink, Tag

__all__ = ["KEPT", "link_of", "tags_of"]

#: Texts whose records are kept (per kind); all are forgotten when it is full.
KEPT = 4096

_tags: dict[str | bytes, tuple[Tag, ...]] = {}
_links: dict[str | bytes, PostLink] = {}


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
