"""Authors' autosaves (``cms.contracts.Autosaves``); mixed into ``SqlStorage``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, select

from cms.contracts import Autosave, Kind, PostNotFound

from .parts import StorageParts
from .times import aware

__all__ = ["AutosaveQueries"]


class AutosaveQueries(StorageParts):
    """``put_autosave``, ``get_autosave``, ``delete_autosave``."""

    async def put_autosave(
        self,
        user_id: int,
        slot: str,
        *,
        post_id: int | None,
        kind: Kind,
        base_version: int | None,
        data: dict[str, Any],
    ) -> Autosave:
        table, posts = self.schema.autosaves, self.schema.posts
        now = datetime.now(UTC)
        async with self._writing() as conn:
            if post_id is not None:
                found = (
                    await conn.execute(select(posts.c.id).where(posts.c.id == post_id))
                ).first()
                if found is None:
                    raise PostNotFound(post_id)
            # Replace: one autosave per author and slot (no upsert dialect needed).
            await conn.execute(delete(table).where(_slot(table, user_id, slot)))
            await conn.execute(
                table.insert().values(
                    user_id=user_id,
                    slot=slot,
                    post_id=post_id,
                    kind=kind,
                    base_version=base_version,
                    saved_at=now,
                    data=data,
                )
            )
        return Autosave(user_id, slot, post_id, kind, base_version, now, dict(data))

    async def get_autosave(self, user_id: int, slot: str) -> Autosave | None:
        table = self.schema.autosaves
        async with self._reading() as conn:
            row = (await conn.execute(select(table).where(_slot(table, user_id, slot)))).first()
        if row is None:
            return None
        saved_at = aware(row.saved_at)
        assert saved_at is not None
        return Autosave(
            user_id=row.user_id,
            slot=row.slot,
            post_id=row.post_id,
            kind=row.kind,
            base_version=row.base_version,
            saved_at=saved_at,
            data=dict(row.data),
        )

    async def delete_autosave(self, user_id: int, slot: str) -> bool:
        table = self.schema.autosaves
        async with self._writing() as conn:
            result = await conn.execute(delete(table).where(_slot(table, user_id, slot)))
        return bool(result.rowcount)


def _slot(table: Any, user_id: int, slot: str) -> Any:
    return and_(table.c.user_id == user_id, table.c.slot == slot)
