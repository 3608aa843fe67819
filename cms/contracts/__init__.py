"""Protocols the core depends on, and the records that cross them.

The core never imports a concrete backend: plugins register backends (see the
``register_*`` hooks) and settings name the one to use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    from aiohttp_session import AbstractStorage

    from cms.core.site import Site

__all__ = [
    "MAX_ID",
    "RECORD_KINDS",
    "ROLES",
    "ApiToken",
    "AttemptCounter",
    "DependencyUnavailable",
    "ImageHandler",
    "ImageHandlerBackend",
    "ImageRejected",
    "Media",
    "MediaInUse",
    "MediaStore",
    "MigrationReport",
    "Post",
    "PostNotFound",
    "RecordReader",
    "RecordWriter",
    "Rendition",
    "SchemaOutOfDate",
    "SessionStore",
    "SessionStoreBackend",
    "SiteNotEmpty",
    "Storage",
    "StorageBackend",
    "StoredImage",
    "User",
    "UsernameTaken",
    "VersionConflict",
]

#: The largest id a row can have: an INTEGER column holds it on every backend.
MAX_ID = 2**31 - 1

Role = Literal["admin", "editor", "author"]
ROLES: tuple[Role, ...] = ("admin", "editor", "author")
Status = Literal["draft", "published"]

_TAGS = re.compile(r"<[^>]+>")


@functools.lru_cache(maxsize=512)
def excerpt_of(html: str) -> str:
    """The first forty words of ``html``, as plain text (see :attr:`Post.excerpt`).

    Kept by the HTML itself (themes ask twice a post, ``if post.excerpt`` then
    ``post.excerpt``, and every request for a post asks again): storage hands out the
    same string for the same version of a post, so a repeat costs a lookup.
    """
    # Read only as much of the HTML as forty words need (a long post's whole text would
    # cost more than the rest of its page): a growing prefix, cut before a tag or word it
    # may have split.
    size = 2048
    while True:
        chunk = html[:size]
        if size >= len(html):
            words = _TAGS.sub(" ", chunk).split()
            break
        opened = chunk.rfind("<")
        if opened > chunk.rfind(">"):
            chunk = chunk[:opened]
        words = _TAGS.sub(" ", chunk).split()[:-1]
        if len(words) > 40:
            break
        size *= 4
    # Entities become characters: the template escapes the text once, as it should.
    return unescape(" ".join(words[:40])) + ("…" if len(words) > 40 else "")


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
        return excerpt_of(self.html)

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


#: Formats of renditions and sources: ``Rendition.format`` and ``Media.format``.
ImageFormat = Literal["jpeg", "png", "gif", "webp"]


@dataclass(frozen=True)
class Rendition:
    """One file made from an uploaded image: one width in one format.

    ``key`` names the file in the media store after its content, so the bytes behind a
    key never change (browsers may cache them for good).
    """

    key: str
    width: int
    height: int
    format: ImageFormat
    size: int

    @property
    def content_type(self) -> str:
        """The file's media type, like ``image/webp``."""
        return f"image/{self.format}"


