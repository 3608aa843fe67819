"""What session stores implement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aiohttp_session import AbstractStorage

__all__ = ["SessionStore"]


@runtime_checkable
class SessionStore(Protocol):
    """A session store: an aiohttp-session storage plus its lifecycle."""

    name: str
    storage: AbstractStorage

    async def open(self) -> None:
        """Connect to whatever keeps the sessions."""

    async def close(self) -> None:
        """Release connections."""

    async def check(self) -> None:
        """Raise :class:`DependencyUnavailable` when sessions cannot be read or written."""
