"""``SqlStorage``: the storage contract on SQLAlchemy 2 async, for SQLite and PostgreSQL.

One class made of a mixin per concern (post reads and writes, users, sign-in attempts,
tokens, media rows, bulk export/import, schema migration); this module holds what they
share: engines, connections, and compiled hot reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from cms import PostField

from .attempts import AttemptQueries
from .autosaves import AutosaveQueries
from .bulk import BulkTransfer
from .coalesce import ReadCoalescer
from .engine import ping_on_checkout, prepare_sqlite
from .errors import translate_errors
from .media_rows import MediaQueries
from .merging import ImportMerging
from .migrating import SchemaMigrations
from .pg_reads import PostgresReadPool
from .post_media import PostMediaUses
from .post_reads import PostReads
from .post_writes import PostWrites
from .prepared import PreparedRead
from .previews import PreviewQueries
from .redirects import RedirectQueries
from .revisions import RevisionQueries
from .schema import Schema, build_schema
from .search import SearchQueries
from .site_state import SiteState
from .sqlite_reads import SqliteReadPool
from .tags import TagQueries
from .text_cache import DEFAULT_TEXT_CACHE_MB
from .tokens import TokenQueries
from .trash import TrashQueries
from .users import UserQueries

__all__ = ["SqlStorage"]


class SqlStorage(
    PostReads,
    PostWrites,
    TagQueries,
    SiteState,
    RedirectQueries,
    RevisionQueries,
    PreviewQueries,
    AutosaveQueries,
    TrashQueries,
    SearchQueries,
    PostMediaUses,
    UserQueries,
    AttemptQueries,
    TokenQueries,
    MediaQueries,
    BulkTransfer,
    ImportMerging,
    SchemaMigrations,
):
    """Posts and users in SQL. Build with :meth:`sqlite` or :meth:`postgres`."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        fields: Iterable[PostField],
        engine_options: Mapping[str, Any],
        write_engine_options: Mapping[str, Any] | None = None,
        sqlite_busy_timeout_ms: int | None = None,
        sqlite_path: Path | None = None,
        auto_migrate: bool = True,
        pg_read_options: Mapping[str, Any] | None = None,
        text_cache_bytes: int = DEFAULT_TEXT_CACHE_MB * 1024 * 1024,
        search_language: str = "english",
    ) -> None:
        fields = list(fields)
        self.name = name
        self.searchable_fields = tuple(field.name for field in fields if field.searchable)
        #: PostgreSQL's text search configuration (``[storage] options.search_language``).
        self.search_language = search_language
        self.url = url
        self.sqlite_path = sqlite_path
        #: ``cms serve`` makes additive schema changes itself (else it asks for cms migrate).
        self.auto_migrate = auto_migrate
        self.schema: Schema = build_schema(fields, postgres=name != "sqlite")
        self._engine_options = dict(engine_options)
        self._write_engine_options = dict(write_engine_options or {})
        self._busy_timeout_ms = sqlite_busy_timeout_ms
        self._read: AsyncEngine | None = None
        self._write: AsyncEngine | None = None
        # SQLite: the hot reads (posts, users) go through a thread pool (see sqlite_reads).
        self._sqlite_reads: SqliteReadPool | None = None
        # PostgreSQL: the hot reads go through an asyncpg pool of their own (see pg_reads).
        self._pg_read_options = dict(pg_read_options or {})
        self._pg_reads: PostgresReadPool | None = None
        self._prepared: dict[int, PreparedRead] = {}
        # Identical hot reads asked for together go out once (see coalesce).
        self._coalescer = ReadCoalescer()
        self._build_post_reads(text_cache_bytes)
        self._build_user_reads()
        self._build_tag_reads()
        self._build_site_state_reads()
        self._build_redirect_reads()

    @classmethod
    def sqlite(
        cls,
        path: Path,
        *,
        fields: Iterable[PostField],
        busy_timeout_ms: int = 5000,
        auto_migrate: bool = True,
        text_cache_mb: int = DEFAULT_TEXT_CACHE_MB,
    ) -> SqlStorage:
        """SQLite in WAL mode; writes take the lock up front (``BEGIN IMMEDIATE``)."""
        return cls(
            "sqlite",
            f"sqlite+aiosqlite:///{path}",
            fields=fields,
            engine_options={"connect_args": {"timeout": busy_timeout_ms / 1000}},
            # One writer connection per process: writers queue here instead of in SQLite.
            write_engine_options={"pool_size": 1, "max_overflow": 0, "pool_timeout": 60},
            sqlite_busy_timeout_ms=busy_timeout_ms,
            sqlite_path=Path(path),
            auto_migrate=auto_migrate,
            text_cache_bytes=text_cache_mb * 1024 * 1024,
        )

    @classmethod
    def postgres(
        cls,
        url: str,
        *,
        fields: Iterable[PostField],
        pool_size: int = 5,
        max_overflow: int = 5,
        statement_timeout_ms: int = 15_000,
        connect_timeout_s: float = 5.0,
        pool_timeout_s: float = 10.0,
        auto_migrate: bool = True,
        text_cache_mb: int = DEFAULT_TEXT_CACHE_MB,
        search_language: str = "english",
    ) -> SqlStorage:
        """PostgreSQL through asyncpg, with pre-ping and a statement timeout.

        Pre-ping tests each pooled connection before use, so connections that died with a
        server restart are replaced instead of failing a request; ``pool_timeout_s`` bounds
        how long a request waits for a free connection when the pool is exhausted.
        """
        driver_url = url.split("://", 1)[1]
        return cls(
            "postgres",
            f"postgresql+asyncpg://{driver_url}",
            fields=fields,
            engine_options={
                "pool_size": pool_size,
                "max_overflow": max_overflow,
                "pool_pre_ping": True,
                "pool_recycle": 1800,
                "pool_timeout": pool_timeout_s,
                "connect_args": {
                    "timeout": connect_timeout_s,
                    "server_settings": {"statement_timeout": str(statement_timeout_ms)},
                },
            },
            auto_migrate=auto_migrate,
            text_cache_bytes=text_cache_mb * 1024 * 1024,
            search_language=search_language,
            pg_read_options={
                "size": pool_size,
                "connect_timeout_s": connect_timeout_s,
                "acquire_timeout_s": pool_timeout_s,
                "statement_timeout_ms": statement_timeout_ms,
            },
        )

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    def _engines(self) -> tuple[AsyncEngine, AsyncEngine]:
        if self._read is None or self._write is None:
            raise RuntimeError("storage is not open")
        return self._read, self._write

    async def open(self) -> None:
        if self._read is not None:
            return
        if self.is_sqlite:
            self._read = create_async_engine(self.url, **self._engine_options)
            self._write = create_async_engine(
                self.url, **{**self._engine_options, **self._write_engine_options}
            )
            self._prepare_sqlite(self._read, "BEGIN")
            self._prepare_sqlite(self._write, "BEGIN IMMEDIATE")
            assert self.sqlite_path is not None
            self._sqlite_reads = SqliteReadPool(
                self.sqlite_path, busy_timeout_ms=self._busy_timeout_ms or 5000
            )
            self._sqlite_reads.open()
        else:
            options = dict(self._engine_options)
            ping = options.pop("pool_pre_ping", False)
            self._read = self._write = create_async_engine(self.url, **options)
            if ping:
                ping_on_checkout(self._read)
            dsn = make_url(self.url).set(drivername="postgresql")
            self._pg_reads = PostgresReadPool(
                dsn.render_as_string(hide_password=False), **self._pg_read_options
            )
            await self._pg_reads.open()

    def change_stamp(self) -> object | None:
        """SQLite's data version (see ``ChangeStamps``); None on PostgreSQL, which cannot
        tell without a query (every request reads, as before)."""
        reads = self._sqlite_reads
        return None if reads is None else reads.data_version()

    def _prepare_sqlite(self, engine: AsyncEngine, begin: str) -> None:
        busy_timeout = 5000 if self._busy_timeout_ms is None else self._busy_timeout_ms
        prepare_sqlite(engine, begin, busy_timeout_ms=busy_timeout)

    async def close(self) -> None:
        engines = {id(engine): engine for engine in (self._read, self._write) if engine is not None}
        self._read = self._write = None
        sqlite_reads, self._sqlite_reads = self._sqlite_reads, None
        if sqlite_reads is not None:
            await sqlite_reads.close()
        pg_reads, self._pg_reads = self._pg_reads, None
        if pg_reads is not None:
            await pg_reads.close()
        for engine in engines.values():
            await engine.dispose()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        read, _ = self._engines()
        async with translate_errors(sqlite=self.is_sqlite), read.connect() as conn:
            yield conn

    async def _read_rows(self, statement: Select[Any], **values: Any) -> list[Any]:
        """The rows of one of the statements built in ``__init__``: compiled once and run
        on the driver on SQLite; on the async engine elsewhere."""
        prepared = self._prepare(statement)
        return await self._coalescer.read(
            id(prepared), values, lambda: self._fetch(prepared, values)
        )

    async def _fetch(self, prepared: PreparedRead, values: dict[str, Any]) -> list[dict[str, Any]]:
        if self._sqlite_reads is not None:
            async with translate_errors(sqlite=self.is_sqlite):
                return await self._sqlite_reads.fetch(prepared, **values)
        assert self._pg_reads is not None
        return await self._pg_reads.fetch(prepared, values)

    def _prepare(self, statement: Select[Any]) -> PreparedRead:
        """``statement`` compiled for this database, once (statements are built once, so
        their ids are stable)."""
        prepared = self._prepared.get(id(statement))
        if prepared is None:
            if self.is_sqlite:
                prepared = SqliteReadPool.prepare(statement)
            else:
                prepared = PreparedRead.compile(statement, self._engines()[0].dialect)
            self._prepared[id(statement)] = prepared
        return prepared

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        _, write = self._engines()
        async with translate_errors(sqlite=self.is_sqlite), write.begin() as conn:
            yield conn

    async def check(self) -> None:
        async with self._reading() as conn:
            await conn.execute(text("SELECT 1"))
