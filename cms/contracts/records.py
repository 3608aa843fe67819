"""The records that cross the contracts: posts, users, tokens, images, migration reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cms.contracts.excerpt import excerpt_of, reading_minutes, word_count_of

__all__ = [
    "MAX_ID",
    "MENUS",
    "RECORD_KINDS",
    "ROLES",
    "AdminMenuItem",
    "ApiToken",
    "Cursor",
    "ImageFormat",
    "Kind",
    "Media",
    "MenuItem",
    "MigrationReport",
    "Post",
    "PostLink",
    "Redirect",
    "Rendition",
    "Role",
    "Status",
    "StoredImage",
    "Tag",
    "User",
]

#: The largest id a row can have: an INTEGER column holds it on every backend.
MAX_ID = 2**31 - 1

Role = Literal["admin", "editor", "author"]
ROLES: tuple[Role, ...] = ("admin", "editor", "author")
#: ``scheduled`` is a published post whose ``published_at`` is still to come: storage keeps
#: it as ``published`` and it becomes visible at that instant (visibility is a condition of
#: every public read, so no process has to wake it).
Status = Literal["draft", "published", "scheduled"]
#: A post is listed (index, tags, authors, feeds); a page lives at ``/{slug}`` alone.
Kind = Literal["post", "page"]
#: The menus a site has, in the order the admin shows them.
MENUS: tuple[str, ...] = ("primary", "secondary")


@dataclass(frozen=True)
class Tag:
    """A tag: ``name`` as people typed it, ``slug`` its address (``/tags/{slug}``).

    ``count`` is the number of published posts carrying it, where a listing says so.
    """

    id: int
    name: str
    slug: str
    count: int = 0


@dataclass(frozen=True)
class PostLink:
    """Another post as a link names it: its slug and title."""

    slug: str
    title: str


@dataclass(frozen=True)
class Redirect:
    """An address of the site that answers 301 to ``target`` (a path here or a full URL),
    added in the admin or by an import: an old URL kept alive."""

    path: str
    target: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class MenuItem:
    """One link of a navigation menu."""

    label: str
    url: str


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
    kind: Kind = "post"
    tags: tuple[Tag, ...] = ()
    featured: bool = False
    #: A hand-written excerpt; :attr:`excerpt` falls back to the text's first words.
    custom_excerpt: str | None = None
    #: The author's display name, when they gave one (see :attr:`byline`).
    author_display_name: str | None = None
    #: The published posts just newer and older, where the read says (the post page).
    newer: PostLink | None = None
    older: PostLink | None = None

    @property
    def byline(self) -> str | None:
        """The name to show readers for the author: display name, else username."""
        return self.author_display_name or self.author

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
        """The hand-written excerpt, else the first forty words of the text, as plain text."""
        if self.custom_excerpt:
            return self.custom_excerpt
        return excerpt_of(self.html)

    @property
    def word_count(self) -> int:
        """How many words the rendered text has (what readers read, not the Markdown)."""
        return word_count_of(self.html)

    @property
    def reading_time(self) -> int:
        """Minutes to read the text at 230 words a minute, rounded up (0 when empty)."""
        return reading_minutes(self.word_count)

    @property
    def is_published(self) -> bool:
        """Visible to everybody now (a scheduled post is not, yet)."""
        return self.status == "published"

    @property
    def is_page(self) -> bool:
        return self.kind == "page"

    @property
    def tag_names(self) -> list[str]:
        return [tag.name for tag in self.tags]


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
    #: How the user is shown to readers (bylines, author page); the username when empty.
    display_name: str | None = None
    bio: str | None = None
    #: Hash of an uploaded image (the media library), like a post's ``image``.
    avatar: str | None = None

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


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


@dataclass(frozen=True)
class AdminMenuItem:
    """One entry of the admin's menu (``register_admin_menu_items``).

    ``route`` names a route (``url`` is built from it), or ``url`` is given as it is;
    ``permission`` hides the entry from users who may not do it; ``key`` marks the entry
    current where a page sets ``active_page`` to it (the route name by default).
    """

    label: str
    route: str | None = None
    url: str | None = None
    permission: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if (self.route is None) == (self.url is None):
            raise ValueError(f"AdminMenuItem {self.label!r}: give a route or a url, not both")

    @property
    def active_key(self) -> str:
        return self.key or self.route or self.url or self.label


#: A page position for keyset pagination: the sort timestamp and id of the last row seen.
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


#: Record kinds of an export, in the order they are imported (later kinds refer to earlier).
RECORD_KINDS: tuple[str, ...] = (
    "users",
    "posts",
    "tags",
    "post_tags",
    "tag_redirects",
    "publications",
    "old_slugs",
    "tokens",
    "media",
    "menus",
    "redirects",
    "revisions",
    "trash",
    "import_sources",
    "settings",
)
