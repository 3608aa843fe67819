"""The trash: deleted posts, kept restorable for ``[trash] days``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from cms.contracts.records import Kind, Post

__all__ = ["TrashCan", "TrashedPost"]


@dataclass(frozen=True)
class TrashedPost:
    """A post in the trash: ``id`` is the trash entry's (``post_id`` the post had)."""

    id: int
    post_id: int
    kind: Kind
    title: str
    slug: str
    status: str
    trashed_at: datetime
    trashed_by: str | None


@runtime_checkable
class TrashCan(Protocol):
    """A trashed post leaves every list and address (it is no longer a post), with its tags,
    revisions and old slugs kept in the trash entry, so restoring brings all of it back."""

    async def trash_post(
        self, post_id: int, *, expected_version: int | None = None, user_id: int | None = None
    ) -> Post:
        """Move a post to the trash and return it as it was; raise PostNotFound or
        VersionConflict (nothing moves then)."""
        ...

    async def list_trash(self) -> list[TrashedPost]:
        """What the trash holds, most recently trashed first."""
        ...

    async def restore_trashed(self, trash_id: int) -> Post:
        """Bring a trashed post back (under its old id and slug when they are free, else a
        new id and a free slug) and return it; PostNotFound when there is no such entry."""
        ...

    async def empty_trash(
        self, *, before: datetime | None = None, trash_id: int | None = None
    ) -> int:
        """Delete for good the entries trashed before ``before`` (every entry when both
        are None) or the one entry ``trash_id``; return how many went."""
        ...
