"""The records of an export and the rules they are held to (the site's own, plugin fields
included)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    create_model,
)

from cms.content.users import check_username
from cms.contracts import MAX_ID, MENUS, RECORD_KINDS, Role
from cms.contracts.fields import (
    MEDIA_HASH_PATTERN,
    MENU_URL_PATTERN,
    NO_CONTROL_CHARS,
    NO_CONTROL_CHARS_BUT_NEWLINES,
    SLUG_PATTERN,
    PostBody,
    PostExcerpt,
    PostField,
    PostSlug,
    PostTitle,
)
from cms.core.site import Site

FORMAT = "cms-export"
#: 2 (cms 0.3): tags, pages, menus, scheduled posts, author profiles. 3: revisions, the
#: trash and where imported posts came from (a cms reading 2 would refuse their files as
#: unknown kinds; 3 tells it to upgrade). Older archives still import: what they lack
#: takes its default.
VERSION = 3
MANIFEST = "manifest.json"
MEDIA_DIR = "media"
FILES = {kind: f"{kind}.jsonl" for kind in RECORD_KINDS}
BATCH_SIZE = 500
#: At most this many record errors are listed; the rest are counted.
MAX_ERRORS = 20
_NO_NUL = r"^[^\x00]*$"
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX64 = r"^[0-9a-f]{64}$"
#: Where import puts the posts with their html made again (beside the unpacked members).
_RENDERED_POSTS = ".rendered-posts.jsonl"

#: ``progress(label, total)`` gives a function that advances a progress bar by n.
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


class ExportError(Exception):
    """The file is not an export this cms can read; the message says why, for people."""


@contextmanager
def _no_progress(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
    yield lambda _n: None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Moment = Annotated[AwareDatetime, AfterValidator(_utc)]


def _text(max_length: int | None = None, min_length: int = 0, pattern: str = _NO_NUL) -> Any:
    return Annotated[str, Field(min_length=min_length, max_length=max_length, pattern=pattern)]


def _username(value: str) -> str:
    if problem := check_username(value):
        raise ValueError(problem)
    return value


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserRecord(_Record):
    """A line of ``users.jsonl``: the user with its Argon2 password hash and role."""

    id: Id
    # The rules of cms users create and the admin pages.
    username: Annotated[str, AfterValidator(_username)]
    role: Role
    password_hash: _text(255, 1)  # type: ignore[valid-type]
    is_active: bool
    session_generation: Annotated[int, Field(ge=0, le=MAX_ID)]
    created_at: Moment
    display_name: _text(150, 0, NO_CONTROL_CHARS) | None = None  # type: ignore[valid-type]
    bio: _text(2000, 0, NO_CONTROL_CHARS_BUT_NEWLINES) | None = None  # type: ignore[valid-type]
    avatar: Annotated[str, Field(pattern=MEDIA_HASH_PATTERN)] | None = None


class TokenRecord(_Record):
    """A line of ``tokens.jsonl``: an API token by the SHA-256 digest of its secret (the
    secret itself is never stored, so exporting the digest gives no usable token)."""

    id: Id
    user_id: Id
    token_hash: Annotated[str, Field(pattern=_HEX64)]
    prefix: _text(16, 1, TOKEN_PREFIX_PATTERN)  # type: ignore[valid-type]
    label: _text(100, 0, NO_CONTROL_CHARS)  # type: ignore[valid-type]
    created_at: Moment
    expires_at: Moment | None = None
    last_used_at: Moment | None = None
    revoked_at: Moment | None = None


#: What a token's ``prefix`` (the start of its secret, shown to tell tokens apart) is made of.
TOKEN_PREFIX_PATTERN = r"^[A-Za-z0-9_-]+$"
#: A media store key: folders and a file name with an image extension, nothing that could
#: leave the media folder (no ``..``, no absolute path, no hidden name) or be served as
#: anything but an image.
MEDIA_KEY_PATTERN = r"^(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.(?:jpg|jpeg|png|gif|webp)$"
_MEDIA_KEY = re.compile(MEDIA_KEY_PATTERN)
MediaKey = Annotated[str, Field(min_length=3, max_length=300, pattern=MEDIA_KEY_PATTERN)]
_Dimension = Annotated[int, Field(ge=1, le=1_000_000)]
_ImageFormat = Literal["jpeg", "png", "gif", "webp"]


class RenditionRecord(_Record):
    """One file of a media record: ``key`` in the media store, ``media/<key>`` here."""

    key: MediaKey
    width: _Dimension
    height: _Dimension
    format: _ImageFormat
    size: Annotated[int, Field(ge=0)]


class MediaRecord(_Record):
    """A line of ``media.jsonl``: an image of the media library. Its files (``source`` and
    every rendition's ``key``) are in the archive as ``media/<key>``, each with its checksum
    in the manifest."""

    id: Id
    content_hash: Annotated[str, Field(pattern=_HEX64)]
    original_name: _text(255)  # type: ignore[valid-type]
    width: _Dimension
    height: _Dimension
    format: _ImageFormat
    animated: bool = False
    source: MediaKey
    renditions: list[RenditionRecord]
    created_at: Moment
    uploader_id: Id | None = None

    def files(self) -> list[str]:
        """The keys of every file of the record: its source, then its renditions."""
        return [self.source, *(rendition.key for rendition in self.renditions)]


class TagRecord(_Record):
    """A line of ``tags.jsonl``."""

    id: Id
    name: _text(100, 1, NO_CONTROL_CHARS)  # type: ignore[valid-type]
    slug: Annotated[str, Field(max_length=120, pattern=SLUG_PATTERN)]
    created_at: Moment


class PostTagRecord(_Record):
    """A line of ``post_tags.jsonl``: one tag of one post, at ``position`` among its tags."""

    post_id: Id
    tag_id: Id
    position: Annotated[int, Field(ge=0, le=MAX_ID)] = 0
    #: The post's publication time while it is a published post (derived; kept as stored).
    listed_at: Moment | None = None


class TagRedirectRecord(_Record):
    """A line of ``tag_redirects.jsonl``: an old slug of a renamed or merged tag."""

    slug: Annotated[str, Field(max_length=120, pattern=SLUG_PATTERN)]
    tag_id: Id


class PublicationRecord(_Record):
    """A line of ``publications.jsonl``: a scheduled post still to be announced."""

    post_id: Id
    due_at: Moment


class MenuItemRecord(_Record):
    label: _text(100, 1, NO_CONTROL_CHARS)  # type: ignore[valid-type]
    url: Annotated[str, Field(min_length=1, max_length=500, pattern=MENU_URL_PATTERN)]


class MenuRecord(_Record):
    """A line of ``menus.jsonl``: one navigation menu, its links in order."""

    name: Literal[MENUS]  # type: ignore[valid-type]
    items: Annotated[list[MenuItemRecord], Field(max_length=100)]
    updated_at: Moment


class OldSlugRecord(_Record):
    """A line of ``old_slugs.jsonl``: a slug a post had before a change (it redirects)."""

    slug: PostSlug
    post_id: Id


class RedirectRecord(_Record):
    """A line of ``redirects.jsonl``: an address that answers 301 to ``target``."""

    path: Annotated[str, Field(min_length=1, max_length=500, pattern=REDIRECT_PATH_PATTERN)]
    target: Annotated[str, Field(min_length=1, max_length=1000, pattern=MENU_URL_PATTERN)]
    created_at: Moment


class RevisionRecord(_Record):
    """A line of ``revisions.jsonl``: a post as one of its saves left it."""

    id: Id
    post_id: Id
    number: Annotated[int, Field(ge=1, le=999_999_999)]
    version: Annotated[int, Field(ge=1)]
    kind: Literal["save", "restore", "import"]
    created_at: Moment
    user_id: Id | None = None
    data: dict[str, JsonValue]


class TrashRecord(_Record):
    """A line of ``trash.jsonl``: a post in the trash, restorable until it is emptied."""

    id: Id
    post_id: Id
    kind: Literal["post", "page"]
    title: PostTitle
    slug: PostSlug
    status: Literal["draft", "published"]
    trashed_at: Moment
    trashed_by: Id | None = None
    #: The post's row, tags, revisions and old slugs, as the storage keeps them.
    data: dict[str, JsonValue]


class ImportSourceRecord(_Record):
    """A line of ``import_sources.jsonl``: what a post or user was in a site it was imported
    from (``cms import --from``), so importing that file again here adds nothing."""

    source: _text(300, 1, NO_CONTROL_CHARS)  # type: ignore[valid-type]
    kind: Literal["post", "user"]
    source_id: _text(100, 1, NO_CONTROL_CHARS)  # type: ignore[valid-type]
    local_id: Id
    imported_at: Moment


class SettingRecord(_Record):
    """A line of ``settings.jsonl`` (reserved: no site setting lives in the database yet)."""

    key: _text(200, 1)  # type: ignore[valid-type]
    value: JsonValue


# What an address may hold: no space, control character, quote, angle bracket or backslash.
_URL_CHAR = r"""[^\x00-\x20\x7f"'<>\\]"""
_PATH_CHAR = r"""[^\x00-\x20\x7f"'<>\\/]"""
#: A post's ``image`` in an export: a media content hash (checked against the export's
#: media), or an address themes show as a plain ``<img>`` (docs/images.md): an absolute
#: http(s) URL, or a path on this site (no ``//`` in it).
IMAGE_PATTERN = (
    rf"^(?:[0-9a-f]{{64}}|https?://{_URL_CHAR}+|/(?:{_PATH_CHAR}+(?:/{_PATH_CHAR}+)*/?)?)$"
)

#: A redirect's address: a path on this site (never ``//host``), without spaces or quotes.
REDIRECT_PATH_PATTERN = rf"^/(?:{_PATH_CHAR}{_URL_CHAR}*)?$"

#: The core columns of a post: the site's own rules (cms.contracts.fields) where a post is saved.
_CORE_POST_FIELDS: dict[str, Any] = {
    "id": (Id, ...),
    "slug": (PostSlug, ...),
    "title": (PostTitle, ...),
    "body": (PostBody, ...),
    # Exported for readers of the archive; import makes it again from body.
    "html": (str, ...),
    # As stored: a scheduled post is published with a time to come.
    "status": (Literal["draft", "published"], ...),
    "published_at": (Moment | None, None),
    "created_at": (Moment, ...),
    "updated_at": (Moment, ...),
    "author_id": (Id | None, None),
    "editor_id": (Id | None, None),
    "version": (Annotated[int, Field(ge=1, le=MAX_ID)], ...),
    "image": (Annotated[str, Field(max_length=500, pattern=IMAGE_PATTERN)] | None, None),
    # Since format version 2.
    "kind": (Literal["post", "page"], "post"),
    "featured": (bool, False),
    "custom_excerpt": (PostExcerpt | None, None),
}


def post_record_model(fields: list[PostField]) -> type[BaseModel]:
    """The model of a line of ``posts.jsonl``: core columns plus these plugin fields.

    Plugin fields are validated by their own rules but may be null even when required:
    posts written before the plugin was installed have no value.
    """
    extra: dict[str, Any] = {}
    for post_field in fields:
        extra[post_field.name] = (post_field.annotation() | None, None)
    model: type[BaseModel] = create_model(
        "PostRecord", __base__=_Record, **_CORE_POST_FIELDS, **extra
    )
    return model


def _record_models(site: Site) -> dict[str, type[BaseModel]]:
    return {
        "users": UserRecord,
        "posts": post_record_model(site.fields),
        "tags": TagRecord,
        "post_tags": PostTagRecord,
        "tag_redirects": TagRedirectRecord,
        "publications": PublicationRecord,
        "old_slugs": OldSlugRecord,
        "tokens": TokenRecord,
        "media": MediaRecord,
        "menus": MenuRecord,
        "redirects": RedirectRecord,
        "revisions": RevisionRecord,
        "trash": TrashRecord,
        "import_sources": ImportSourceRecord,
        "settings": SettingRecord,
    }


def _field_type(post_field: PostField) -> str:
    return "text" if post_field.type.__name__ == "Text" else post_field.type.__name__


@dataclass
class ExportSummary:
    """What an export or import moved."""

    path: Path
    counts: dict[str, int]
    manifest: dict[str, Any] = field(default_factory=dict)
    #: Stored records that break the site's rules (exported as stored; import refuses them).
    problems: list[str] = field(default_factory=list)
