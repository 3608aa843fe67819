"""Old addresses kept alive: posts' former slugs and redirects people add; mixed into
``SqlStorage``. A post's slug history is written with the post (``post_writes``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.engine import Row

from cms.contracts import Post, Redirect

from .parts import StorageParts
from .times import aware

__all__ = ["RedirectQueries"]


class RedirectQueries(StorageParts):
    """``post_moved_to``, ``find_redirect``, ``list_redirects``, ``set_redirect``,
    ``delete_redirect``."""

    _old_slug_read: Select[Any]
    _redirect_read: Select[Any]

    def _build_redirect_reads(self) -> None:
        """Asked on a 404 only: built once all the same (see ``_read_rows``)."""
        old, posts = self.schema.old_slugs, self.schema.posts
        self._old_slug_read = self._post_select.where(
            posts.c.id
            == select(old.c.post_id).where(old.c.slug == bindparam("slug")).scalar_subquery()
        )
        redirects = self.schema.redirects
        self._redirect_read = select(redirects).where(redirects.c.path == bindparam("path"))

    async def post_moved_to(self, slug: str) -> Post | None:
        rows = await self._read_rows(self._old_slug_read, slug=slug)
        return self._to_post(rows[0]) if rows else None

    @staticmethod
    def _to_redirect(row: Any) -> Redirect:
        data = row._mapping if isinstance(row, Row) else row
        return Redirect(
            path=data["path"], target=data["target"], created_at=aware(data["created_at"])
        )

    async def find_redirect(self, path: str) -> Redirect | None:
        rows = await self._read_rows(self._redirect_read, path=path)
        return self._to_redirect(rows[0]) if rows else None

    async def list_redirects(self) -> list[Redirect]:
        redirects = self.schema.redirects
        async with self._reading() as conn:
            rows = (await conn.execute(select(redirects).order_by(redirects.c.path))).all()
        return [self._to_redirect(row) for row in rows]

    async def set_redirect(self, path: str, target: str) -> Redirect:
        redirects = self.schema.redirects
        now = datetime.now(UTC)
        async with self._writing() as conn:
            await conn.execute(delete(redirects).where(redirects.c.path == path))
            await conn.execute(redirects.insert().values(path=path, target=target, created_at=now))
        return Redirect(path=path, target=target, created_at=now)

    async def delete_redirect(self, path: str) -> bool:
        redirects = self.schema.redirects
        async with self._writing() as conn:
            result = await conn.execute(delete(redirects).where(redirects.c.path == path))
        return bool(result.rowcount)
