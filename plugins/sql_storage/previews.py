"""Preview links of drafts; mixed into ``SqlStorage``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from cms.contracts import Post, PostNotFound, PreviewLink

from .parts import StorageParts
from .times import aware

__all__ = ["PreviewQueries"]


class PreviewQueries(StorageParts):
    """``set_preview_link``, ``get_preview_link``, ``post_for_preview``,
    ``revoke_preview_link``."""

    async def set_preview_link(
        self, post_id: int, token: str, *, user_id: int | None
    ) -> PreviewLink:
        links, posts = self.schema.preview_links, self.schema.posts
        now = datetime.now(UTC)
        async with self._writing() as conn:
            exists = (await conn.execute(select(posts.c.id).where(posts.c.id == post_id))).first()
            if exists is None:
                raise PostNotFound(post_id)
            await conn.execute(delete(links).where(links.c.post_id == post_id))
            await conn.execute(
                links.insert().values(
                    post_id=post_id, token=token, created_at=now, created_by=user_id
                )
            )
        link = await self.get_preview_link(post_id)
        assert link is not None
        return link

    async def get_preview_link(self, post_id: int) -> PreviewLink | None:
        links, users = self.schema.preview_links, self.schema.users
        query = (
            select(links, users.c.username)
            .select_from(links.outerjoin(users, users.c.id == links.c.created_by))
            .where(links.c.post_id == post_id)
        )
        async with self._reading() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        data = row._mapping
        return PreviewLink(
            post_id=data["post_id"],
            token=data["token"],
            created_at=aware(data["created_at"]),
            created_by=data["username"],
        )

    async def post_for_preview(self, token: str) -> Post | None:
        links, posts = self.schema.preview_links, self.schema.posts
        query = self._post_select.where(
            posts.c.id == select(links.c.post_id).where(links.c.token == token).scalar_subquery()
        )
        async with self._reading() as conn:
            row = (await conn.execute(query)).first()
        return self._to_post(row) if row is not None else None

    async def revoke_preview_link(self, post_id: int) -> bool:
        links = self.schema.preview_links
        async with self._writing() as conn:
            result = await conn.execute(delete(links).where(links.c.post_id == post_id))
        return bool(result.rowcount)
