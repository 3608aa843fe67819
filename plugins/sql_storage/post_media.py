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
    """``_keep_media_uses`` (called by ``index_post``) and ``_posts_naming``."""

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
