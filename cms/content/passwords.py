"""Argon2id password hashing, always off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MIN_PASSWORD_LENGTH", "check_password_rules", "hash_password", "verify_password"]

MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()
# Verified when the user does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only a timing equaliser")


def check_password_rules(password: str) -> str | None:
    """Return why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 1024:
        return "Use at most 1024 characters."
    return None


async def hash_password(password: str) -> str:
    """Hash a password with Argon2id in a worker thread."""
    return await asyncio.get_running_loop().run_in_executor(None, _hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password in a worker thread; ``None`` (no such user) costs the same and fails."""
    return await asyncio.get_running_loop().run_in_executor(None, _verify, password_hash, password)
