"""The trash; mixed into ``SqlStorage``. A trashed post's row leaves ``cms_posts`` (so no
read anywhere has to leave it out), and its row, tags, revisions and old slugs are kept as
JSON in its ``cms_trash`` entry, from which a restore writes them back."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, Numeric, Table, Time, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Post, PostNotFound, TrashedPost

from .parts import StorageParts
from .times import aware

__all__ = ["TrashQueries"]


def _to_json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime | date | time):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[key] = value
    return out


def _from_json(table: Table, data: dict[str, Any]) -> dict[str, Any]:
    """A row as :func:`_to_json` kept it, in its columns' types (columns since dropped are
    left out)."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in data:
            continue
        value = data[column.name]
        if isinstance(value, str):
            if isinstance(column.type, DateTime):
                value = aware(datetime.fromisoformat(value))
            elif isinstance(column.type, Date):
                value = date.fromisoformat(value)
            elif isinstance(column.type, Time):
                value = time.fromisoformat(value)
            elif isinstance(column.type, Numeric):
                value = Decimal(value)
        row[column.name] = value
    return row


class TrashQueries(StorageParts):
    """``trash_post``, ``list_trash``, ``restore_trashed``, ``empty_trash``."""

    async def trash_post(
        self, post_id: int, *, expected_version: int | None = None, user_id: int | None = None
    ) -> Post:
        posts, revisions, old_slugs = (
            self.schema.posts,
            self.schema.revisions,
            self.schema.old_slugs,
        )
        async with self._writing() as conn:
            post = await self._lock_post(conn, post_id, expected_version)
            row = (await conn.execute(select(posts).where(posts.c.id == post_id))).one()
            kept = (
                await conn.execute(
                    select(revisions)
                    .where(revisions.c.post_id == post_id)
                    .order_by(revisions.c.number)
                )
            ).all()
            slugs = (
                await conn.execute(select(old_slugs.c.slug).where(old_slugs.c.post_id == post_id))
            ).scalars()
            data = {
                "post": _to_json(dict(row._mapping)),
                "tags": [[tag.name, tag.slug] for tag in post.tags],
                "revisions": [_to_json(dict(r._mapping)) for r in kept],
                "old_slugs": list(slugs),
            }
            await conn.execute(posts.delete().where(posts.c.id == post_id))
            await self.unindex_post(conn, post_id)
            await conn.execute(
                self.schema.trash.insert().values(
                    post_id=post.id,
                    kind=post.kind,
                    title=post.title,
                    slug=post.slug,
                    status=post.status,
                    trashed_at=datetime.now(UTC),
                    trashed_by=user_id,
                    data=data,
                )
            )
        return post

    async def list_trash(self) -> list[TrashedPost]:
        trash, users = self.schema.trash, self.schema.users
        query = (
            select(
                trash.c.id,
                trash.c.post_id,
                trash.c.kind,
                trash.c.title,
                trash.c.slug,
                trash.c.status,
                trash.c.trashed_at,
                users.c.username,
            )
            .select_from(trash.outerjoin(users, users.c.id == trash.c.trashed_by))
            .order_by(trash.c.trashed_at.desc(), trash.c.id.desc())
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [
            TrashedPost(
                id=row.id,
                post_id=row.post_id,
                kind=row.kind,
                title=row.title,
                slug=row.slug,
                status=row.status,
                trashed_at=aware(row.trashed_at),
                trashed_by=row.username,
            )
            for row in rows
        ]

    async def restore_trashed(self, trash_id: int) -> Post:
        posts, trash = self.schema.posts, self.schema.trash
        async with self._writing() as conn:
            entry = (await conn.execute(select(trash).where(trash.c.id == trash_id))).first()
            if entry is None:
                raise PostNotFound(trash_id)
            data = entry.data
            row = _from_json(posts, data["post"])
            taken = await conn.execute(select(posts.c.id).where(posts.c.id == row["id"]))
            if taken.first() is not None:
                del row["id"]  # a new post has its id now: this one comes back under another
            row["slug"] = await self._free_slug(conn, row["slug"], None)
            post_id = (
                await conn.execute(posts.insert().values(**row).returning(posts.c.id))
            ).scalar_one()
            if data["tags"]:
                await self._set_tags(conn, post_id, [(name, slug) for name, slug in data["tags"]])
            await self._bring_back(conn, post_id, data)
            await conn.execute(delete(trash).where(trash.c.id == trash_id))
            post = await self._reread(conn, post_id)
            await self._keep_listing(conn, post)
            await self.index_post(conn, post)
        return post

    async def _bring_back(self, conn: AsyncConnection, post_id: int, data: dict[str, Any]) -> None:
        """The trashed post's revisions and its old slugs no other post took meanwhile."""
        revisions, old_slugs, posts = (
            self.schema.revisions,
            self.schema.old_slugs,
            self.schema.posts,
        )
        for kept in data["revisions"]:
            values = _from_json(revisions, kept)
            values.pop("id", None)
            values["post_id"] = post_id
            await conn.execute(revisions.insert().values(**values))
        for slug in data["old_slugs"]:
            used = await conn.execute(select(old_slugs.c.slug).where(old_slugs.c.slug == slug))
            live = await conn.execute(select(posts.c.id).where(posts.c.slug == slug))
            if used.first() is None and live.first() is None:
                await conn.execute(old_slugs.insert().values(slug=slug, post_id=post_id))

    async def empty_trash(
        self, *, before: datetime | None = None, trash_id: int | None = None
    ) -> int:
        trash = self.schema.trash
        statement = delete(trash)
        if trash_id is not None:
            statement = statement.where(trash.c.id == trash_id)
        if before is not None:
            statement = statement.where(trash.c.trashed_at < before)
        async with self._writing() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount or 0)