@dataclass(frozen=True)
class StoredImage:
    """What an image handler made of an upload: files in the media store, not yet a row.

    ``width`` and ``height`` are the upright size; ``source`` is the key of the full-size
    copy without metadata that renditions are rebuilt from (never served); ``added`` lists
    the keys this call put into the store (the others held the same bytes already).
    """

    content_hash: str
    width: int
    height: int
    format: ImageFormat
    source: str
    renditions: tuple[Rendition, ...]
    animated: bool = False
    added: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Every file of the image: its source, then its renditions."""
        return (self.source, *(rendition.key for rendition in self.renditions))


@dataclass
class Media:
    """An image of the media library, as storage returns it.

    ``content_hash`` (hex SHA-256 of the uploaded bytes) identifies it: a post's ``image``
    holds it. ``original_name`` is what the uploader called the file; it is kept as
    information only and never names a stored file.
    """

    id: int
    content_hash: str
    original_name: str
    width: int
    height: int
    format: ImageFormat
    source: str
    renditions: tuple[Rendition, ...]
    created_at: datetime
    animated: bool = False
    uploader_id: int | None = None
    uploader: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """Every file of the image: its source, then its renditions."""
        return (self.source, *(rendition.key for rendition in self.renditions))


class MediaInUse(Exception):
    """An image of the media library cannot be deleted: posts still show it.

    ``posts`` lists them as ``(post id, title)``, by id.
    """

    def __init__(self, media: Media, posts: list[tuple[int, str]]) -> None:
        super().__init__(f"media {media.id} is the image of {len(posts)} post(s)")
        self.media = media
        self.posts = posts


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


class ImageRejected(ValueError):
    """An upload cms does not take: ``status`` 413 (too large) or 422 (not an image it
    accepts); the message says why, for people. Nothing of it is stored."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


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

    async def record_attempt(self, key: str, window: int, limit: int) -> list[float] | None:
        """In one atomic step: when fewer than ``limit`` attempts under ``key`` happened in
        the last ``window`` seconds, remember this one and return None; otherwise remember
        nothing and return the times of those attempts (the caller refuses this one)."""
        ...

    async def recent_attempts(self, key: str, window: int) -> list[float]:
        """Unix times of the attempts under ``key`` in the last ``window`` seconds."""
        ...

    async def clear_attempts(self, key: str) -> None:
        """Forget the attempts under ``key`` (after a successful sign-in)."""
        ...

    async def forget_attempt(self, key: str) -> None:
        """Forget the newest attempt under ``key`` (one recorded before it was known not to
        be a failure); nothing when there is none."""
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

    async def create_media(
        self, image: StoredImage, *, original_name: str, uploader_id: int | None
    ) -> Media:
        """Add an image to the media library. Uploads are deduplicated by content: when a
        row with ``image.content_hash`` exists already, return that one unchanged."""
        ...

    async def get_media(self, media_id: int) -> Media | None:
        """One media row by id, or None."""
        ...

    async def find_media(self, content_hashes: Sequence[str]) -> list[Media]:
        """The media rows with these content hashes (those that exist), in no set order."""
        ...

    async def list_media(
        self, *, after_id: int | None = None, limit: int = 100, newest_first: bool = False
    ) -> list[Media]:
        """Media rows by id, oldest first: those with an id above ``after_id``; with
        ``newest_first``, newest first: those with an id below ``after_id``."""
        ...

    async def update_media(self, media_id: int, image: StoredImage) -> Media:
        """Give a media row new files (its source and renditions, after a rebuild); raise
        LookupError when there is no such row."""
        ...

    async def media_usage(self, content_hashes: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
        """The posts whose ``image`` is each of these content hashes, as ``(post id,
        title)`` by id, in one query per batch; hashes no post uses are left out."""
        ...

    async def delete_media(self, media_id: int) -> Media | None:
        """Delete a media row if no post uses it, in one transaction; return the deleted
        row (its files are the caller's to remove), None when there is no such row, or
        raise MediaInUse naming the posts that use it (nothing changed then)."""
        ...


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
class MediaStore(Protocol):
    """Where media files live, by key (like ``3f/3fa0...c1.webp``): a local folder now;
    shared or object storage can implement the same methods.

    Keys are made from file contents, so the bytes behind a key never change and storing
    a key twice is harmless. Methods that touch files block: cms calls them in a thread.
    """

    name: str

    def temporary_path(self, suffix: str = "") -> Path:
        """A fresh local path (nothing there yet) for a file or folder in progress, such
        as an upload streaming in; on the stored files' filesystem when the store is
        local, so a finished file moves in by rename. Remove it when done."""
        ...

    def clean_temporary(self) -> int:
        """Remove what processes that are gone (a crash, a kill) left at temporary paths,
        never those of processes still running; return how many were removed."""
        ...

    def save(self, key: str, source: Path) -> bool:
        """Move the finished local file ``source`` in under ``key``, whole or not at all
        (written to disk, then renamed atomically). Return False when ``key`` was stored
        already (the same content): ``source`` is then just removed."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """A stored file, open for reading; FileNotFoundError when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove a stored file; one that is missing already is fine."""

    def url(self, key: str) -> str:
        """The address browsers fetch the file from (``/media/...`` for a local store)."""
        ...

    def path(self, key: str) -> Path | None:
        """The local file of ``key`` when this store keeps it on this machine (``GET
        /media/...`` serves it), else None."""
        ...


@runtime_checkable
class ImageHandler(Protocol):
    """Turns uploaded images into safe renditions, in a media store.

    The heavy work (decoding, resizing, encoding) never runs on the event loop.
    """

    name: str
    #: Where the files go.
    store: MediaStore
    #: Uploads larger than this are refused (413) while they stream in.
    max_bytes: int

    async def open(self) -> None:
        """Start worker pools; clean what a crash left at the store's temporary paths."""

    async def close(self) -> None:
        """Stop worker pools."""

    async def ingest(self, source_path: Path, original_name: str) -> StoredImage:
        """Check an uploaded file (at a temporary path of the store) and store its source
        and renditions. ``original_name`` is the uploader's file name, checked against the
        content, never used for a stored file. Raise :class:`ImageRejected` (nothing is
        stored then)."""
        ...

    async def rebuild(self, media: Media) -> StoredImage:
        """Make ``media``'s renditions again from its source with the current settings
        (widths, quality): what ``cms images rebuild`` runs after they change."""
        ...


@dataclass(frozen=True)
class ImageHandlerBackend:
    """An image handler a plugin offers: ``[images] backend = name``."""

    name: str
    options: type[BaseModel]
    create: Callable[[Any, Site], ImageHandler]
    description: str = ""
