"""API tokens: issuing them, storing only their digest, and finding the user behind one.

A token is ``cms_`` plus 32 random bytes (256 bits, URL-safe base64). Storage keeps the
hex SHA-256 of the whole token, never the token itself. A fast unsalted hash is the right
tool here, unlike for passwords: nobody can guess or brute-force 256 random bits whatever
the hash costs, so a slow hash (Argon2) would add nothing but CPU on every API request, and
an unsalted digest can be looked up by equality on a unique index (a salted or slow one
would need an identifier in the token and a second step). A stolen database therefore
yields no usable token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cms.contracts import ApiToken, User
from cms.core.site import Site

__all__ = [
    "TOKEN_PREFIX",
    "IssuedToken",
    "hash_token",
    "issue_token",
    "new_secret",
    "parse_expiry",
    "user_for_token",
]

TOKEN_PREFIX = "cms_"
#: How much of the secret storage keeps in clear, so people can tell tokens apart.
SHOWN_CHARS = 8
LABEL_MAX_LENGTH = 100
#: ``last_used_at`` is written at most this often per token: a read-heavy client does not
#: turn every GET into a database write.
TOUCH_INTERVAL = timedelta(minutes=5)
# A token is cms_ plus URL-safe base64; anything else cannot be one of ours.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,200}$")
_DURATION = re.compile(r"^(\d{1,6})\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token: ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


def new_secret() -> str:
    """A fresh token: ``cms_`` and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    """The hex SHA-256 digest storage keeps for ``secret``."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def parse_expiry(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``never``/empty, a duration (``90d``, ``12h``, ``30m``, ``2w``) or an ISO date or
    date-time (UTC when it has no offset). Raise ValueError with a message for people."""
    if value is None or value.strip().lower() in ("", "never", "none"):
        return None
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    match = _DURATION.match(text)
    if match:
        amount = int(match.group(1))
        if amount == 0:
            raise ValueError("the duration must be more than zero")
        return now + timedelta(**{_UNITS[match.group(2)]: amount})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"cannot read {value!r}: use never, a duration like 90d, 12h or 2w, "
            "or a date like 2030-01-31"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment <= now:
        raise ValueError(f"{value} is in the past")
    return moment


async def issue_token(
    site: Site, username: str, *, label: str = "", expires_at: datetime | None = None
) -> IssuedToken:
    """Create a token that acts as ``username``; ValueError when that cannot be."""
    if len(label) > LABEL_MAX_LENGTH or any(ord(char) < 32 or ord(char) == 127 for char in label):
        raise ValueError(f"the label must be one line of at most {LABEL_MAX_LENGTH} characters")
    user = await site.storage.get_user_by_username(username)
    if user is None:
        raise ValueError(f"there is no user named {username!r}")
    if not user.is_active:
        raise ValueError(f"user {user.username!r} is deactivated")
    secret = new_secret()
    token = await site.storage.create_token(
        user.id,
        hash_token(secret),
        prefix=secret[: len(TOKEN_PREFIX) + SHOWN_CHARS],
        label=label,
        expires_at=expires_at,
    )
    return IssuedToken(token, secret)


async def user_for_token(site: Site, secret: str) -> tuple[User, ApiToken] | None:
    """The active user a usable token acts as, and the token; None for anything else
    (unknown, revoked, expired, or a deactivated user)."""
    if not secret.startswith(TOKEN_PREFIX) or not _TOKEN_SHAPE.match(secret[len(TOKEN_PREFIX) :]):
        return None
    token = await site.storage.get_token_by_hash(hash_token(secret))
    now = datetime.now(UTC)
    if token is None or not token.is_usable(now):
        return None
    user = await site.storage.get_user(token.user_id)
    if user is None or not user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
        await site.storage.touch_token(token.id, now)
    return user, token
