"""The media library in SQL: the media half of the storage contract, mixed into ``SqlStorage``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Media, MediaInUse, Rendition, StoredImage

from .parts import StorageParts
from .times import aware

__all__ = ["MediaQueries", "renditions_from_json", "renditions_to_json"]

# Lookups by content hash go in batches of this many (a page of posts needs one batch).
_HASH_BATCH = 500


def renditions_to_json(renditions: Sequence[Rendition]) -> list[dict[str, Any]]:
    """Renditions as the ``renditions`` JSON column keeps them."""
    return [
        {
            "key": rendition.key,
            "width": rendition.width,
            "height": rendition.height,
            "format": rendition.format,
            "size": rendition.size,
        }
        for rendition in renditions
    ]


def renditions_from_json(value: Any) -> tuple[Rendition, ...]:
    """The ``renditions`` column back as records."""
    return tuple(
        Rendition(
            key=str(item["key"]),
            width=int(item["width"]),
            height=int(item["height"]),
            format=item["format"],
            size=int(item["size"]),
        )
        for item in value or ()
    )


class MediaQueries(StorageParts):
    """``create_media``, ``get_media``, ``find_media``, ``list_media``, ``update_media``,
    ``media_usage`` and ``delete_media`` on the ``cms_media`` table."""

    def _media_select(self) -> Select[Any]:
        media, users = self.schema.media, self.schema.users
        return select(media, users.c.username.label("uploader_name")).select_from(
            media.outerjoin(users, media.c.uploader_id == users.c.id)
        )

    @staticmethod
    def _to_media(row: Row[Any]) -> Media:
        data = row._mapping
        return Media(
            id=data["id"],
            content_hash=data["content_hash"],
            original_name=data["original_name"],
            width=data["width"],
            height=data["height"],
            format=data["format"],
            source=data["source"],
            renditions=renditions_from_json(data["renditions"]),
            created_at=aware(data["created_at"]),
            animated=bool(data["animated"]),
            uploader_id=data["uploader_id"],
            uploader=data["uploader_name"],
        )

    async def create_media(
        self, image: StoredImage, *, original_name: str, uploader_id: int | None
    ) -> Media:
        media = self.schema.media
        query = self._media_select()
        try:
            async with self._writing() as conn:
                existing = (
                    await conn.execute(query.where(media.c.content_hash == image.content_hash))
                ).first()
                if existing is not None:
                    return self._to_media(existing)
                new_id = (
                    await conn.execute(
                        media.insert()
                        .values(
                            content_hash=image.content_hash,
                            original_name=original_name[:255],
                            width=image.width,
                            height=image.height,
                            format=image.format,
                            animated=image.animated,
                            source=image.source,
                            renditions=renditions_to_json(image.renditions),
                            created_at=datetime.now(UTC),
                            uploader_id=uploader_id,
                        )
                        .returning(media.c.id)
                    )
                ).scalar_one()
                row = (await conn.execute(query.where(media.c.id == new_id))).one()
                return self._to_media(row)
        except IntegrityError:
            # Another upload of the same bytes won the race (PostgreSQL: no write lock up
            # front): theirs is the row.
            async with self._reading() as conn:
                row = (
                    await conn.execute(query.where(media.c.content_hash == image.content_hash))
                ).first()
            if row is None:
                raise
            return self._to_media(row)

    async def get_media(self, media_id: int) -> Media | None:
        media = self.schema.media
        async with self._reading() as conn:
            row = (await conn.execute(self._media_select().where(media.c.id == media_id))).first()
        return self._to_media(row) if row is not None else None

    async def find_media(self, content_hashes: Sequence[str]) -> list[Media]:
        media = self.schema.media
        wanted = sorted(set(content_hashes))
        found: list[Media] = []
        if not wanted:
            return found
        async with self._reading() as conn:
            for start in range(0, len(wanted), _HASH_BATCH):
                batch = wanted[start : start + _HASH_BATCH]
                rows = await conn.execute(
                    self._media_select().where(media.c.content_hash.in_(batch))
                )
                found.extend(self._to_media(row) for row in rows)
        return found

    async def list_media(
        self, *, after_id: int | None = None, limit: int = 100, newest_first: bool = False
    ) -> list[Media]:
        media = self.schema.media
        order = media.c.id.desc() if newest_first else media.c.id
        query = self._media_select().order_by(order).limit(limit)
        if after_id is not None:
            query = query.where(media.c.id < after_id if newest_first else media.c.id > after_id)
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [self._to_media(row) for row in rows]

    async def update_media(self, media_id: int, image: StoredImage) -> Media:
        media = self.schema.media
        async with self._writing() as conn:
            await conn.execute(
                media.update()
                .where(media.c.id == media_id)
                .values(
                    width=image.width,
                    height=image.height,
                    animated=image.animated,
                    source=image.source,
                    renditions=renditions_to_json(image.renditions),
                )
            )
            row = (await conn.execute(self._media_select().where(media.c.id == media_id))).first()
        if row is None:
            raise LookupError(f"no media with id {media_id}")
        return self._to_media(row)

    async def media_usage(self, content_hashes: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
        wanted = sorted(set(content_hashes))
        usage: dict[str, list[tuple[int, str]]] = {}
        if not wanted:
            return usage
        async with self._reading() as conn:
            for start in range(0, len(wanted), _HASH_BATCH):
                batch = wanted[start : start + _HASH_BATCH]
                for image, post_id, title in await self._users_of(conn, batch):
                    usage.setdefault(image, []).append((post_id, title))
        return usage

    async def _users_of(
        self, conn: AsyncConnection, content_hashes: Sequence[str]
    ) -> list[tuple[str, int, str]]:
        """``(hash, post id, title)`` for each post using one of the images: as its cover,
        or in its text as ``![alt](media:<hash>)`` (:mod:`.post_media`, an index lookup),
        by post id, each use once."""
        posts = self.schema.posts
        covers = await conn.execute(
            select(posts.c.image, posts.c.id, posts.c.title).where(
                posts.c.image.in_(content_hashes)
            )
        )
        uses = {(str(h), int(i), str(t)) for h, i, t in covers}
        uses.update(await self._posts_naming(conn, content_hashes))
        return sorted(uses, key=lambda use: (use[1], use[0]))

    async def delete_media(self, media_id: int) -> Media | None:
        media = self.schema.media
        async with self._writing() as conn:
            row = (
                await conn.execute(
                    self._media_select().where(media.c.id == media_id).with_for_update(of=media)
                )
            ).first()
            if row is None:
                return None
            found = self._to_media(row)
            # In the same transaction as the delete: a post that took the image since the
            # page was shown keeps it.
            used = await self._users_of(conn, [found.content_hash])
            if used:
                raise MediaInUse(found, [(post_id, title) for _, post_id, title in used])
            await conn.execute(media.delete().where(media.c.id == media_id))
        return found
