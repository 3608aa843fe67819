"""Revisions: what a post was after each save, plugin fields included.

Storage keeps one when a save asks for it (``revision=RevisionNote(...)`` on
``create_post`` and ``update_post``), in the same transaction as the save, so a save and
its revision are stored together or not at all.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

from cms.contracts.records import Post

__all__ = [
    "REVISION_KINDS",
    "SNAPSHOT_FIELDS",
    "Revision",
    "RevisionKind",
    "RevisionNote",
    "RevisionStore",
    "snapshot_of",
]

#: ``save`` (the editor, the API), ``restore`` (a revision brought back), ``import``.
RevisionKind = Literal["save", "restore", "import"]
REVISION_KINDS: tuple[RevisionKind, ...] = ("save", "restore", "import")
#: The core fields a revision holds, in the order the history shows them.
SNAPSHOT_FIELDS = (
    "title",
    "slug",
    "status",
    "published_at",
    "tags",
    "image",
    "featured",
    "custom_excerpt",
    "body",
)


@dataclass(frozen=True)
class RevisionNote:
    """What a save asks storage to keep: a revision of ``kind``, and at most ``keep``
    revisions of the post (the oldest go)."""

    kind: RevisionKind = "save"
    keep: int = 50


@dataclass(frozen=True)
class Revision:
    """One revision: the post's ``number``-th kept state (1, 2, ... per post; numbers are
    never reused), made by ``user`` at ``created_at`` when the post reached ``version``.
    ``data`` holds :data:`SNAPSHOT_FIELDS` and ``fields`` (plugin field values), in JSON
    types."""

    post_id: int
    number: int
    version: int
    kind: RevisionKind
    created_at: datetime
    user: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, Any]:
        """The plugin fields' values."""
        return dict(self.data.get("fields") or {})


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


def snapshot_of(post: Post) -> dict[str, Any]:
    """The revision data of ``post`` as it is now (JSON types only)."""
    return {
        "title": post.title,
        "slug": post.slug,
        "status": post.status,
        "published_at": _json_value(post.published_at),
        "tags": [tag.name for tag in post.tags],
        "image": post.image,
        "featured": post.featured,
        "custom_excerpt": post.custom_excerpt,
        "body": post.body,
        "fields": {name: _json_value(value) for name, value in sorted(post.extra.items())},
    }


@runtime_checkable
class RevisionStore(Protocol):
    """The revisions of posts (kept by saves; see :class:`RevisionNote`)."""

    async def list_revisions(self, post_id: int) -> list[Revision]:
        """The post's revisions, newest first (empty for a post without any)."""
        ...

    async def get_revision(self, post_id: int, number: int) -> Revision | None:
        """One revision of a post, or None."""
        ...
