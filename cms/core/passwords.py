"""Argon2id password hashing with the site's parameters, always off the event loop.

Each site has its own :class:`Passwords` (``site.passwords``), made from ``[passwords]``
in its settings: nothing about hashing is global, and a test or a small machine can
choose cheaper parameters without touching the hashes made with others (Argon2 writes
its parameters into every hash, so any hash verifies whatever the current ones are).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MIN_PASSWORD_LENGTH", "Passwords", "check_password_rules"]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
_DUMMY_PASSWORD = "not a real password, only a timing equaliser"


def check_password_rules(password: str) -> str | None:
    """Return why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    return None


class Passwords:
    """Hashes and checks passwords with one set of Argon2id parameters."""

    def __init__(self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        # Verified when the user does not exist, so both paths cost the same time; made
        # on first use, in the worker thread, with these parameters.
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """Hash a password in a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(None, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password in a worker thread; ``None`` (no such user) costs the same and
        fails."""
        return await asyncio.get_running_loop().run_in_executor(
            None, self._verify, password_hash, password
        )

    def _verify(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None and self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(_DUMMY_PASSWORD)
        try:
            return self._hasher.verify(password_hash or self._dummy_hash or "", password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False
