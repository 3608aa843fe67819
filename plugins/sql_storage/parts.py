"""What every part of ``SqlStorage`` may use: the schema, connections and compiled reads.

``SqlStorage`` is made of one mixin per concern (post reads and writes, users, attempts,
tokens, media rows, bulk transfer, migration); each inherits this, so the type checker
knows what the combined class provides and no part repeats it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Post, RevisionNote

from .prepared import PreparedRead
from .schema import Schema

__all__ = ["StorageParts"]


class StorageParts:
    """The shared ground of ``SqlStorage``'s parts (provided by ``SqlStorage`` itself)."""

    schema: Schema
    #: Posts with their authors' names and tags (built by ``PostReads``).
    _post_select: Select[Any]

    if TYPE_CHECKING:

        @property
        def is_sqlite(self) -> bool: ...

        def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

        def _writing(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

        def _prepare(self, statement: Select[Any]) -> PreparedRead: ...

        async def _read_rows(self, statement: Select[Any], **values: Any) -> list[Any]: ...

        def _to_post(self, row: Row[Any] | Mapping[str, Any]) -> Post: ...

        async def index_post(self, conn: AsyncConnection, post: Post) -> None: ...

        async def unindex_post(self, conn: AsyncConnection, post_id: int) -> None: ...

        async def _index_text(self, conn: AsyncConnection, post: Post) -> None: ...

        async def _keep_media_uses(self, conn: AsyncConnection, post: Post) -> None: ...

        async def _posts_naming(
            self, conn: AsyncConnection, content_hashes: Sequence[str]
        ) -> list[tuple[str, int, str]]: ...

        async def _free_slug(
            self, conn: AsyncConnection, base: str, exclude_id: int | None
        ) -> str: ...

        async def _set_tags(
            self, conn: AsyncConnection, post_id: int, pairs: Sequence[tuple[str, str]]
        ) -> None: ...

        async def _keep_listing(self, conn: AsyncConnection, post: Post) -> None: ...

        async def _reread(self, conn: AsyncConnection, post_id: int) -> Post: ...

        async def _lock_post(
            self, conn: AsyncConnection, post_id: int, expected_version: int | None
        ) -> Post: ...

        async def _keep_revision(
            self, conn: AsyncConnection, post: Post, note: RevisionNote, user_id: int | None
        ) -> None: ...
