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
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from cms import PostField

__all__ = ["Schema", "build_schema"]


@dataclass(frozen=True)
class Schema:
    metadata: MetaData
    users: Table
    posts: Table
    field_columns: tuple[str, ...]
    attempts: Table
    tokens: Table
    media: Table


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


def build_schema(fields: Iterable[PostField]) -> Schema:
    """The schema the core plus these plugin fields declare."""
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
        *(Column(field.name, _column_type(field), nullable=True) for field in field_list),
        # Keyset pagination of the public index: WHERE status = ? ORDER BY published_at, id.
        Index("ix_cms_posts_status_published", "status", "published_at", "id"),
        # The admin list: ORDER BY updated_at, id, optionally for one author.
        Index("ix_cms_posts_updated", "updated_at", "id"),
        Index("ix_cms_posts_author_updated", "author_id", "updated_at", "id"),
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
    return Schema(
        metadata,
        users,
        posts,
        tuple(field.name for field in field_list),
        attempts,
        tokens=tokens,
        media=media,
    )
