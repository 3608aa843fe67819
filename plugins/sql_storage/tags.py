"""Tags in SQL: counted listings, renames and merges that keep old addresses; mixed into
``SqlStorage``. A post's own tags are read with the post (``post_reads``) and written
with it (``post_writes``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, literal, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Tag

from .parts import StorageParts
from .times import database_now

__all__ = ["TagQueries"]


class TagQueries(StorageParts):
    """``list_tags``, ``get_tag``, ``tag_moved_to``, ``rename_tag``, ``merge_tags``,
    ``delete_tag``."""

    _tag_list: Select[Any]
    _tag_names: Select[Any]
    _tag_by_slug: Select[Any]

    def _build_tag_reads(self) -> None:
        """The public reads (``/tags``, ``/tags/{slug}``), built once: see ``_read_rows``."""
        tags = self.schema.tags
        self._tag_list = self._counted_tags().order_by(tags.c.name, tags.c.id)
        self._tag_names = select(
            tags.c.id, tags.c.name, tags.c.slug, literal(0).label("count")
        ).order_by(tags.c.name, tags.c.id)
        # A tag's page asks for the tag on every request: by its unique slug, not counted
        # (a count reads every post of the tag, which grows with the site).
        self._tag_by_slug = select(
            tags.c.id, tags.c.name, tags.c.slug, literal(0).label("count")
        ).where(tags.c.slug == bindparam("slug"))

    def _counted_tags(self) -> Select[Any]:
        """Tags with the number of their published posts (listed_at has come)."""
        tags, post_tags = self.schema.tags, self.schema.post_tags
        published = func.count(post_tags.c.post_id).label("count")
        return (
            select(tags.c.id, tags.c.name, tags.c.slug, published)
            .select_from(
                tags.outerjoin(
                    post_tags,
                    (post_tags.c.tag_id == tags.c.id)
                    & post_tags.c.listed_at.is_not(None)
                    & (post_tags.c.listed_at <= database_now(self.is_sqlite)),
                )
            )
            .group_by(tags.c.id, tags.c.name, tags.c.slug)
        )

    @staticmethod
    def _to_tag(row: Row[Any] | Mapping[str, Any]) -> Tag:
        data = row._mapping if isinstance(row, Row) else row
        return Tag(id=data["id"], name=data["name"], slug=data["slug"], count=int(data["count"]))

    async def list_tags(self, *, counted: bool = True) -> list[Tag]:
        statement = self._tag_list if counted else self._tag_names
        return [self._to_tag(row) for row in await self._read_rows(statement)]

    async def get_tag(self, slug: str) -> Tag | None:
        rows = await self._read_rows(self._tag_by_slug, slug=slug)
        return self._to_tag(rows[0]) if rows else None

    async def get_tag_by_id(self, tag_id: int) -> Tag | None:
        async with self._reading() as conn:
            return await self._one_tag(conn, self.schema.tags.c.id == tag_id)

    async def _one_tag(self, conn: AsyncConnection, condition: Any) -> Tag | None:
        row = (await conn.execute(self._counted_tags().where(condition))).first()
        return None if row is None else self._to_tag(row)

    async def tag_moved_to(self, slug: str) -> Tag | None:
        redirects = self.schema.tag_redirects
        async with self._reading() as conn:
            tag_id = (
                await conn.execute(select(redirects.c.tag_id).where(redirects.c.slug == slug))
            ).scalar()
            if tag_id is None:
                return None
            return await self._one_tag(conn, self.schema.tags.c.id == tag_id)

    async def rename_tag(self, tag_id: int, name: str, slug: str) -> Tag:
        tags, redirects = self.schema.tags, self.schema.tag_redirects
        try:
            async with self._writing() as conn:
                current = await self._one_tag(conn, tags.c.id == tag_id)
                if current is None:
                    raise LookupError(tag_id)
                if slug != current.slug:
                    taken = (
                        await conn.execute(select(tags.c.id).where(tags.c.slug == slug))
                    ).first()
                    if taken is not None:
                        raise ValueError(f"another tag has the slug {slug!r}")
                    # The new slug is live now; the old one leads here from now on.
                    await conn.execute(delete(redirects).where(redirects.c.slug == slug))
                    await conn.execute(redirects.insert().values(slug=current.slug, tag_id=tag_id))
                await conn.execute(
                    update(tags).where(tags.c.id == tag_id).values(name=name, slug=slug)
                )
                renamed = await self._one_tag(conn, tags.c.id == tag_id)
        except IntegrityError:  # another writer took the slug meanwhile
            raise ValueError(f"another tag has the slug {slug!r}") from None
        assert renamed is not None
        return renamed

    async def merge_tags(self, source_id: int, target_id: int) -> Tag:
        if source_id == target_id:
            raise ValueError("a tag cannot be merged into itself")
        tags, post_tags, redirects = (
            self.schema.tags,
            self.schema.post_tags,
            self.schema.tag_redirects,
        )
        async with self._writing() as conn:
            source = await self._one_tag(conn, tags.c.id == source_id)
            target = await self._one_tag(conn, tags.c.id == target_id)
            if source is None or target is None:
                raise LookupError(source_id if source is None else target_id)
            # Posts carrying both keep one row (the target's); the others move over.
            both = select(post_tags.c.post_id).where(post_tags.c.tag_id == target_id)
            await conn.execute(
                delete(post_tags).where(
                    post_tags.c.tag_id == source_id, post_tags.c.post_id.in_(both)
                )
            )
            await conn.execute(
                update(post_tags).where(post_tags.c.tag_id == source_id).values(tag_id=target_id)
            )
            await conn.execute(
                update(redirects).where(redirects.c.tag_id == source_id).values(tag_id=target_id)
            )
            await conn.execute(delete(tags).where(tags.c.id == source_id))
            await conn.execute(redirects.insert().values(slug=source.slug, tag_id=target_id))
            merged = await self._one_tag(conn, tags.c.id == target_id)
        assert merged is not None
        return merged

    async def delete_tag(self, tag_id: int) -> Tag | None:
        tags, post_tags = self.schema.tags, self.schema.post_tags
        async with self._writing() as conn:
            tag = await self._one_tag(conn, tags.c.id == tag_id)
            if tag is None:
                return None
            # Explicit, so SQLite without foreign keys enforced loses no track either.
            await conn.execute(delete(post_tags).where(post_tags.c.tag_id == tag_id))
            redirects = self.schema.tag_redirects
            await conn.execute(delete(redirects).where(redirects.c.tag_id == tag_id))
            await conn.execute(delete(tags).where(tags.c.id == tag_id))
        return tag
