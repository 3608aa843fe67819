"""A post's Markdown and HTML, read once per version of the post.

A post page reads one row, and most of that row's bytes are ``body`` and ``html`` (tens
of kilobytes, which PostgreSQL keeps compressed out of line and SQLite in overflow pages).
Every change to a post bumps its ``version``, so a process that read a version's texts
once can name that version in the next read of the post: the statement then returns the
texts only when the row is no longer that version (``CASE WHEN id = :known_id AND version
= :known_version AND updated_at = :known_updated THEN NULL ELSE body END``), and the
texts come from here. The statement is still the one read of the row, in the same
snapshot, so an edit is seen on the very next request to any worker or host: nothing here
can go stale, it only spares the database (decompressing, copying, sending) and the driver
(decoding) the texts they would send unchanged.

A page of posts does the same with the posts it showed last time (:meth:`PostTextCache.page`):
the statement names up to :data:`PAGE_SLOTS` versions, and rows that are one of them come
without their texts.

``updated_at`` joins ``version`` in the check so that a post deleted and imported again
under the same id and version, but with other texts, is never taken for the one kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_TEXT_CACHE_MB",
    "PAGE_SLOTS",
    "TEXT_COLUMNS",
    "Known",
    "PostTextCache",
    "known_parameters",
]

#: Per process; ``[storage] options.text_cache_mb`` sets it (0: off).
DEFAULT_TEXT_CACHE_MB = 16

#: The columns kept here (both NOT NULL, so a NULL from the statement means "as known").
TEXT_COLUMNS = ("body", "html")
#: Bookkeeping per entry, roughly, on top of the texts.
_ENTRY_OVERHEAD = 300
#: Versions a page of posts can name (a longer page gets the texts of the rest).
PAGE_SLOTS = 24
#: Pages whose posts are remembered (each a handful of ids).
_PAGES = 1024


@dataclass(frozen=True, slots=True)
class Known:
    """The texts of one version of one post."""

    id: int
    slug: str
    version: int
    #: As the driver returned it (before conversion to an aware datetime).
    updated_at: Any
    body: str
    html: str

    @property
    def size(self) -> int:
        # Characters, not bytes: near enough for a budget (mostly ASCII).
        return len(self.body) + len(self.html) + _ENTRY_OVERHEAD

    def parameters(self, slot: int = 0) -> dict[str, Any]:
        """The statement's parameters naming this version, in slot ``slot``."""
        return {
            f"known_id_{slot}": self.id,
            f"known_version_{slot}": self.version,
            f"known_updated_{slot}": self.updated_at,
        }


def known_parameters(known: Sequence[Known | None], slots: int) -> dict[str, Any]:
    """Parameters for a statement with ``slots`` slots: these versions, then slots that
    match no row (so the statement returns the texts)."""
    values: dict[str, Any] = {}
    for slot in range(slots):
        entry = known[slot] if slot < len(known) else None
        if entry is not None:
            values.update(entry.parameters(slot))
        else:
            values.update(
                {f"known_id_{slot}": 0, f"known_version_{slot}": 0, f"known_updated_{slot}": None}
            )
    return values


class PostTextCache:
    """Texts of recently read posts by id (and which id a slug was), least recently used
    out first, within ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        #: Reads whose texts came from here.
        self.hits = 0
        self._by_id: OrderedDict[int, Known] = OrderedDict()
        self._by_slug: dict[str, int] = {}
        #: Which posts a page of posts showed last time, by the page's statement and values.
        self._pages: dict[Hashable, list[int]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def by_id(self, post_id: int) -> Known | None:
        return self._by_id.get(post_id)

    def by_slug(self, slug: str) -> Known | None:
        post_id = self._by_slug.get(slug)
        return None if post_id is None else self._by_id.get(post_id)

    def page(self, key: Hashable) -> list[Known | None]:
        """The versions held of the posts this page showed last time, in its order."""
        ids = self._pages.get(key)
        return [] if ids is None else [self._by_id.get(post_id) for post_id in ids]

    def complete_page(
        self, key: Hashable, rows: Sequence[Mapping[str, Any]], known: Sequence[Known | None]
    ) -> list[Mapping[str, Any]]:
        """:meth:`complete` for every row of a page read with ``known`` named; remembers
        which posts the page showed, for its next read."""
        by_id = {entry.id: entry for entry in known if entry is not None}
        completed = [self.complete(row, by_id.get(row["id"])) for row in rows]
        self._pages.pop(key, None)
        self._pages[key] = [row["id"] for row in rows[:PAGE_SLOTS]]
        while len(self._pages) > _PAGES:
            del self._pages[next(iter(self._pages))]
        return completed

    def complete(self, row: Mapping[str, Any], known: Known | None) -> Mapping[str, Any]:
        """``row`` with its texts: from ``known`` when the statement left them out, else as
        read (and then kept for the next read)."""
        if row["body"] is None:
            # Only the CASE leaves them out, and only for exactly this version.
            assert known is not None and row["id"] == known.id
            # Other reads may have pushed it out while this one waited: it still holds
            # the texts, and a later read keeps them again.
            if self._by_id.get(known.id) is known:
                self._by_id.move_to_end(known.id)
            self.hits += 1
            return {**row, "body": known.body, "html": known.html}
        self._keep(row)
        return row

    def _keep(self, row: Mapping[str, Any]) -> None:
        entry = Known(
            id=row["id"],
            slug=row["slug"],
            version=row["version"],
            updated_at=row["updated_at"],
            body=row["body"],
            html=row["html"],
        )
        if entry.size * 8 > self.max_bytes:
            return
        self._drop(entry.id)
        self._by_id[entry.id] = entry
        self._by_slug[entry.slug] = entry.id
        self.size += entry.size
        while self.size > self.max_bytes and self._by_id:
            self._drop(next(iter(self._by_id)))

    def _drop(self, post_id: int) -> None:
        entry = self._by_id.pop(post_id, None)
        if entry is None:
            return
        self.size -= entry.size
        if self._by_slug.get(entry.slug) == post_id:
            del self._by_slug[entry.slug]
