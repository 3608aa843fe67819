"""Protocols the core depends on, and the records that cross them.

The core never imports a concrete backend: plugins register backends (see the
``register_*`` hooks) and settings name the one to use.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    from aiohttp_session import AbstractStorage

    from cms.site import Site

__all__ = [
    "RECORD_KINDS",
    "ROLES",
    "ApiToken",
    "AttemptCounter",
    "DependencyUnavailable",
    "ImageHandler",
    "ImageHandlerBackend",
    "MigrationReport",
    "Post",
    "PostNotFound",
    "RecordReader",
    "RecordWriter",
    "SchemaOutOfDate",
    "SessionStore",
    "SessionStoreBackend",
    "SiteNotEmpty",
    "Storage",
    "StorageBackend",
    "User",
    "UsernameTaken",
    "VersionConflict",
]

Role = Literal["admin", "editor", "author"]
ROLES: tuple[Role, ...] = ("admin", "editor", "author")
Status = Literal["draft", "published"]

_TAGS = re.compile(r"<[^>]+>")


@dataclass
class Post:
    """A post as storage returns it. Plugin field values live in ``extra``.

    Templates read plugin fields as ``post.<name>`` or ``post["<name>"]``.
    """

    id: int
    slug: str
    title: str
    body: str
    html: str
    status: Status
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    author: str | None
    editor: str | None
    author_id: int | None
    version: int
    image: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: plugin fields.
        if name != "extra" and not name.startswith("__"):
            extra = self.__dict__.get("extra", {})
            if name in extra:
                return extra[name]
        raise AttributeError(name)

    def __getitem__(self, name: str) -> Any:
        if name in self.extra:
            return self.extra[name]
        try:
            return object.__getattribute__(self, name)
        except AttributeError:
            raise KeyError(name) from None

    @property
    def excerpt(self) -> str:
        """The first forty words of the rendered text, as plain text."""
        words = _TAGS.sub(" ", self.html).split()
        text = " ".join(words[:40])
        return text + ("…" if len(words) > 40 else "")

    @property
    def is_published(self) -> bool:
        return self.status == "published"


@dataclass
class User:
    """A person who can sign in."""

    id: int
    username: str
    role: Role
    password_hash: str = field(repr=False)
    is_active: bool = True
    session_generation: int = 0
    created_at: datetime | None = None


@dataclass
class ApiToken:
    """An API token as storage keeps it: never the secret, only its SHA-256 digest.

    ``prefix`` is the start of the secret, kept so people can tell their tokens apart.
    """

    id: int
    user_id: int
    username: str
    label: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_usable(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class PostNotFound(LookupError):
    """The post does not exist (any more)."""


class VersionConflict(Exception):
    """The post changed since the version the caller based its edit on."""

    def __init__(self, current: Post) -> None:
        super().__init__(f"post {current.id} is at version {current.version}")
        self.current = current


class UsernameTaken(ValueError):
    """Another user already has this name."""


class DependencyUnavailable(Exception):
    """A backend (database, session store) cannot be reached right now."""

    def __init__(self, dependency: str, reason: str = "") -> None:
        super().__init__(f"{dependency} is unavailable" + (f": {reason}" if reason else ""))
        self.dependency = dependency
        self.reason = reason


# A page position for keyset pagination: the sort timestamp and id of the last row seen.
Cursor = tuple[datetime, int]


@dataclass
class MigrationReport:
    """What bringing the schema up to date did (or, for a dry run, would do)."""

    #: Changes made (or to be made): created tables, added columns and indexes, revisions.
    applied: list[str] = field(default_factory=list)
    #: Differences never changed automatically: columns of uninstalled plugins (kept with
    #: their data), changed types. Reported, so people can decide.
    kept: list[str] = field(default_factory=list)
    #: Declared changes that cannot be made automatically (they need a versioned revision).
    blocking: list[str] = field(default_factory=list)
    #: The backup made before the change (SQLite), if any.
    backup: str | None = None


class SchemaOutOfDate(Exception):
    """Start-up found schema changes it does not make by itself; ``cms migrate`` does."""

    def __init__(self, message: str, changes: list[str]) -> None:
        super().__init__(message)
        self.changes = changes


class SiteNotEmpty(Exception):
    """An import needs a site without users, posts or tokens."""

    def __init__(self, counts: dict[str, int]) -> None:
        held = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
        super().__init__(f"the site is not empty ({held})")
        self.counts = counts


#: Record kinds of an export, in the order they are imported (later kinds refer to earlier).
RECORD_KINDS: tuple[str, ...] = ("users", "posts", "tokens", "media", "settings")


@runtime_checkable
class RecordReader(Protocol):
    """Reads a whole site as records (one consistent snapshot): see ``Storage.exporting``.

    A record is a dict of stored values: a user's ``password_hash``, a post's ``author_id``,
    plugin fields by name. Datetimes are timezone-aware.
    """

    #: The record kinds (of :data:`RECORD_KINDS`) this storage holds.
    kinds: tuple[str, ...]

    async def count(self, kind: str) -> int:
        """How many records of ``kind`` there are."""
        ...

    def records(self, kind: str, *, batch_size: int = 500) -> AsyncIterator[list[dict[str, Any]]]:
        """Every record of ``kind``, by id, in batches."""
        ...


@runtime_checkable
class RecordWriter(Protocol):
    """Writes records into an empty site, all in one transaction: see ``Storage.importing``."""

    kinds: tuple[str, ...]

    async def write(self, kind: str, records: list[dict[str, Any]]) -> None:
        """Insert records as they are (ids, versions and timestamps kept)."""


@runtime_checkable
class Storage(Protocol):
    """Where posts and users live."""

    name: str

    async def open(self) -> None:
        """Connect."""

    async def migrate(self) -> list[str]:
        """Create or extend the schema (additive changes only); describe what changed."""
        ...

    async def migrate_schema(
        self, *, dry_run: bool = False, startup: bool = False
    ) -> MigrationReport:
        """Bring the schema up to date and report what was done and what was left alone.

        ``dry_run`` changes nothing. ``startup`` follows the backend's start-up policy:
        raise :class:`SchemaOutOfDate` instead of making a change it must not make there.
        """
        ...

    def exporting(self) -> AbstractAsyncContextManager[RecordReader]:
        """Read every record from one consistent snapshot."""
        ...

    def importing(self) -> AbstractAsyncContextManager[RecordWriter]:
        """Write records into an empty site in one transaction: everything or nothing.

        Raises :class:`SiteNotEmpty` on entry when users, posts or tokens exist.
        """
        ...

    async def close(self) -> None:
        """Release every connection."""

    async def check(self) -> None:
        """Raise :class:`DependencyUnavailable` when the store cannot be reached."""

    async def list_posts(
        self,
        *,
        status: Status | None = None,
        author_id: int | None = None,
        after: Cursor | None = None,
        limit: int = 10,
        order: Literal["published", "updated"] = "published",
    ) -> list[Post]:
        """Posts newest first, strictly after ``after`` in that order (keyset pagination)."""
        ...

    async def get_post(self, post_id: int) -> Post | None:
        """One post by id, or None."""
        ...

    async def get_post_by_slug(self, slug: str, *, status: Status | None = None) -> Post | None:
        """One post by slug (optionally of one status), or None."""
        ...

    async def create_post(self, values: dict[str, Any], *, author_id: int | None) -> Post:
        """Store a new post; a slug that is taken gets ``-2``, ``-3``..."""
        ...

    async def update_post(
        self,
        post_id: int,
        values: dict[str, Any],
        *,
        editor_id: int | None,
        expected_version: int | None = None,
    ) -> Post:
        """Change a post and bump its version; raise PostNotFound or VersionConflict."""
        ...

    async def delete_post(self, post_id: int, *, expected_version: int | None = None) -> Post:
        """Delete a post and return it; raise PostNotFound or VersionConflict."""
        ...

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

    async def record_attempt(self, key: str, window: int) -> None:
        """Remember one attempt (a failed sign-in) under ``key`` for ``window`` seconds."""
        ...

    async def recent_attempts(self, key: str, window: int) -> list[float]:
        """Unix times of the attempts under ``key`` in the last ``window`` seconds."""
        ...

    async def clear_attempts(self, key: str) -> None:
        """Forget the attempts under ``key`` (after a successful sign-in)."""
        ...

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


@runtime_checkable
class AttemptCounter(Protocol):
    """Counts attempts (failed sign-ins) shared by every worker. Storage always does;
    a session store that implements it (Redis) is preferred, so counting never touches
    the database."""

    async def record_attempt(self, key: str, window: int) -> None:
        """Remember one attempt under ``key`` for ``window`` seconds."""

    async def recent_attempts(self, key: str, window: int) -> list[float]:
        """Unix times of the attempts under ``key`` in the last ``window`` seconds."""
        ...

    async def clear_attempts(self, key: str) -> None:
        """Forget the attempts under ``key``."""


@dataclass(frozen=True)
class StorageBackend:
    """A storage backend a plugin offers: ``[storage] backend = name``."""

    name: str
    options: type[BaseModel]
    create: Callable[[Any, Site], Storage]
    description: str = ""


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


@dataclass(frozen=True)
class SessionStoreBackend:
    """A session store a plugin offers: ``[sessions] backend = name``."""

    name: str
    options: type[BaseModel]
    create: Callable[[Any, Site], SessionStore]
    description: str = ""


@runtime_checkable
class ImageHandler(Protocol):
    """Turns uploaded images into safe renditions."""

    name: str

    async def open(self) -> None:
        """Start worker pools."""

    async def close(self) -> None:
        """Stop worker pools."""


@dataclass(frozen=True)
class ImageHandlerBackend:
    """An image handler a plugin offers: ``[images] backend = name``."""

    name: str
    options: type[BaseModel]
    create: Callable[[Any, Site], ImageHandler]
    description: str = ""
