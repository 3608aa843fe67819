"""Whole-site reads and writes for ``cms export`` and ``cms import``, mixed into SqlStorage.

Records are the stored rows as dicts (see ``cms.contracts.RecordReader``); ``cms.content.export``
validates them and owns the file format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import RECORD_KINDS, RecordReader, RecordWriter, SiteNotEmpty

from .parts import StorageParts
from .schema import Schema
from .times import aware

__all__ = ["BulkTransfer"]

# Kinds this storage keeps, in import order (later kinds refer to earlier ones): every
# record kind but settings, which no table holds yet.
_KINDS: tuple[str, ...] = tuple(kind for kind in RECORD_KINDS if kind != "settings")
# Derived from other columns on import, never exported.
_DERIVED = {"users": ("username_key",)}


class _Tables:
    def __init__(self, schema: Schema) -> None:
        self.by_kind: dict[str, Table] = {
            "users": schema.users,
            "posts": schema.posts,
            "tags": schema.tags,
            "post_tags": schema.post_tags,
            "tag_redirects": schema.tag_redirects,
            "publications": schema.publications,
            "tokens": schema.tokens,
            "media": schema.media,
            "menus": schema.menus,
            "old_slugs": schema.old_slugs,
            "redirects": schema.redirects,
            "revisions": schema.revisions,
            "trash": schema.trash,
            "import_sources": schema.import_sources,
        }

    def columns(self, kind: str) -> list[Any]:
        derived = _DERIVED.get(kind, ())
        return [c for c in self.by_kind[kind].columns if c.name not in derived]


class _Reader:
    """One connection in one read transaction: every kind comes from the same snapshot."""

    kinds: tuple[str, ...] = _KINDS

    def __init__(self, conn: AsyncConnection, tables: _Tables) -> None:
        self._conn = conn
        self._tables = tables

    async def count(self, kind: str) -> int:
        table = self._tables.by_kind[kind]
        return int((await self._conn.execute(select(func.count()).select_from(table))).scalar_one())

    async def records(
        self, kind: str, *, batch_size: int = 500
    ) -> AsyncIterator[list[dict[str, Any]]]:
        table = self._tables.by_kind[kind]
        columns = self._tables.columns(kind)
        key = list(table.primary_key.columns)
        last: tuple[Any, ...] | None = None
        while True:
            # Keyset by primary key: each batch is one short indexed read, whatever the
            # table's size.
            query = select(*columns).order_by(*key).limit(batch_size)
            if last is not None:
                query = query.where(tuple_(*key) > tuple_(*last))
            rows = (await self._conn.execute(query)).all()
            if not rows:
                return
            yield [{name: aware(value) for name, value in row._mapping.items()} for row in rows]
            last = tuple(rows[-1]._mapping[column.name] for column in key)


class _Writer:
    kinds: tuple[str, ...] = _KINDS

    def __init__(self, conn: AsyncConnection, tables: _Tables) -> None:
        self._conn = conn
        self._tables = tables
        self.written: set[str] = set()

    async def write(self, kind: str, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        table = self._tables.by_kind[kind]
        names = {column.name for column in self._tables.columns(kind)}
        rows = []
        for record in records:
            unknown = set(record) - names
            if unknown:
                raise ValueError(f"{kind}: no column for {', '.join(sorted(unknown))}")
            row = {key: aware(value) for key, value in record.items()}
            if kind == "users":
                row["username_key"] = row["username"].lower()
            rows.append(row)
        await self._conn.execute(table.insert(), rows)
        self.written.add(kind)


class BulkTransfer(StorageParts):
    """``exporting()`` and ``importing()`` of the storage contract."""

    @asynccontextmanager
    async def exporting(self) -> AsyncIterator[RecordReader]:
        async with self._reading() as conn:
            if not self.is_sqlite:
                # One snapshot for the whole export; SQLite's read transaction is one already.
                await conn.execute(
                    text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                )
            yield _Reader(conn, _Tables(self.schema))

    @asynccontextmanager
    async def importing(self) -> AsyncIterator[RecordWriter]:
        tables = _Tables(self.schema)
        async with self._writing() as conn:
            if not self.is_sqlite:
                # Nobody writes while we check that the site is empty and fill it (SQLite's
                # BEGIN IMMEDIATE holds the write lock already).
                names = ", ".join(table.name for table in tables.by_kind.values())
                await conn.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
            counts = {
                kind: int(
                    (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                )
                for kind, table in tables.by_kind.items()
            }
            if any(counts.values()):
                raise SiteNotEmpty(counts)
            writer = _Writer(conn, tables)
            yield writer
            if not self.is_sqlite:
                # Rows came with their ids: move each id sequence past the largest one, so
                # the next post or user gets a fresh id.
                for table in tables.by_kind.values():
                    if "id" not in table.c:
                        continue
                    next_id = (
                        await conn.execute(select(func.coalesce(func.max(table.c.id), 0) + 1))
                    ).scalar_one()
                    await conn.execute(
                        select(
                            func.setval(
                                func.pg_get_serial_sequence(table.name, "id"), next_id, False
                            )
                        )
                    )
