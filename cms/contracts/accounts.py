"""What storage backends implement for accounts: users, API tokens, and the counting of
failed sign-ins (which a session store may take over). Part of :class:`Storage`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from cms.contracts.records import ApiToken, Role, User

__all__ = ["AttemptCounter", "TokenStore", "UserStore"]


@runtime_checkable
class AttemptCounter(Protocol):
    """Counts attempts (failed sign-ins) shared by every worker. Storage always does;
    a session store that implements it (Redis) is preferred, so counting never touches
    the database."""

    async def record_attempt(self, key: str, window: int, limit: int) -> list[float] | None:
        """Atomically: record an attempt and return None while under ``limit``; else
        record nothing and return the times of the attempts in the window."""
        ...

    async def recent_attempts(self, key: str, window: int) -> list[float]:
        """Unix times of the attempts under ``key`` in the last ``window`` seconds."""
        ...

    async def clear_attempts(self, key: str) -> None:
        """Forget the attempts under ``key``."""

    async def forget_attempt(self, key: str) -> None:
        """Forget the newest attempt under ``key``, so the count is one less (an attempt
        recorded in advance that did not count after all); nothing when there is none."""


@runtime_checkable
class UserStore(Protocol):
    """Users and the generation that ends their sessions."""

    async def count_users(self) -> int:
        """How many users exist."""
        ...

    async def create_user(
        self, username: str, password_hash: str, role: Role, *, only_if_first: bool = False
    ) -> User | None:
        """Add a user; with ``only_if_first`` return None when a user exists already."""
        ...

    async def get_user(self, user_id: int) -> User | None:
        """One user by id, or None."""
        ...

    async def get_user_by_username(self, username: str) -> User | None:
        """One user by name (case-insensitive), or None."""
        ...

    async def bump_session_generation(self, user_id: int) -> int:
        """End every session of this user; return the new generation."""
        ...

    async def list_users(self) -> list[User]:
        """Every user, by name."""
        ...

    async def update_user(
        self,
        user_id: int,
        *,
        role: Role | None = None,
        is_active: bool | None = None,
        password_hash: str | None = None,
    ) -> User:
        """Change a user; a new password or deactivation also ends the user's sessions
        (bumps the session generation). Raise LookupError when there is no such user."""
        ...

    async def update_profile(
        self, user_id: int, *, display_name: str | None, bio: str | None, avatar: str | None
    ) -> User:
        """Set what readers see of a user (None clears a value); LookupError when there is
        no such user."""
        ...


@runtime_checkable
class TokenStore(Protocol):
    """API tokens, kept by the SHA-256 digest of their secret."""

    async def create_token(
        self,
        user_id: int,
        token_hash: str,
        *,
        prefix: str,
        label: str = "",
        expires_at: datetime | None = None,
    ) -> ApiToken:
        """Store a new API token by the hex SHA-256 digest of its secret."""
        ...

    async def get_token(self, token_id: int) -> ApiToken | None:
        """One token by id (revoked ones too), or None."""
        ...

    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The token whose secret has this digest (revoked and expired ones too), or None."""
        ...

    async def list_tokens(self, *, user_id: int | None = None) -> list[ApiToken]:
        """Tokens, newest first: one user's, or everybody's."""
        ...

    async def revoke_token(self, token_id: int) -> ApiToken | None:
        """Revoke a token for good (idempotent); return it, or None when there is none."""
        ...

    async def touch_token(self, token_id: int, when: datetime) -> None:
        """Record that a token was used at ``when``."""
        ...
