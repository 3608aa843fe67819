"""Which posts name which images of the media library in their text (``![alt](media:<hash>)``),
kept with every write of a post; mixed into ``SqlStorage``.

The media library asks it before deleting an image and to show where each is used: an
indexed lookup by hash, where reading every post's text for the hashes took 2 s per image
and 20 s per library page at 100,000 posts.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Post, media_in_text

from .parts import StorageParts

__all__ = ["PostMediaUses"]


class PostMediaUses(StorageParts):
    """``index_post`` (what every write of a post derives from its text), and
    ``_posts_naming`` for the media library."""

    async def index_post(self, conn: AsyncConnection, post: Post) -> None:
        """Write what is derived from the post's text, in the caller's transaction: its
        search index row (:mod:`.search`), and the media library's images its text names.
        Every write of a post calls it, and ``index_missing`` for posts that came in bulk
        (an import)."""
        await self._index_text(conn, post)
        await self._keep_media_uses(conn, post)

    async def _keep_media_uses(self, conn: AsyncConnection, post: Post) -> None:
        """Note the images the post's text names now (in the caller's transaction)."""
        uses = self.schema.post_media
        await conn.execute(delete(uses).where(uses.c.post_id == post.id))
        hashes = media_in_text(post.body or "")
        if hashes:
            await conn.execute(
                uses.insert(), [{"post_id": post.id, "content_hash": h} for h in sorted(hashes)]
            )

    async def _posts_naming(
        self, conn: AsyncConnection, content_hashes: Sequence[str]
    ) -> list[tuple[str, int, str]]:
        """``(hash, post id, title)`` of every post whose text names one of the images."""
        uses, posts = self.schema.post_media, self.schema.posts
        rows = await conn.execute(
            select(uses.c.content_hash, posts.c.id, posts.c.title)
            .join(posts, posts.c.id == uses.c.post_id)
            .where(uses.c.content_hash.in_(content_hashes))
            .order_by(posts.c.id)
        )
        return [(str(h), int(post_id), str(title)) for h, post_id, title in rows]
