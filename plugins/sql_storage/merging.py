"""Imports into a site with content (``cms import --from``), in one transaction: the
``ImportTarget`` capability, mixed into ``SqlStorage``.

Posts go in by batches (one INSERT of many rows, their tags and listing rows after), so
ten thousand posts are a few hundred statements rather than a hundred thousand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import ImportWriter, Role, StoredImage

from .media_rows import renditions_to_json
from .parts import StorageParts
from .times import aware

__all__ = ["ImportMerging"]

# Rows per statement: well under SQLite's limit of bound parameters in one IN (...).
_CHUNK = 400
_CORE = ("title", "body", "html", "status", "image", "kind", "custom_excerpt")
# Taken by the import while it reads what is there and writes: nobody else writes them in
# between (reads go on). SQLite's BEGIN IMMEDIATE holds its write lock already.
_LOCKED = "cms_posts, cms_tags, cms_users, cms_media, cms_redirects, cms_import_sources"


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[start : start + _CHUNK] for start in range(0, len(items), _CHUNK)]


class _Writer:
    def __init__(self, storage: ImportMerging, conn: AsyncConnection) -> None:
        self._storage = storage
        self._conn = conn
        self._schema = storage.schema

    async def known_sources(self, source: str) -> dict[tuple[str, str], int]:
        table = self._schema.import_sources
        rows = await self._conn.execute(
            select(table.c.kind, table.c.source_id, table.c.local_id).where(
                table.c.source == source
            )
        )
        return {(kind, source_id): local_id for kind, source_id, local_id in rows}

    async def taken_slugs(self) -> set[str]:
        posts = self._schema.posts
        return set((await self._conn.execute(select(posts.c.slug))).scalars())

    async def users_by_key(self) -> dict[str, int]:
        users = self._schema.users
        rows = await self._conn.execute(select(users.c.username_key, users.c.id))
        return {key: user_id for key, user_id in rows}

    async def add_user(
        self, username: str, *, role: Role, display_name: str | None, password_hash: str
    ) -> int:
        users = self._schema.users
        statement = (
            users.insert()
            .values(
                username=username,
                username_key=username.lower(),
                password_hash=password_hash,
                role=role,
                is_active=True,
                session_generation=0,
                created_at=datetime.now(UTC),
                display_name=display_name,
            )
            .returning(users.c.id)
        )
        return int((await self._conn.execute(statement)).scalar_one())

    async def add_media(self, image: StoredImage, *, original_name: str) -> str:
        media = self._schema.media
        found = await self._conn.execute(
            select(media.c.id).where(media.c.content_hash == image.content_hash)
        )
        if found.first() is None:
            await self._conn.execute(
                media.insert().values(
                    content_hash=image.content_hash,
                    original_name=original_name[:255],
                    width=image.width,
                    height=image.height,
                    format=image.format,
                    animated=image.animated,
                    source=image.source,
                    renditions=renditions_to_json(image.renditions),
                    created_at=datetime.now(UTC),
                    uploader_id=None,
                )
            )
        return image.content_hash

    def _row(self, values: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {key: values.get(key) for key in _CORE}
        for name in self._schema.field_columns:
            row[name] = aware(values.get(name))
        row.update(
            slug=values["slug"],
            featured=bool(values.get("featured")),
            published_at=aware(values.get("published_at")),
            created_at=aware(values["created_at"]),
            updated_at=aware(values["updated_at"]),
            author_id=values.get("author_id"),
            editor_id=values.get("author_id"),
            version=1,
        )
        row["kind"] = row["kind"] or "post"
        return row

    async def add_posts(self, posts: Sequence[dict[str, Any]]) -> list[int]:
        if not posts:
            return []
        table = self._schema.posts
        rows = [self._row(values) for values in posts]
        result = await self._conn.execute(
            table.insert().returning(table.c.id, sort_by_parameter_order=True), rows
        )
        ids = [int(new_id) for new_id in result.scalars()]
        old_slugs = self._schema.old_slugs
        for chunk in _chunks([row["slug"] for row in rows]):
            # A slug in use is nobody's old one: the new post wins its address.
            await self._conn.execute(delete(old_slugs).where(old_slugs.c.slug.in_(chunk)))
        await self._tag(ids, posts, rows)
        await self._queue(ids, rows)
        for chunk in _chunks(ids):
            found = await self._conn.execute(
                self._storage._post_select.where(table.c.id.in_(chunk))
            )
            for row in found:
                await self._storage.index_post(self._conn, self._storage._to_post(row))
        return ids

    async def _tag(
        self, ids: list[int], posts: Sequence[dict[str, Any]], rows: list[dict[str, Any]]
    ) -> None:
        tags, post_tags = self._schema.tags, self._schema.post_tags
        names: dict[str, str] = {}
        for values in posts:
            for name, slug in values.get("tags") or ():
                names.setdefault(slug, name)
        if not names:
            return
        tag_ids: dict[str, int] = {}
        for chunk in _chunks(list(names)):
            found = await self._conn.execute(
                select(tags.c.slug, tags.c.id).where(tags.c.slug.in_(chunk))
            )
            tag_ids.update({slug: tag_id for slug, tag_id in found})
        missing = [slug for slug in names if slug not in tag_ids]
        if missing:
            now = datetime.now(UTC)
            result = await self._conn.execute(
                tags.insert().returning(tags.c.id, sort_by_parameter_order=True),
                [{"name": names[slug], "slug": slug, "created_at": now} for slug in missing],
            )
            tag_ids.update(zip(missing, result.scalars(), strict=True))
            redirects = self._schema.tag_redirects
            for chunk in _chunks(missing):
                # A live tag's slug is no longer an old address of another tag.
                await self._conn.execute(delete(redirects).where(redirects.c.slug.in_(chunk)))
        links: list[dict[str, Any]] = []
        for post_id, values, row in zip(ids, posts, rows, strict=True):
            listed = row["status"] == "published" and row["kind"] == "post"
            seen: set[int] = set()
            for name, slug in values.get("tags") or ():
                del name
                tag_id = tag_ids[slug]
                if tag_id in seen:
                    continue
                seen.add(tag_id)
                links.append(
                    {
                        "post_id": post_id,
                        "tag_id": tag_id,
                        "position": len(seen) - 1,
                        "listed_at": row["published_at"] if listed else None,
                    }
                )
        if links:
            await self._conn.execute(post_tags.insert(), links)

    async def _queue(self, ids: list[int], rows: list[dict[str, Any]]) -> None:
        """Scheduled posts wait in the publication queue, as a post saved so would."""
        now = datetime.now(UTC)
        due = [
            {"post_id": post_id, "due_at": row["published_at"]}
            for post_id, row in zip(ids, rows, strict=True)
            if row["status"] == "published" and row["published_at"] and row["published_at"] > now
        ]
        if due:
            await self._conn.execute(self._schema.publications.insert(), due)

    async def set_redirects(self, redirects: Sequence[tuple[str, str]]) -> None:
        table = self._schema.redirects
        unique = dict(redirects)
        if not unique:
            return
        for chunk in _chunks(list(unique)):
            await self._conn.execute(delete(table).where(table.c.path.in_(chunk)))
        now = datetime.now(UTC)
        await self._conn.execute(
            table.insert(),
            [
                {"path": path, "target": target, "created_at": now}
                for path, target in unique.items()
            ],
        )

    async def remember_sources(
        self, source: str, items: Sequence[tuple[str, str, int]], *, when: datetime
    ) -> None:
        if items:
            await self._conn.execute(
                self._schema.import_sources.insert(),
                [
                    {
                        "source": source,
                        "kind": kind,
                        "source_id": source_id,
                        "local_id": local_id,
                        "imported_at": aware(when),
                    }
                    for kind, source_id, local_id in items
                ],
            )


class ImportMerging(StorageParts):
    """``merging()``: the ``ImportTarget`` capability."""

    @asynccontextmanager
    async def merging(self) -> AsyncIterator[ImportWriter]:
        async with self._writing() as conn:
            if not self.is_sqlite:
                # Long imports: no statement timeout; nobody else writes these meanwhile.
                await conn.execute(text("SET LOCAL statement_timeout = 0"))
                await conn.execute(text(f"LOCK TABLE {_LOCKED} IN SHARE ROW EXCLUSIVE MODE"))
            yield _Writer(self, conn)
