"""Reading posts: one by id or slug, keyset pages, and the text cache that leaves out
texts this process holds already; mixed into ``SqlStorage``."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    null,
    or_,
    select,
    tuple_,
)
from sqlalchemy.engine import Row

from cms.contracts import Cursor, Kind, Post, Status

from .coalesce import ReadCoalescer
from .errors import translate_errors
from .joined_values import link_of, neighbour_column, tags_column, tags_of
from .parts import StorageParts
from .pg_reads import PostgresReadPool
from .schema import is_kind
from .sqlite_reads import SqliteReadPool
from .text_cache import PAGE_SLOTS, TEXT_COLUMNS, Known, PostTextCache, known_parameters
from .times import aware, database_now, has_come

__all__ = ["PostReads"]


class PostReads(StorageParts):
    """``list_posts``, ``get_post``, ``get_post_by_slug`` and ``page_queries``."""

    _sqlite_reads: SqliteReadPool | None
    _pg_reads: PostgresReadPool | None
    _coalescer: ReadCoalescer

    def _build_post_reads(self, text_cache_bytes: int) -> None:
        """The hottest reads, built once (and compiled once on SQLite: see sqlite_reads).
        They leave out the texts of a post version this process holds (text_cache)."""
        posts, users = self.schema.posts, self.schema.users
        author, editor = users.alias("author"), users.alias("editor")
        self._post_select: Select[Any] = select(
            posts,
            author.c.username.label("author_name"),
            editor.c.username.label("editor_name"),
            author.c.display_name.label("author_display_name"),
            tags_column(self.schema, self.is_sqlite).label("tag_list"),
        ).select_from(
            posts.outerjoin(author, posts.c.author_id == author.c.id).outerjoin(
                editor, posts.c.editor_id == editor.c.id
            )
        )
        self._texts = PostTextCache(text_cache_bytes) if text_cache_bytes else None
        post_read = self._post_read(slots=1)
        self._post_by_slug = post_read.where(posts.c.slug == bindparam("slug"))
        self._post_by_id = post_read.where(posts.c.id == bindparam("id"))
        self._slug_reads: dict[tuple[Status | None, Kind | None], Select[Any]] = {}
        self._page_templates: dict[tuple[Any, ...], list[Select[Any]]] = {}

    def _visible(self, column: Any) -> ColumnElement[bool]:
        """``column`` has come (:func:`.times.has_come`)."""
        return has_come(column, self.is_sqlite)

    def _status_condition(self, status: Status) -> ColumnElement[bool]:
        posts = self.schema.posts
        if status == "published":
            return and_(posts.c.status == "published", self._visible(posts.c.published_at))
        if status == "scheduled":
            return and_(
                posts.c.status == "published",
                posts.c.published_at > database_now(self.is_sqlite),
            )
        return posts.c.status == status

    def _post_read(self, slots: int) -> Select[Any]:
        """Posts with their authors' names, leaving out the texts of rows that are one of
        the ``slots`` versions the statement names (:func:`.text_cache.known_parameters`)."""
        posts = self.schema.posts
        known = or_(
            *(
                and_(
                    posts.c.id == bindparam(f"known_id_{slot}", type_=posts.c.id.type),
                    posts.c.version
                    == bindparam(f"known_version_{slot}", type_=posts.c.version.type),
                    posts.c.updated_at
                    == bindparam(f"known_updated_{slot}", type_=posts.c.updated_at.type),
                )
                for slot in range(slots)
            )
        )
        return select(
            *(
                case((known, null()), else_=column).label(column.name)
                if column.name in TEXT_COLUMNS
                else column
                for column in posts.c
            ),
            *self._post_select.selected_columns[len(posts.c) :],
        ).select_from(self._post_select.get_final_froms()[0])

    def _to_post(self, row: Row[Any] | Mapping[str, Any]) -> Post:
        data = row._mapping if isinstance(row, Row) else row
        created = aware(data["created_at"])
        updated = aware(data["updated_at"])
        assert created is not None and updated is not None
        extra: dict[str, Any] = {}
        for name in self.schema.field_columns:
            value = data[name]
            extra[name] = aware(value)
        published_at = aware(data["published_at"])
        status = data["status"]
        if status == "published" and published_at is not None and published_at > _now():
            status = "scheduled"
        return Post(
            id=data["id"],
            slug=data["slug"],
            title=data["title"],
            body=data["body"],
            html=data["html"],
            status=status,
            published_at=published_at,
            created_at=created,
            updated_at=updated,
            author=data["author_name"],
            editor=data["editor_name"],
            author_id=data["author_id"],
            version=data["version"],
            image=data["image"],
            extra=extra,
            kind=data["kind"],
            tags=tags_of(data["tag_list"]),
            featured=bool(data["featured"]),
            custom_excerpt=data["custom_excerpt"],
            author_display_name=data["author_display_name"],
            newer=link_of(data.get("newer_post")),
            older=link_of(data.get("older_post")),
        )

    def page_queries(
        self,
        *,
        status: Status | None = None,
        author_id: int | None = None,
        after: Cursor | None = None,
        limit: int = 10,
        order: Literal["published", "updated"] = "published",
        kind: Kind | None = "post",
        tag_id: int | None = None,
    ) -> list[Select[Any]]:
        """The statements that read one keyset page, newest first (public so tests can read
        their plans). :meth:`list_posts` runs them in order until it has ``limit`` rows.

        Usually one statement: ``(time, id) < cursor``, which PostgreSQL seeks in the index.
        SQLite seeks a row-value comparison only as far as its first column when the second
        is the rowid (``id``), so a page starting inside many posts of one timestamp (an
        import) would read through all of them. There the page is two exact seeks: the rest
        of the cursor's timestamp (``time = t AND id < n``), then what is older (``time < t``).

        A tag's page walks ``cms_post_tags`` by ``(tag_id, listed_at, post_id)`` instead,
        which holds the publication time of the tag's published posts: one seek too.
        """
        naming = known_parameters([], PAGE_SLOTS)
        return [
            template.params(values, **naming, limit=limit)
            for template, values in self._page_plan(status, author_id, after, order, kind, tag_id)
        ]

    def _page_plan(
        self,
        status: Status | None,
        author_id: int | None,
        after: Cursor | None,
        order: Literal["published", "updated"],
        kind: Kind | None = "post",
        tag_id: int | None = None,
    ) -> list[tuple[Select[Any], dict[str, Any]]]:
        """:meth:`page_queries` as statements built once per shape (with ``limit`` still to
        bind) and the values for this page."""
        if tag_id is not None:
            # A tag lists published posts by publication time, whatever else was asked.
            status, order, kind = "published", "published", "post"
        shape = (status, author_id is not None, tag_id is not None, after is not None, order, kind)
        templates = self._page_templates.get(shape)
        if templates is None:
            templates = self._page_templates[shape] = self._page_statements(*shape)
        values: dict[str, Any] = {}
        if author_id is not None:
            values["author_id"] = author_id
        if tag_id is not None:
            values["tag_id"] = tag_id
        if after is not None:
            values["when"], values["last_id"] = aware(after[0]), after[1]
        return [(template, values) for template in templates]

    def _page_statements(
        self,
        status: Status | None,
        by_author: bool,
        by_tag: bool,
        after: bool,
        order: str,
        kind: Kind | None,
    ) -> list[Select[Any]]:
        posts = self.schema.posts
        query = self._post_read(slots=PAGE_SLOTS)
        when = bindparam("when", type_=posts.c.published_at.type)
        last_id = bindparam("last_id", type_=Integer)
        # The time condition of a published (visible) listing: the sort column has come.
        # On SQLite's page of one timestamp (time = :when) it is put on :when instead, so
        # the planner still seeks the index by equality (see page_queries).
        visible_sort = status == "published" or by_tag
        if by_tag:
            post_tags = self.schema.post_tags
            query = query.join(post_tags, post_tags.c.post_id == posts.c.id).where(
                post_tags.c.tag_id == bindparam("tag_id")
            )
            if by_author:
                query = query.where(posts.c.author_id == bindparam("author_id"))
            sort, row_id = post_tags.c.listed_at, post_tags.c.post_id
        else:
            sort = posts.c.published_at if order == "published" else posts.c.updated_at
            row_id = posts.c.id
            if status == "published":
                query = query.where(posts.c.status == "published")
            elif status is not None:
                query = query.where(self._status_condition(status))
            if kind is not None:
                query = query.where(is_kind(posts, kind))
            if by_author:
                query = query.where(posts.c.author_id == bindparam("author_id"))
            if order == "published":
                query = query.where(posts.c.published_at.is_not(None))
            if status == "published" and order != "published":
                query = query.where(self._visible(posts.c.published_at))
                visible_sort = False
        query = query.order_by(sort.desc(), row_id.desc()).limit(bindparam("limit", type_=Integer))
        if not after:
            return [query.where(self._visible(sort)) if visible_sort else query]
        if not self.is_sqlite or by_tag:
            # cms_post_tags has no rowid alias: SQLite seeks (listed_at, post_id) whole.
            query = query.where(tuple_(sort, row_id) < tuple_(when, last_id))
            return [query.where(self._visible(sort)) if visible_sort else query]
        same_time = query.where(sort == when, row_id < last_id)
        older = query.where(sort < when)
        if visible_sort:
            same_time = same_time.where(when <= database_now(self.is_sqlite))
            older = older.where(self._visible(sort))
        return [same_time, older]

    async def list_posts(
        self,
        *,
        status: Status | None = None,
        author_id: int | None = None,
        after: Cursor | None = None,
        limit: int = 10,
        order: Literal["published", "updated"] = "published",
        kind: Kind | None = "post",
        tag_id: int | None = None,
    ) -> list[Post]:
        plan = self._page_plan(status, author_id, after, order, kind, tag_id)
        prepared = [(self._prepare(template), values) for template, values in plan]
        # The posts this page showed last time: their texts are left out if unchanged.
        page = (id(prepared[0][0]), *sorted(plan[0][1].items()), limit)
        known = self._texts.page(page) if self._texts is not None else []
        naming = known_parameters(known, PAGE_SLOTS)

        async def fetch() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            if self._sqlite_reads is not None:

                def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
                    for statement, values in prepared:
                        left = {**values, **naming, "limit": limit - len(rows)}
                        rows.extend(statement.rows(conn, left))
                        if len(rows) >= limit:
                            break
                    return rows

                # Several statements: one read transaction, so all see one snapshot.
                async with translate_errors(sqlite=self.is_sqlite):
                    return await self._sqlite_reads.run(read, snapshot=len(plan) > 1)
            # PostgreSQL reads a page with one statement (a row-value comparison).
            assert len(prepared) == 1 and self._pg_reads is not None
            statement, values = prepared[0]
            return await self._pg_reads.fetch(statement, {**values, **naming, "limit": limit})

        rows = await self._coalescer.read(page, naming, fetch)
        if self._texts is not None:
            rows = self._texts.complete_page(page, rows, known)  # type: ignore[assignment]
        return [self._to_post(row) for row in rows]

    async def get_post(self, post_id: int) -> Post | None:
        known = self._texts.by_id(post_id) if self._texts is not None else None
        return await self._read_post(self._post_by_id, known, id=post_id)

    async def get_post_by_slug(
        self, slug: str, *, status: Status | None = None, kind: Kind | None = None
    ) -> Post | None:
        known = self._texts.by_slug(slug) if self._texts is not None else None
        statement = self._slug_reads.get((status, kind))
        if statement is None:
            statement = self._post_by_slug
            if status is not None:
                statement = statement.where(self._status_condition(status))
            if kind is not None:
                statement = statement.where(is_kind(self.schema.posts, kind))
            if status == "published" and kind == "post":
                # The public post page: its neighbours come with it, in the same statement.
                statement = statement.add_columns(
                    neighbour_column(self.schema, self.is_sqlite, newer=True).label("newer_post"),
                    neighbour_column(self.schema, self.is_sqlite, newer=False).label("older_post"),
                )
            self._slug_reads[(status, kind)] = statement
        return await self._read_post(statement, known, slug=slug)

    async def _read_post(
        self, statement: Select[Any], known: Known | None, **values: Any
    ) -> Post | None:
        """One post by one of the statements above, its texts from the text cache when the
        row is the version held there (see :mod:`.text_cache`)."""
        values.update(known_parameters([known], 1))
        rows = await self._read_rows(statement, **values)
        if not rows:
            return None
        row = rows[0] if self._texts is None else self._texts.complete(rows[0], known)
        return self._to_post(row)


def _now() -> datetime:
    return datetime.now(UTC)
