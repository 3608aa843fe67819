"""Autosaves: what an author typed into the editor and has not saved, kept by the server.

One per author and post (and one per author for a new post or page not saved yet), replaced
by each autosave. An autosave never touches the post: the published version stays what the
last Save made it. ``data`` is the editor form's values (``title``, ``body``, ``tags``...,
plugin fields by name), as text; ``base_version`` is the post's version the author started
from, so a Save of a restored autosave goes through the same conflict rule as any save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from cms.contracts.records import Kind

__all__ = ["Autosave", "Autosaves", "autosave_slot"]


def autosave_slot(post_id: int | None, kind: Kind) -> str:
    """Where an author's autosave of a post is kept: ``post:12``, or ``new:post`` /
    ``new:page`` before the first Save."""
    return f"post:{post_id}" if post_id is not None else f"new:{kind}"


@dataclass(frozen=True)
class Autosave:
    """One author's unsaved form of one post (or of a new one)."""

    user_id: int
    slot: str
    post_id: int | None
    kind: Literal["post", "page"]
    base_version: int | None
    saved_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Autosaves(Protocol):
    """Optional: a storage that keeps autosaves. Deleting a post (the trash too) or a user
    deletes theirs."""

    async def put_autosave(
        self,
        user_id: int,
        slot: str,
        *,
        post_id: int | None,
        kind: Kind,
        base_version: int | None,
        data: dict[str, Any],
    ) -> Autosave:
        """Keep ``data`` as the author's autosave in ``slot`` (replacing the one there);
        PostNotFound when ``post_id`` names no post."""
        ...

    async def get_autosave(self, user_id: int, slot: str) -> Autosave | None:
        """The author's autosave in ``slot``, or None."""
        ...

    async def delete_autosave(self, user_id: int, slot: str) -> bool:
        """Forget it; whether there was one."""
        ...
