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

``updated_at`` joins ``version`` in the check so that a post deleted and imported again
under the same id and version, but with other texts, is never taken for the one kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_TEXT_CACHE_MB", "TEXT_COLUMNS", "UNKNOWN", "Known", "PostTextCache"]

#: Per process; ``[storage] options.text_cache_mb`` sets it (0: off).
DEFAULT_TEXT_CACHE_MB = 16

#: The columns kept here (both NOT NULL, so a NULL from the statement means "as known").
TEXT_COLUMNS = ("body", "html")
#: Bookkeeping per entry, roughly, on top of the texts.
_ENTRY_OVERHEAD = 300


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

    def parameters(self) -> dict[str, Any]:
        return {
            "known_id": self.id,
            "known_version": self.version,
            "known_updated": self.updated_at,
        }


#: Parameters that match no row: the statement returns the texts.
UNKNOWN: dict[str, Any] = {"known_id": 0, "known_version": 0, "known_updated": None}


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

    def __len__(self) -> int:
        return len(self._by_id)

    def by_id(self, post_id: int) -> Known | None:
        return self._by_id.get(post_id)

    def by_slug(self, slug: str) -> Known | None:
        post_id = self._by_slug.get(slug)
        return None if post_id is None else self._by_id.get(post_id)

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
