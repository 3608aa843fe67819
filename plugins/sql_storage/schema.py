"""Tables of posts, users, tokens and media; plugin fields are nullable columns of cms_posts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.sql import FromClause
from sqlalchemy.types import TypeEngine

from cms import PostField
from cms.contracts import Kind

__all__ = ["VISIBILITY_INDEX", "Schema", "build_schema"]


@dataclass(frozen=True)
class Schema:
    metadata: MetaData
    users: Table
    posts: Table
    field_columns: tuple[str, ...]
    attempts: Table
    tokens: Table
    media: Table
    tags: Table
    post_tags: Table
    tag_redirects: Table
    publications: Table
    menus: Table
    old_slugs: Table
    redirects: Table
    revisions: Table
    preview_links: Table
    #: Authors' unsaved editor forms (cms.contracts.autosaves).
    autosaves: Table
    #: The media library's images each post's text names (``media:<hash>``), by hash.
    post_media: Table
    trash: Table
    #: What imports from other systems brought, by source id (``cms import --from``).
    import_sources: Table
    #: PostgreSQL's search index (SQLite's is an FTS5 table the storage makes: see .search).
    search: Table | None = None


def _column_type(field: PostField) -> TypeEngine[Any]:
    if field.type is bool:
        return Boolean()
    if field.type is int:
        return BigInteger()
    if field.type is float:
        return Double()
    if field.type is datetime:
        return DateTime(timezone=True)
    return Text()


#: SQLite's index of what makes a post visible, by id (see ``.search``).
VISIBILITY_INDEX = "ix_cms_posts_visibility"


def build_schema(fields: Iterable[PostField], *, postgres: bool = False) -> Schema:
    """The schema the core plus these plugin fields declare (on PostgreSQL, with its
    full-text search table)."""
    metadata = MetaData()
    users = Table(
        "cms_users",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("username", String(150), nullable=False),
        # Lower-cased username: sign-in is case-insensitive and names are unique that way.
        Column("username_key", String(150), nullable=False, unique=True),
        Column("password_hash", String(255), nullable=False),
        Column("role", String(20), nullable=False),
        Column("is_active", Boolean, nullable=False, default=True),
        Column("session_generation", Integer, nullable=False, default=0),
        Column("created_at", DateTime(timezone=True), nullable=False),
        # What readers see of the user (added in 0.3: nullable, so old rows stay as they are).
        Column("display_name", String(150)),
        Column("bio", Text),
        Column("avatar", String(64)),
    )
    field_list = list(fields)
    posts = Table(
        "cms_posts",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("slug", String(200), nullable=False, unique=True),
        Column("title", String(300), nullable=False),
        Column("body", Text, nullable=False),
        Column("html", Text, nullable=False),
        Column("status", String(20), nullable=False),
        Column("published_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("author_id", Integer, ForeignKey("cms_users.id", ondelete="SET NULL")),
        Column("editor_id", Integer, ForeignKey("cms_users.id", ondelete="SET NULL")),
        Column("version", Integer, nullable=False, default=1),
        Column("image", String(500)),
        # Added in 0.3, with server defaults so rows of older releases get them on upgrade.
        Column("kind", String(10), nullable=False, server_default=text("'post'")),
        Column("featured", Boolean, nullable=False, server_default=false()),
        Column("custom_excerpt", Text),
        *(Column(field.name, _column_type(field), nullable=True) for field in field_list),
        # Keyset pagination of the public index: WHERE status = ? ORDER BY published_at, id.
        Index("ix_cms_posts_status_published", "status", "published_at", "id"),
        # The admin list: ORDER BY updated_at, id, optionally for one author.
        Index("ix_cms_posts_updated", "updated_at", "id"),
        Index("ix_cms_posts_author_updated", "author_id", "updated_at", "id"),
        # An author's page: their published posts by publication time.
        Index("ix_cms_posts_author_published", "author_id", "published_at", "id"),
        # Pages are few among many posts: partial indexes of pages alone serve their lists
        # (public and admin) without competing for the posts' queries, which never match them.
        Index(
            "ix_cms_posts_pages_published",
            "status",
            "published_at",
            "id",
            sqlite_where=text("kind = 'page'"),
            postgresql_where=text("kind = 'page'"),
        ),
        Index(
            "ix_cms_posts_pages_updated",
            "updated_at",
            "id",
            sqlite_where=text("kind = 'page'"),
            postgresql_where=text("kind = 'page'"),
        ),
        # SQLite: whether a post is visible, without reading its row (a row's columns are
        # read in order, `kind` after the text): what a search asks of each candidate.
        # PostgreSQL keeps long texts out of line, so its rows answer that cheaply.
        *([] if postgres else [Index(VISIBILITY_INDEX, "id", "status", "published_at", "kind")]),
    )
    tags = Table(
        "cms_tags",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(100), nullable=False),
        Column("slug", String(120), nullable=False, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    post_tags = Table(
        "cms_post_tags",
        metadata,
        Column(
            "post_id",
            Integer,
            ForeignKey("cms_posts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column(
            "tag_id",
            Integer,
            ForeignKey("cms_tags.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("position", Integer, nullable=False, default=0),
        # The post's published_at while it is a published post (not a page), else NULL:
        # a tag's page is one seek in (tag_id, listed_at, post_id), however many posts
        # the site has. Kept in step by every write of the post.
        Column("listed_at", DateTime(timezone=True)),
        Index("ix_cms_post_tags_listing", "tag_id", "listed_at", "post_id"),
    )
    tag_redirects = Table(
        "cms_tag_redirects",
        metadata,
        # The slug a tag had before a rename or a merge: /tags/{slug} answers 301.
        Column("slug", String(120), primary_key=True),
        Column("tag_id", Integer, ForeignKey("cms_tags.id", ondelete="CASCADE"), nullable=False),
    )
    publications = Table(
        "cms_publications",
        metadata,
        # A post to announce (post_published) once due_at has come: whoever deletes the row
        # announces it, so it is announced once whatever the number of workers and hosts.
        Column(
            "post_id",
            Integer,
            ForeignKey("cms_posts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("due_at", DateTime(timezone=True), nullable=False),
        Index("ix_cms_publications_due", "due_at"),
    )
    menus = Table(
        "cms_menus",
        metadata,
        Column("name", String(40), primary_key=True),
        # [{"label": ..., "url": ...}, ...] in order.
        Column("items", JSON, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    attempts = Table(
        "cms_attempts",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(200), nullable=False),
        Column("at", Double, nullable=False),
        Index("ix_cms_attempts_key_at", "key", "at"),
    )
    tokens = Table(
        "cms_tokens",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", Integer, ForeignKey("cms_users.id", ondelete="CASCADE"), nullable=False),
        # Hex SHA-256 of the secret: looked up by equality, so it needs no salt
        # (see cms.content.tokens).
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("prefix", String(16), nullable=False),
        Column("label", String(100), nullable=False, default=""),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True)),
        Column("last_used_at", DateTime(timezone=True)),
        Column("revoked_at", DateTime(timezone=True)),
        Index("ix_cms_tokens_user", "user_id", "id"),
    )
    media = Table(
        "cms_media",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        # Hex SHA-256 of the uploaded bytes: what a post's image names; uploads of the same
        # bytes share one row.
        Column("content_hash", String(64), nullable=False, unique=True),
        # What the uploader called the file: information only, never a stored file's name.
        Column("original_name", String(255), nullable=False, default=""),
        Column("width", Integer, nullable=False),
        Column("height", Integer, nullable=False),
        Column("format", String(10), nullable=False),
        Column("animated", Boolean, nullable=False, default=False),
        # The media store key of the full-size copy without metadata (rebuilds start there).
        Column("source", String(300), nullable=False),
        # [{"key", "width", "height", "format", "size"}, ...]
        Column("renditions", JSON, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("uploader_id", Integer, ForeignKey("cms_users.id", ondelete="SET NULL")),
    )
    old_slugs = Table(
        "cms_old_slugs",
        metadata,
        # A slug a post had before a change: /posts/{slug} (or /{slug}) answers 301.
        Column("slug", String(200), primary_key=True),
        Column("post_id", Integer, ForeignKey("cms_posts.id", ondelete="CASCADE"), nullable=False),
        Index("ix_cms_old_slugs_post", "post_id"),
    )
    redirects = Table(
        "cms_redirects",
        metadata,
        Column("path", String(500), primary_key=True),
        Column("target", String(1000), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    revisions = Table(
        "cms_post_revisions",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("post_id", Integer, ForeignKey("cms_posts.id", ondelete="CASCADE"), nullable=False),
        # 1, 2, ... per post, never reused (the oldest are dropped past [revisions] keep).
        Column("number", Integer, nullable=False),
        Column("version", Integer, nullable=False),
        Column("kind", String(10), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("user_id", Integer, ForeignKey("cms_users.id", ondelete="SET NULL")),
        # cms.contracts.snapshot_of: the core fields and the plugin fields, in JSON types.
        Column("data", JSON, nullable=False),
        UniqueConstraint("post_id", "number", name="uq_cms_post_revisions_number"),
    )
    preview_links = Table(
        "cms_preview_links",
        metadata,
        Column(
            "post_id", Integer, ForeignKey("cms_posts.id", ondelete="CASCADE"), primary_key=True
        ),
        # The secret of the address /preview/{token} (a read capability for one draft).
        Column("token", String(64), nullable=False, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("created_by", Integer, ForeignKey("cms_users.id", ondelete="SET NULL")),
    )
    post_media = Table(
        "cms_post_media",
        metadata,
        Column(
            "post_id", Integer, ForeignKey("cms_posts.id", ondelete="CASCADE"), primary_key=True
        ),
        Column("content_hash", String(64), primary_key=True),
        Index("ix_cms_post_media_hash", "content_hash"),
    )
    autosaves = Table(
        "cms_autosaves",
        metadata,
        Column(
            "user_id", Integer, ForeignKey("cms_users.id", ondelete="CASCADE"), primary_key=True
        ),
        # "post:<id>", or "new:post" / "new:page" before the first save.
        Column("slot", String(40), primary_key=True),
        Column("post_id", Integer, ForeignKey("cms_posts.id", ondelete="CASCADE")),
        Column("kind", String(10), nullable=False),
        Column("base_version", Integer),
        Column("saved_at", DateTime(timezone=True), nullable=False),
        # The editor form's values, as text (title, body, tags..., plugin fields).
        Column("data", JSON, nullable=False),
    )
    trash = Table(
        "cms_trash",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("post_id", Integer, nullable=False),
        Column("kind", String(10), nullable=False),
        Column("title", String(300), nullable=False),
        Column("slug", String(200), nullable=False),
        Column("status", String(20), nullable=False),
        Column("trashed_at", DateTime(timezone=True), nullable=False),
        Column("trashed_by", Integer, ForeignKey("cms_users.id", ondelete="SET NULL")),
        # The post's row, tags, revisions and old slugs (cms.plugins.sql_storage.trash).
        Column("data", JSON, nullable=False),
        Index("ix_cms_trash_trashed_at", "trashed_at"),
    )
    import_sources = Table(
        "cms_import_sources",
        metadata,
        # "wordpress:<site address>" or "ghost": ids are unique within a source.
        Column("source", String(300), primary_key=True),
        # "post" (posts and pages) or "user".
        Column("kind", String(20), primary_key=True),
        Column("source_id", String(100), primary_key=True),
        Column("local_id", Integer, nullable=False),
        Column("imported_at", DateTime(timezone=True), nullable=False),
    )
    search = None
    if postgres:
        search = Table(
            "cms_search",
            metadata,
            Column(
                "post_id", Integer, ForeignKey("cms_posts.id", ondelete="CASCADE"), primary_key=True
            ),
            # The post's plain text and searchable fields, for ts_headline's snippets.
            Column("body", Text, nullable=False),
            Column("extra", Text, nullable=False),
            # Title (weight A), text (B) and searchable plugin fields (C).
            Column("document", TSVECTOR, nullable=False),
            Index("ix_cms_search_document", "document", postgresql_using="gin"),
        )
    return Schema(
        metadata,
        users,
        posts,
        tuple(field.name for field in field_list),
        attempts,
        tokens=tokens,
        media=media,
        tags=tags,
        post_tags=post_tags,
        tag_redirects=tag_redirects,
        publications=publications,
        menus=menus,
        old_slugs=old_slugs,
        redirects=redirects,
        revisions=revisions,
        preview_links=preview_links,
        autosaves=autosaves,
        post_media=post_media,
        trash=trash,
        import_sources=import_sources,
        search=search,
    )


def is_kind(posts: FromClause, kind: Kind) -> ColumnElement[bool]:
    """``kind = 'page'`` written out, not bound: a query for pages can then use the partial
    indexes of pages (``WHERE kind = 'page'``), which a bound value would not prove, and
    SQLite does not compile the statement again on every run to find out whether the
    value does (a bound value compared where a partial index's ``WHERE`` could hold)."""
    if kind not in ("post", "page"):
        raise ValueError(f"no such kind: {kind!r}")
    return posts.c.kind == literal_column(f"'{kind}'")
