"""Writing posts: create, update and delete, with free slugs and version checks; mixed
into ``SqlStorage``."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Post, PostNotFound, VersionConflict

from .parts import StorageParts
from .times import aware

__all__ = ["PostWrites"]

_SLUG_ATTEMPTS = 5
_SLUG_LENGTH = 200
# pg_advisory_xact_lock(space, key) namespace for slug allocation (migrate uses 73110001).
_SLUG_LOCK_SPACE = 73110002
_CORE_WRITABLE = ("title", "body", "html", "status", "image")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PostWrites(StorageParts):
    """``create_post``, ``update_post`` and ``delete_post``."""

    _post_select: Select[Any]

    async def _free_slug(self, conn: AsyncConnection, base: str, exclude_id: int | None) -> str:
        """``base``, or the first of ``base-2``, ``base-3``... that no other post has; every
        candidate fits the column (a long base is shortened to make room for the number)."""
        posts = self.schema.posts
        length: int = getattr(posts.c.slug.type, "length", None) or _SLUG_LENGTH
        base = base[:length]

        def candidate(number: int) -> str:
            if number == 1:
                return base
            suffix = f"-{number}"
            return base[: length - len(suffix)].rstrip("-") + suffix

        # Every candidate up to a ten-character suffix starts with this.
        prefix = base[: length - 10].rstrip("-")
        if not self.is_sqlite:
            # Writers wanting the same slug take turns (SQLite writers already do: BEGIN
            # IMMEDIATE), so they do not all pick the same number and fail on the unique index.
            digest = hashlib.blake2b(prefix.encode(), digest_size=4).digest()
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, :key)"),
                {"space": _SLUG_LOCK_SPACE, "key": int.from_bytes(digest, "big", signed=True)},
            )
        query = select(posts.c.slug).where(posts.c.slug.startswith(prefix, autoescape=True))
        if exclude_id is not None:
            query = query.where(posts.c.id != exclude_id)
        taken = set((await conn.execute(query)).scalars())
        number = 1
        while candidate(number) in taken:
            number += 1
        return candidate(number)

    def _row_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        row = {key: values[key] for key in _CORE_WRITABLE if key in values}
        for name in self.schema.field_columns:
            if name in values:
                value = values[name]
                # SQLite keeps a datetime's wall-clock digits and drops the offset: store UTC
                # (a naive value counts as UTC), as PostgreSQL's timestamptz does.
                row[name] = aware(value)
        return row

    async def create_post(self, values: dict[str, Any], *, author_id: int | None) -> Post:
        posts = self.schema.posts

        async def insert(conn: AsyncConnection) -> Post:
            now = _utcnow()
            row = self._row_values(values)
            row.update(
                slug=await self._free_slug(conn, values["slug"], None),
                created_at=now,
                updated_at=now,
                published_at=now if values.get("status") == "published" else None,
                author_id=author_id,
                editor_id=author_id,
                version=1,
            )
            row.setdefault("html", "")
            row.setdefault("body", "")
            new_id = (
                await conn.execute(posts.insert().values(**row).returning(posts.c.id))
            ).scalar_one()
            result = (await conn.execute(self._post_select.where(posts.c.id == new_id))).one()
            return self._to_post(result)

        return await self._writing_with_free_slug(insert)

    async def update_post(
        self,
        post_id: int,
        values: dict[str, Any],
        *,
        editor_id: int | None,
        expected_version: int | None = None,
    ) -> Post:
        posts = self.schema.posts

        async def update(conn: AsyncConnection) -> Post:
            current = await self._lock_post(conn, post_id, expected_version)
            row = self._row_values(values)
            if "slug" in values:
                row["slug"] = await self._free_slug(conn, values["slug"], post_id)
            if row.get("status") == "published" and current.published_at is None:
                row["published_at"] = _utcnow()
            row.update(
                updated_at=max(_utcnow(), current.updated_at),
                editor_id=editor_id,
                version=current.version + 1,
            )
            updated = await conn.execute(
                posts.update()
                .where(posts.c.id == post_id, posts.c.version == current.version)
                .values(**row)
            )
            if updated.rowcount != 1:
                raise VersionConflict(current)
            result = (await conn.execute(self._post_select.where(posts.c.id == post_id))).one()
            return self._to_post(result)

        return await self._writing_with_free_slug(update)

    async def _writing_with_free_slug(
        self, write: Callable[[AsyncConnection], Awaitable[Post]]
    ) -> Post:
        """Run ``write`` in a write transaction; again when another writer took the slug it
        chose between its check and its write (the unique index says so), up to a few times."""
        for attempt in range(_SLUG_ATTEMPTS):
            try:
                async with self._writing() as conn:
                    return await write(conn)
            except IntegrityError:
                if attempt == _SLUG_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def delete_post(self, post_id: int, *, expected_version: int | None = None) -> Post:
        posts = self.schema.posts
        async with self._writing() as conn:
            post = await self._lock_post(conn, post_id, expected_version)
            await conn.execute(posts.delete().where(posts.c.id == post_id))
        return post

    async def _lock_post(
        self, conn: AsyncConnection, post_id: int, expected_version: int | None
    ) -> Post:
        """Read a post for change (row-locked on PostgreSQL; SQLite's write lock is held
        already) and check the version the caller based its change on."""
        posts = self.schema.posts
        row = (
            await conn.execute(
                self._post_select.where(posts.c.id == post_id).with_for_update(of=posts)
            )
        ).first()
        if row is None:
            raise PostNotFound(post_id)
        post = self._to_post(row)
        if expected_version is not None and expected_version != post.version:
            raise VersionConflict(post)
        return post
