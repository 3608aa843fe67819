"""The publication queue, the navigation menus and when public reads next change by time;
mixed into ``SqlStorage``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, delete, func, select

from cms.contracts import MENUS, MenuItem, Post

from .parts import StorageParts
from .times import aware, database_now

__all__ = ["SiteState"]

#: A site whose menus were never saved shows these.
DEFAULT_MENUS: Mapping[str, tuple[MenuItem, ...]] = {
    "primary": (MenuItem(label="Home", url="/"),),
    "secondary": (),
}


class SiteState(StorageParts):
    """``claim_due_publications``, ``get_menus`` and ``set_menu``."""

    _menus_read: Select[Any]
    _due_read: Select[Any]

    def _build_site_state_reads(self) -> None:
        menus = self.schema.menus
        # Every page shows the menus: one short read, built once (see ``_read_rows``).
        self._menus_read = select(menus.c.name, menus.c["items"])
        queue = self.schema.publications
        self._due_read = (
            select(queue.c.post_id).where(queue.c.due_at <= database_now(self.is_sqlite)).limit(1)
        )

    async def next_visibility_change(self) -> datetime | None:
        posts = self.schema.posts
        soonest = select(func.min(posts.c.published_at)).where(
            posts.c.status == "published", posts.c.published_at > database_now(self.is_sqlite)
        )
        async with self._reading() as conn:
            found = (await conn.execute(soonest)).scalar()
        return aware(found) if isinstance(found, datetime) else None

    async def claim_due_publications(self, *, limit: int = 100) -> list[Post]:
        queue, posts = self.schema.publications, self.schema.posts
        # Every process asks every second: a read first, so nothing is written (and SQLite's
        # write lock is not taken) until a post is due.
        if not await self._read_rows(self._due_read):
            return []
        async with self._writing() as conn:
            due = (
                select(queue.c.post_id)
                .where(queue.c.due_at <= database_now(self.is_sqlite))
                .order_by(queue.c.due_at)
                .limit(limit)
            )
            # DELETE ... RETURNING: of writers racing for a row, one gets it back (the
            # others delete nothing), so each post is announced once.
            claimed = (
                (
                    await conn.execute(
                        delete(queue).where(queue.c.post_id.in_(due)).returning(queue.c.post_id)
                    )
                )
                .scalars()
                .all()
            )
            if not claimed:
                return []
            rows = (
                await conn.execute(
                    self._post_select.where(posts.c.id.in_(claimed)).order_by(
                        posts.c.published_at, posts.c.id
                    )
                )
            ).all()
        return [self._to_post(row) for row in rows]

    async def get_menus(self) -> dict[str, list[MenuItem]]:
        rows = await self._read_rows(self._menus_read)
        saved = {row["name"]: row["items"] for row in rows}
        menus: dict[str, list[MenuItem]] = {}
        for name in MENUS:
            items = saved.get(name)
            if items is None:
                menus[name] = list(DEFAULT_MENUS[name])
                continue
            if isinstance(items, str | bytes):  # JSON as text from the compiled reads
                items = json.loads(items)
            menus[name] = [MenuItem(label=item["label"], url=item["url"]) for item in items]
        return menus

    async def set_menu(self, name: str, items: Sequence[MenuItem]) -> None:
        if name not in MENUS:
            raise ValueError(f"there is no menu {name!r}; menus are {', '.join(MENUS)}")
        menus = self.schema.menus
        values = [{"label": item.label, "url": item.url} for item in items]
        async with self._writing() as conn:
            await conn.execute(delete(menus).where(menus.c.name == name))
            await conn.execute(
                menus.insert().values(name=name, items=values, updated_at=datetime.now(UTC))
            )
