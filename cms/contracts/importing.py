"""An optional storage capability: taking another system's content into a site that may
have content already, all in one transaction (``cms import --from wordpress|ghost``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from cms.contracts.records import Role, StoredImage

__all__ = ["UNUSABLE_PASSWORD", "ImportTarget", "ImportWriter"]

#: The password hash of a user made by an import: no password matches it (it is no Argon2
#: hash), so the user signs in only once an admin has set a password.
UNUSABLE_PASSWORD = "!imported: set a password first"


@runtime_checkable
class ImportWriter(Protocol):
    """Reads what an import must know and writes what it brings, in one transaction that
    holds the site's write lock: see :meth:`ImportTarget.merging`."""

    async def known_sources(self, source: str) -> dict[tuple[str, str], int]:
        """What earlier imports from ``source`` brought: ``(kind, source id)`` -> local id."""
        ...

    async def taken_slugs(self) -> set[str]:
        """Every slug posts and pages have now, and every old slug that leads to one."""
        ...

    async def users_by_key(self) -> dict[str, int]:
        """Every user's id by lower-cased username."""
        ...

    async def add_user(
        self, username: str, *, role: Role, display_name: str | None, password_hash: str
    ) -> int:
        """Add a user; return the id."""
        ...

    async def add_media(self, image: StoredImage, *, original_name: str) -> str:
        """Add an image's row to the media library (its files are stored already); return
        its content hash, which a post's ``image`` holds. The same bytes: the row there."""
        ...

    async def add_posts(self, posts: Sequence[dict[str, Any]]) -> list[int]:
        """Add posts and pages as they are: each dict holds the columns (``slug`` free
        already, ``status``, ``published_at``, ``created_at``, ``updated_at``,
        ``author_id``...), plugin fields by name and ``tags`` as ``(name, slug)`` pairs.
        Return their ids, in order."""
        ...

    async def set_redirects(self, redirects: Sequence[tuple[str, str]]) -> None:
        """Add redirects ``(path, target)``; a path that has one already is pointed anew."""

    async def remember_sources(
        self, source: str, items: Sequence[tuple[str, str, int]], *, when: datetime
    ) -> None:
        """Remember ``(kind, source id, local id)`` as brought from ``source``."""


@runtime_checkable
class ImportTarget(Protocol):
    """Optional, for a backend that takes imports into a site with content. Not part of
    :class:`Storage`: ``cms import --from`` says so when the backend lacks it."""

    def merging(self) -> AbstractAsyncContextManager[ImportWriter]:
        """One write transaction: everything written through the writer is committed when
        the block ends, or nothing when it raises."""
        ...
