"""What storage backends implement: one protocol per concern, combined into :class:`Storage`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, runtime_checkable

from cms.contracts.accounts import AttemptCounter, TokenStore, UserStore
from cms.contracts.previews import PreviewLinks
from cms.contracts.records import (
    Cursor,
    Kind,
    Media,
    MenuItem,
    MigrationReport,
    Post,
    Redirect,
    Status,
    StoredImage,
    Tag,
)
from cms.contracts.revisions import RevisionNote, RevisionStore
from cms.contracts.search import SearchHit, SearchQuery
from cms.contracts.trash import TrashCan

__all__ = [
    "AttemptCounter",
    "MediaLibrary",
    "MenuStore",
    "PostStore",
    "PublicationQueue",
    "RecordReader",
    "RecordWriter",
    "RedirectStore",
    "SchemaStore",
    "SearchIndex",
    "Storage",
    "TagStore",
    "TokenStore",
    "UserStore",
]


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
class SchemaStore(Protocol):
    """Opening, closing and bringing the schema up to date; whole-site reads and writes."""

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


@runtime_checkable
class PostStore(Protocol):
    """Posts and pages: keyset pages, one by id or slug, and changes checked against versions.

    Visibility is a condition of the query: ``status="published"`` means published *now*
    (``published_at`` has come, by the database's clock), ``status="scheduled"`` published
    with a ``published_at`` still to come. Storage keeps both as ``published``; a read
    reports a post whose time has not come as ``scheduled``.
    """

    async def list_posts(
        self,
        *,
        status: Status | None = None,
        author_id: int | None = None,
        after: Cursor | None = None,
        limit: int = 10,
        order: Literal["published", "updated"] = "published",
        kind: Kind | None = "post",
        tag_id: int | None = None,
    ) -> list[Post]:
        """Posts (or pages, with ``kind``) newest first, strictly after ``after`` in that
        order (keyset pagination); with ``tag_id``, the published posts of that tag."""
        ...

    async def get_post(self, post_id: int) -> Post | None:
        """One post by id, or None."""
        ...

    async def get_post_by_slug(
        self, slug: str, *, status: Status | None = None, kind: Kind | None = None
    ) -> Post | None:
        """One post by slug (optionally of one status and kind), or None."""
        ...

    async def create_post(
        self,
        values: dict[str, Any],
        *,
        author_id: int | None,
        revision: RevisionNote | None = None,
    ) -> Post:
        """Store a new post; a slug that is taken gets ``-2``, ``-3``... With
        ``revision``, keep a revision of it in the same transaction.

        ``values`` holds the columns to write; ``tags`` (when present) is the post's tags
        as ``(name, slug)`` pairs, in order: tags are created as they first appear (a slug
        that exists names that tag). ``published_at`` left out means "now" when publishing.
        """
        ...

    async def update_post(
        self,
        post_id: int,
        values: dict[str, Any],
        *,
        editor_id: int | None,
        expected_version: int | None = None,
        revision: RevisionNote | None = None,
    ) -> Post:
        """Change a post and bump its version; raise PostNotFound or VersionConflict.
        With ``revision``, keep a revision of the result in the same transaction.
        ``tags``, when present, replaces the post's tags (see :meth:`create_post`)."""
        ...

    async def delete_post(self, post_id: int, *, expected_version: int | None = None) -> Post:
        """Delete a post and return it; raise PostNotFound or VersionConflict."""
        ...


@runtime_checkable
class TagStore(Protocol):
    """Tags: counted listings, and renames and merges that leave the old address behind."""

    async def list_tags(self, *, counted: bool = True) -> list[Tag]:
        """Every tag by name, each with its count of published posts (without ``counted``,
        names only, ``count`` 0: counting reads every tag of every post)."""
        ...

    async def get_tag(self, slug: str) -> Tag | None:
        """The tag at this slug, or None. Not counted (``count`` is 0): a tag's page asks
        on every request, and a count grows with the site."""
        ...

    async def get_tag_by_id(self, tag_id: int) -> Tag | None:
        """One tag by id (with its count), or None."""
        ...

    async def tag_moved_to(self, slug: str) -> Tag | None:
        """The tag an old slug (of a tag renamed or merged away) now belongs to, or None."""
        ...

    async def rename_tag(self, tag_id: int, name: str, slug: str) -> Tag:
        """Give a tag a new name and slug; its old slug keeps leading to it. Raise
        LookupError when there is no such tag, ValueError when another tag has the slug."""
        ...

    async def merge_tags(self, source_id: int, target_id: int) -> Tag:
        """Move every post of ``source`` to ``target`` and delete ``source``; its slugs
        lead to ``target`` from then on. Return the target; LookupError when either is gone."""
        ...

    async def delete_tag(self, tag_id: int) -> Tag | None:
        """Delete a tag (posts lose it); return it, or None when there is no such tag."""
        ...


@runtime_checkable
class RedirectStore(Protocol):
    """Old addresses kept alive: a post's former slugs, and redirects people add."""

    async def post_moved_to(self, slug: str) -> Post | None:
        """The post that had this slug before a change of slug (its latest owner), or None.
        A slug a post has now is never an old one."""
        ...

    async def find_redirect(self, path: str) -> Redirect | None:
        """The redirect from exactly this path, or None."""
        ...

    async def list_redirects(self) -> list[Redirect]:
        """Every redirect, by path."""
        ...

    async def set_redirect(self, path: str, target: str) -> Redirect:
        """Add a redirect, or point an existing one elsewhere."""
        ...

    async def delete_redirect(self, path: str) -> bool:
        """Remove a redirect; whether there was one."""
        ...


@runtime_checkable
class SearchIndex(Protocol):
    """Full-text search over published posts and pages, kept in step with every write.

    The index holds a post's title, its text (its HTML as plain text) and its plugin fields
    declared ``searchable``; only what is visible now is ever found.
    """

    async def search_posts(
        self, query: SearchQuery, *, kind: Kind | None = None, limit: int = 20
    ) -> list[SearchHit]:
        """The best matches, best first (posts and pages, or one ``kind``)."""
        ...

    async def index_missing(self, *, limit: int = 200) -> int:
        """Index up to ``limit`` posts the index lacks (a site upgraded, or imported);
        return how many. Called until it returns 0."""
        ...


@runtime_checkable
class PublicationQueue(Protocol):
    """Who says "this post is now visible" (``post_published``), exactly once per post.

    Storage queues a post when it is published (now or for later); whoever claims it first,
    in any process on any host, announces it.
    """

    async def claim_due_publications(self, *, limit: int = 100) -> list[Post]:
        """Atomically take the queued posts whose time has come (by the database's clock)
        off the queue and return them: a post is returned to one caller only."""
        ...


@runtime_checkable
class MenuStore(Protocol):
    """The site's navigation menus (see :data:`MENUS`), shared by every worker and host."""

    async def get_menus(self) -> dict[str, list[MenuItem]]:
        """Every menu by name; a menu never saved is the default (``primary``: Home)."""
        ...

    async def set_menu(self, name: str, items: Sequence[MenuItem]) -> None:
        """Replace one menu's items."""


@runtime_checkable
class MediaLibrary(Protocol):
    """The media library's rows (the files are the image handler's)."""

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
        """The posts that use each of these content hashes, as their ``image`` or in their
        ``body`` (``media:<hash>``), as ``(post id, title)`` by id, in one query per batch;
        hashes no post uses are left out."""
        ...

    async def delete_media(self, media_id: int) -> Media | None:
        """Delete a media row if no post uses it (as ``media_usage`` counts), in one
        transaction; return the deleted row (its files are the caller's to remove), None
        when there is no such row, or raise MediaInUse naming the posts that use it
        (nothing changed then)."""
        ...


@runtime_checkable
class Storage(
    SchemaStore,
    PostStore,
    TagStore,
    PublicationQueue,
    RedirectStore,
    SearchIndex,
    MenuStore,
    UserStore,
    AttemptCounter,
    TokenStore,
    MediaLibrary,
    RevisionStore,
    PreviewLinks,
    TrashCan,
    Protocol,
):
    """Where posts and users live: every concern above, in one backend.

    Sign-in attempts are counted through :class:`AttemptCounter`, which a session store
    may implement too (Redis), so counting need not touch the database.
    """
