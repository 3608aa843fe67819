"""Preview links: a secret address that shows a draft to someone without an account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from cms.contracts.records import Post

__all__ = ["PreviewLink", "PreviewLinks"]


@dataclass(frozen=True)
class PreviewLink:
    """A post's preview link: ``token`` is the secret in its address."""

    post_id: int
    token: str
    created_at: datetime
    created_by: str | None


@runtime_checkable
class PreviewLinks(Protocol):
    """One preview link per post at most; deleting the post deletes it."""

    async def set_preview_link(
        self, post_id: int, token: str, *, user_id: int | None
    ) -> PreviewLink:
        """Give the post a preview link (replacing the one it had: the old address stops
        working); PostNotFound when there is no such post."""
        ...

    async def get_preview_link(self, post_id: int) -> PreviewLink | None:
        """The post's preview link, or None."""
        ...

    async def post_for_preview(self, token: str) -> Post | None:
        """The post whose preview link has ``token``, whatever its status, or None."""
        ...

    async def revoke_preview_link(self, post_id: int) -> bool:
        """Remove the post's preview link; whether it had one."""
        ...
