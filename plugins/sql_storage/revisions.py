"""Revisions of posts, kept in the transaction of the save that makes them; mixed into
``SqlStorage`` (``post_writes`` calls :meth:`RevisionQueries._keep_revision`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Post, Revision, RevisionNote, snapshot_of

from .parts import StorageParts
from .times import aware

__all__ = ["RevisionQueries"]


class RevisionQueries(StorageParts):
    """``list_revisions``, ``get_revision``."""

    async def _keep_revision(
        self, conn: AsyncConnection, post: Post, note: RevisionNote, user_id: int | None
    ) -> None:
        """Keep ``post`` as it is now as the post's next revision; drop those past
        ``note.keep``. The post's row is locked (or the write lock held) by the save."""
        revisions = self.schema.revisions
        last = (
            await conn.execute(
                select(func.max(revisions.c.number)).where(revisions.c.post_id == post.id)
            )
        ).scalar()
        number = (last or 0) + 1
        await conn.execute(
            revisions.insert().values(
                post_id=post.id,
                number=number,
                version=post.version,
                kind=note.kind,
                created_at=datetime.now(UTC),
                user_id=user_id,
                data=snapshot_of(post),
            )
        )
        if number > note.keep:
            await conn.execute(
                delete(revisions).where(
                    revisions.c.post_id == post.id, revisions.c.number <= number - note.keep
                )
            )

    def _revision_select(self) -> Any:
        revisions, users = self.schema.revisions, self.schema.users
        return select(revisions, users.c.username).select_from(
            revisions.outerjoin(users, users.c.id == revisions.c.user_id)
        )

    @staticmethod
    def _to_revision(row: Any) -> Revision:
        data = row._mapping
        return Revision(
            post_id=data["post_id"],
            number=data["number"],
            version=data["version"],
            kind=data["kind"],
            created_at=aware(data["created_at"]),
            user=data["username"],
            data=dict(data["data"]),
        )

    async def list_revisions(self, post_id: int) -> list[Revision]:
        revisions = self.schema.revisions
        query = (
            self._revision_select()
            .where(revisions.c.post_id == post_id)
            .order_by(revisions.c.number.desc())
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [self._to_revision(row) for row in rows]

    async def get_revision(self, post_id: int, number: int) -> Revision | None:
        revisions = self.schema.revisions
        query = self._revision_select().where(
            revisions.c.post_id == post_id, revisions.c.number == number
        )
        async with self._reading() as conn:
            row = (await conn.execute(query)).first()
        return self._to_revision(row) if row is not None else None
