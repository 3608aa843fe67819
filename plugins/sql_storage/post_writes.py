"""Writing posts: create, update and delete, with free slugs and version checks; mixed
into ``SqlStorage``."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Post, PostNotFound, RevisionNote, VersionConflict

from .parts import StorageParts
from .times import aware

__all__ = ["PostWrites"]

_SLUG_ATTEMPTS = 5
_SLUG_LENGTH = 200
# pg_advisory_xact_lock(space, key) namespace for slug allocation (migrate uses 73110001).
_SLUG_LOCK_SPACE = 73110002
_CORE_WRITABLE = ("title", "body", "html", "status", "image", "kind", "custom_excerpt")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PostWrites(StorageParts):
    """``create_post``, ``update_post`` and ``delete_post``."""

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
        if values.get("featured") is not None:
            row["featured"] = bool(values["featured"])
        if values.get("published_at") is not None:
            row["published_at"] = aware(values["published_at"])
        return row

    async def create_post(
        self,
        values: dict[str, Any],
        *,
        author_id: int | None,
        revision: RevisionNote | None = None,
    ) -> Post:
        posts = self.schema.posts

        async def insert(conn: AsyncConnection) -> Post:
            now = _utcnow()
            row = self._row_values(values)
            row.setdefault("published_at", now if values.get("status") == "published" else None)
            row.update(
                slug=await self._free_slug(conn, values["slug"], None),
                created_at=now,
                updated_at=now,
                author_id=author_id,
                editor_id=author_id,
                version=1,
            )
            row.setdefault("html", "")
            row.setdefault("body", "")
            new_id = (
                await conn.execute(posts.insert().values(**row).returning(posts.c.id))
            ).scalar_one()
            if values.get("tags"):
                await self._set_tags(conn, new_id, values["tags"])
            # A slug in use is nobody's old one: the new post wins its address.
            old_slugs = self.schema.old_slugs
            await conn.execute(delete(old_slugs).where(old_slugs.c.slug == row["slug"]))
            post = await self._reread(conn, new_id)
            await self._keep_listing(conn, post)
            await self.index_post(conn, post)
            if revision is not None:
                await self._keep_revision(conn, post, revision, author_id)
            return post

        return await self._writing_with_free_slug(insert)

    async def update_post(
        self,
        post_id: int,
        values: dict[str, Any],
        *,
        editor_id: int | None,
        expected_version: int | None = None,
        revision: RevisionNote | None = None,
    ) -> Post:
        posts = self.schema.posts

        async def update(conn: AsyncConnection) -> Post:
            current = await self._lock_post(conn, post_id, expected_version)
            row = self._row_values(values)
            if "slug" in values:
                row["slug"] = await self._free_slug(conn, values["slug"], post_id)
            if (
                row.get("status") == "published"
                and current.published_at is None
                and "published_at" not in row
            ):
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
            if values.get("tags") is not None:
                await self._set_tags(conn, post_id, values["tags"])
            if row.get("slug", current.slug) != current.slug:
                await self._remember_slug(conn, post_id, current.slug, row["slug"])
            post = await self._reread(conn, post_id)
            await self._keep_listing(conn, post)
            await self.index_post(conn, post)
            if revision is not None:
                await self._keep_revision(conn, post, revision, editor_id)
            return post

        return await self._writing_with_free_slug(update)

    async def _reread(self, conn: AsyncConnection, post_id: int) -> Post:
        posts = self.schema.posts
        return self._to_post(
            (await conn.execute(self._post_select.where(posts.c.id == post_id))).one()
        )

    async def _set_tags(
        self, conn: AsyncConnection, post_id: int, pairs: Sequence[tuple[str, str]]
    ) -> None:
        """Give the post exactly these tags, in order, creating those that do not exist.
        Two writers creating one tag at once: the second fails on the unique slug and
        :meth:`_writing_with_free_slug` runs its transaction again (finding the tag)."""
        tags, post_tags = self.schema.tags, self.schema.post_tags
        await conn.execute(delete(post_tags).where(post_tags.c.post_id == post_id))
        if not pairs:
            return
        slugs = [slug for _, slug in pairs]
        found = await conn.execute(select(tags.c.slug, tags.c.id).where(tags.c.slug.in_(slugs)))
        existing: dict[str, int] = {slug: tag_id for slug, tag_id in found}
        ids: list[int] = []
        for name, slug in pairs:
            tag_id = existing.get(slug)
            if tag_id is None:
                tag_id = (
                    await conn.execute(
                        tags.insert()
                        .values(name=name, slug=slug, created_at=_utcnow())
                        .returning(tags.c.id)
                    )
                ).scalar_one()
                existing[slug] = tag_id
                # A live tag's slug is no longer an old address of another tag.
                redirects = self.schema.tag_redirects
                await conn.execute(delete(redirects).where(redirects.c.slug == slug))
            if tag_id not in ids:
                ids.append(tag_id)
        await conn.execute(
            post_tags.insert(),
            [
                {"post_id": post_id, "tag_id": tag_id, "position": position}
                for position, tag_id in enumerate(ids)
            ],
        )

    async def _remember_slug(self, conn: AsyncConnection, post_id: int, old: str, new: str) -> None:
        """The post's former slug leads to it from now on (its latest owner wins); the slug
        it has now is nobody's old one any more."""
        old_slugs = self.schema.old_slugs
        await conn.execute(delete(old_slugs).where(old_slugs.c.slug.in_([old, new])))
        await conn.execute(old_slugs.insert().values(slug=old, post_id=post_id))

    async def _keep_listing(self, conn: AsyncConnection, post: Post) -> None:
        """After a write: the post's tag rows carry its publication time while it is a
        published post, and the publication queue holds it while its time is to come."""
        post_tags, queue = self.schema.post_tags, self.schema.publications
        published = post.status in ("published", "scheduled")
        listed_at = post.published_at if published and post.kind == "post" else None
        await conn.execute(
            update(post_tags).where(post_tags.c.post_id == post.id).values(listed_at=listed_at)
        )
        now = _utcnow()
        # A due row stays whatever happens: the post became visible, and its announcement
        # is owed (claim_due_publications makes it). A post visible from now on is announced
        # by its writer (cms.content.posts), so only a time to come is queued.
        await conn.execute(delete(queue).where(queue.c.post_id == post.id, queue.c.due_at > now))
        if post.status == "scheduled" and post.published_at is not None:
            await conn.execute(delete(queue).where(queue.c.post_id == post.id))
            await conn.execute(queue.insert().values(post_id=post.id, due_at=post.published_at))

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
            await self.unindex_post(conn, post_id)
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
