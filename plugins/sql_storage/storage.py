"""``SqlStorage``: the storage contract on SQLAlchemy 2 async, for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    Integer,
    Select,
    and_,
    bindparam,
    case,
    event,
    func,
    null,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

from cms import PostField
from cms.contracts import (
    Cursor,
    DependencyUnavailable,
    MigrationReport,
    Post,
    PostNotFound,
    Role,
    SchemaOutOfDate,
    Status,
    User,
    UsernameTaken,
    VersionConflict,
)

from .bulk import BulkTransfer
from .coalesce import ReadCoalescer
from .media import MediaQueries
from .migrations import MigrationPlan, apply_plan, plan_migration
from .pg_reads import PostgresReadPool
from .prepared import PreparedRead
from .schema import Schema, build_schema
from .sqlite_reads import SqliteReadPool
from .text_cache import (
    DEFAULT_TEXT_CACHE_MB,
    PAGE_SLOTS,
    TEXT_COLUMNS,
    Known,
    PostTextCache,
    known_parameters,
)
from .times import aware
from .tokens import TokenQueries

__all__ = ["SqlStorage"]

log = logging.getLogger("cms.storage")

T = TypeVar("T")

_SLUG_ATTEMPTS = 5
# Attempts older than this are deleted whatever their key (longer than any window we use).
_ATTEMPT_HORIZON = 24 * 3600
_SLUG_LENGTH = 200
# pg_advisory_xact_lock(space, key) namespace for slug allocation (migrate uses 73110001).
_SLUG_LOCK_SPACE = 73110002
_MIGRATE_LOCK = 73110001
# A migration waits this long for another process's migration (or a long write) to finish.
_MIGRATION_BUSY_TIMEOUT_MS = 600_000
# SQLSTATEs of a PostgreSQL that is unreachable, restarting, overloaded or too slow: all
# answered as "try again" (503). Class 08: connection exceptions; 53: insufficient
# resources; 57P01-57P03: shut down or starting up; 57014: statement timeout; 40001/40P01:
# serialization failure or deadlock; 55P03: lock not available.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53")
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57014", "40001", "40P01", "55P03"})
_CORE_WRITABLE = ("title", "body", "html", "status", "image")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlStorage(TokenQueries, MediaQueries, BulkTransfer):
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
    ) -> None:
        self.name = name
        self.url = url
        self.sqlite_path = sqlite_path
        #: ``cms serve`` makes additive schema changes itself (else it asks for cms migrate).
        self.auto_migrate = auto_migrate
        self.schema: Schema = build_schema(fields)
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
        posts, users = self.schema.posts, self.schema.users
        author, editor = users.alias("author"), users.alias("editor")
        self._post_select: Select[Any] = select(
            posts, author.c.username.label("author_name"), editor.c.username.label("editor_name")
        ).select_from(
            posts.outerjoin(author, posts.c.author_id == author.c.id).outerjoin(
                editor, posts.c.editor_id == editor.c.id
            )
        )
        # The hottest reads, built once (and compiled once on SQLite: see sqlite_reads).
        # They leave out the texts of a post version this process holds (text_cache).
        self._texts = PostTextCache(text_cache_bytes) if text_cache_bytes else None
        post_read = self._post_read(slots=1)
        self._post_by_slug = post_read.where(posts.c.slug == bindparam("slug"))
        self._published_by_slug = self._post_by_slug.where(posts.c.status == bindparam("status"))
        self._post_by_id = post_read.where(posts.c.id == bindparam("id"))
        self._user_by_id = select(users).where(users.c.id == bindparam("id"))
        self._prepared: dict[int, PreparedRead] = {}
        # Identical hot reads asked for together go out once (see coalesce).
        self._coalescer = ReadCoalescer()
        self._page_templates: dict[tuple[bool, bool, bool, str], list[Select[Any]]] = {}

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
                _ping_on_checkout(self._read)
            dsn = make_url(self.url).set(drivername="postgresql")
            self._pg_reads = PostgresReadPool(
                dsn.render_as_string(hide_password=False), **self._pg_read_options
            )
            await self._pg_reads.open()

    def _prepare_sqlite(
        self, engine: AsyncEngine, begin: str, *, busy_timeout_ms: int | None = None
    ) -> None:
        busy_timeout = busy_timeout_ms or (
            5000 if self._busy_timeout_ms is None else self._busy_timeout_ms
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (pysqlite's own transaction handling is off).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Connection) -> None:
            connection.exec_driver_sql(begin)

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
        async with self._translate_errors(), read.connect() as conn:
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
            async with self._translate_errors():
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
        async with self._translate_errors(), write.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _translate_errors(self) -> AsyncIterator[None]:
        """A database that cannot be reached is a DependencyUnavailable (503), not a 500.

        Wraps connection checkout too, so a failed pre-ping or connect counts the same.
        """
        try:
            yield
        except IntegrityError:
            raise
        except OperationalError as error:
            # On SQLite this class also covers mistakes ("no such column"): those stay
            # errors (a 500 with a traceback in the log), only a busy or unreachable file
            # is an outage.
            if self.is_sqlite and not _sqlite_transient(error.orig):
                raise
            raise DependencyUnavailable("database", _short(error)) from error
        except sqlite3.OperationalError as error:  # from the SQLite read pool's connections
            if not _sqlite_transient(error):
                raise
            raise DependencyUnavailable("database", _short(error)) from error
        except (InterfaceError, PoolTimeoutError, OSError, TimeoutError) as error:
            raise DependencyUnavailable("database", _short(error)) from error
        except DBAPIError as error:
            if error.connection_invalidated or _is_transient(error):
                raise DependencyUnavailable("database", _short(error)) from error
            raise

    async def check(self) -> None:
        async with self._reading() as conn:
            await conn.execute(text("SELECT 1"))

    # -- schema ----------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Apply what :meth:`migrate_schema` applies; return the changes made."""
        return (await self.migrate_schema()).applied

    async def migrate_schema(
        self, *, dry_run: bool = False, startup: bool = False
    ) -> MigrationReport:
        """Bring the schema up to date (see ``migrations``): versioned revisions, then
        additive changes; differences that are not additive are reported, never applied.

        One process at a time: PostgreSQL takes an advisory lock, SQLite the write lock
        (``BEGIN IMMEDIATE``). The others wait, then find nothing left to do. SQLite is
        backed up (``VACUUM INTO``) before anything in an existing database changes.

        ``startup`` is ``cms serve``'s policy: with ``auto_migrate`` it makes additive
        changes; it raises :class:`SchemaOutOfDate` for pending revisions, for changes that
        need one, and (without ``auto_migrate``) for any change.
        """
        async with self._migrating() as conn:
            plan: MigrationPlan = await conn.run_sync(plan_migration, self.schema.metadata)
            report = MigrationReport(kept=plan.kept, blocking=plan.blocking)
            if dry_run:
                report.applied = plan.changes
                return report
            if startup:
                self._check_startup_policy(plan)
            if not plan.changes and not plan.needs_baseline:
                return report
            if plan.changes and self.is_sqlite and plan.has_tables:
                report.backup = str(await asyncio.to_thread(self._backup_sqlite))
            report.applied = await conn.run_sync(apply_plan, self.schema.metadata, plan)
        return report

    def _check_startup_policy(self, plan: MigrationPlan) -> None:
        if plan.blocking:
            raise SchemaOutOfDate(
                "the declared schema needs changes cms does not make by itself: "
                + "; ".join(plan.blocking),
                plan.blocking,
            )
        if plan.revisions:
            raise SchemaOutOfDate(
                f"the database needs {len(plan.revisions)} core schema upgrade(s) "
                f"({plan.revisions[0]}{', ...' if len(plan.revisions) > 1 else ''}), "
                "which cms serve does not apply by itself",
                plan.revisions,
            )
        if plan.changes and not self.auto_migrate:
            shown = ", ".join(plan.changes[:3]) + (", ..." if len(plan.changes) > 3 else "")
            raise SchemaOutOfDate(
                f"the database needs {len(plan.changes)} schema change(s) ({shown}) and "
                "[storage] options auto_migrate is false",
                plan.changes,
            )

    @asynccontextmanager
    async def _migrating(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that holds the migration lock, waiting long for it if need be."""
        if not self.is_sqlite:
            async with self._writing() as conn:
                # Several workers starting at once: one migrates, the others wait and see
                # no change. DDL on a big table may take long: no statement timeout here.
                await conn.execute(text("SET LOCAL statement_timeout = 0"))
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATE_LOCK})"))
                yield conn
            return
        # Its own connection with a long busy timeout: a worker waiting while another one
        # backs up and migrates a big database must not give up after a few seconds.
        engine = create_async_engine(
            self.url,
            poolclass=NullPool,
            connect_args={"timeout": _MIGRATION_BUSY_TIMEOUT_MS / 1000},
        )
        self._prepare_sqlite(engine, "BEGIN IMMEDIATE", busy_timeout_ms=_MIGRATION_BUSY_TIMEOUT_MS)
        try:
            async with self._translate_errors(), engine.begin() as conn:
                yield conn
        finally:
            await engine.dispose()

    def _backup_sqlite(self) -> Path:
        """Copy the database to ``<db>.backup-<UTC time>`` (``VACUUM INTO``, a consistent
        copy even while we hold the write lock: WAL readers see the last commit)."""
        assert self.sqlite_path is not None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.sqlite_path.with_name(f"{self.sqlite_path.name}.backup-{stamp}")
        number = 1
        while target.exists():
            number += 1
            target = self.sqlite_path.with_name(f"{self.sqlite_path.name}.backup-{stamp}-{number}")
        source = sqlite3.connect(self.sqlite_path, timeout=_MIGRATION_BUSY_TIMEOUT_MS / 1000)
        try:
            source.execute("VACUUM INTO ?", (str(target),))
        finally:
            source.close()
        log.info("backed up %s to %s before migrating", self.sqlite_path, target)
        return target

    # -- posts -----------------------------------------------------------------------------

    def _to_post(self, row: Row[Any] | Mapping[str, Any]) -> Post:
        data = row._mapping if isinstance(row, Row) else row
        created = aware(data["created_at"])
        updated = aware(data["updated_at"])
        assert created is not None and updated is not None
        extra: dict[str, Any] = {}
        for name in self.schema.field_columns:
            value = data[name]
            extra[name] = aware(value)
        return Post(
            id=data["id"],
            slug=data["slug"],
            title=data["title"],
            body=data["body"],
            html=data["html"],
            status=data["status"],
            published_at=aware(data["published_at"]),
            created_at=created,
            updated_at=updated,
            author=data["author_name"],
            editor=data["editor_name"],
            author_id=data["author_id"],
            version=data["version"],
            image=data["image"],
            extra=extra,
        )

    def page_queries(
        self,
        *,
        status: Status | None = None,
        author_id: int | None = None,
        after: Cursor | None = None,
        limit: int = 10,
        order: Literal["published", "updated"] = "published",
    ) -> list[Select[Any]]:
        """The statements that read one keyset page, newest first (public so tests can read
        their plans). :meth:`list_posts` runs them in order until it has ``limit`` rows.

        Usually one statement: ``(time, id) < cursor``, which PostgreSQL seeks in the index.
        SQLite seeks a row-value comparison only as far as its first column when the second
        is the rowid (``id``), so a page starting inside many posts of one timestamp (an
        import) would read through all of them. There the page is two exact seeks: the rest
        of the cursor's timestamp (``time = t AND id < n``), then what is older (``time < t``).
        """
        naming = known_parameters([], PAGE_SLOTS)
        return [
            template.params(values, **naming, limit=limit)
            for template, values in self._page_plan(status, author_id, after, order)
        ]

    def _page_plan(
        self,
        status: Status | None,
        author_id: int | None,
        after: Cursor | None,
        order: Literal["published", "updated"],
    ) -> list[tuple[Select[Any], dict[str, Any]]]:
        """:meth:`page_queries` as statements built once per shape (with ``limit`` still to
        bind) and the values for this page."""
        shape = (status is not None, author_id is not None, after is not None, order)
        templates = self._page_templates.get(shape)
        if templates is None:
            templates = self._page_templates[shape] = self._page_statements(*shape)
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        if author_id is not None:
            values["author_id"] = author_id
        if after is not None:
            values["when"], values["last_id"] = aware(after[0]), after[1]
        return [(template, values) for template in templates]

    def _page_statements(
        self, by_status: bool, by_author: bool, after: bool, order: str
    ) -> list[Select[Any]]:
        posts = self.schema.posts
        sort = posts.c.published_at if order == "published" else posts.c.updated_at
        query = self._post_read(slots=PAGE_SLOTS)
        if by_status:
            query = query.where(posts.c.status == bindparam("status"))
        if by_author:
            query = query.where(posts.c.author_id == bindparam("author_id"))
        if order == "published":
            query = query.where(posts.c.published_at.is_not(None))
        query = query.order_by(sort.desc(), posts.c.id.desc()).limit(
            bindparam("limit", type_=Integer)
        )
        if not after:
            return [query]
        when, last_id = bindparam("when", type_=sort.type), bindparam("last_id", type_=Integer)
        if not self.is_sqlite:
            return [query.where(tuple_(sort, posts.c.id) < tuple_(when, last_id))]
        return [
            query.where(sort == when, posts.c.id < last_id),
            query.where(sort < when),
        ]

    async def list_posts(
        self,
        *,
        status: Status | None = None,
        author_id: int | None = None,
        after: Cursor | None = None,
        limit: int = 10,
        order: Literal["published", "updated"] = "published",
    ) -> list[Post]:
        plan = self._page_plan(status, author_id, after, order)
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
                async with self._translate_errors():
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

    async def get_post_by_slug(self, slug: str, *, status: Status | None = None) -> Post | None:
        known = self._texts.by_slug(slug) if self._texts is not None else None
        if status is None:
            return await self._read_post(self._post_by_slug, known, slug=slug)
        return await self._read_post(self._published_by_slug, known, slug=slug, status=status)

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

    async def _free_slug(self, conn: AsyncConnection, base: str, exclude_id: int | None) -> str:
        """``base``, or the first of ``base-2``, ``base-3``... that no other post has; every
        candidate fits the column (a long base is shortened to make room for the number)."""
        posts = self.schema.posts
        length: int = getattr(posts.c.slug.type, "length", None) or _SLUG_LENGTH
        base = base[:length]

        def candidate(number: int) -> str:
            if number == 1:
                return base
            suffix = f"-{number}"
            return base[: length - len(suffix)].rstrip("-") + suffix

        # Every candidate up to a ten-character suffix starts with this.
        prefix = base[: length - 10].rstrip("-")
        if not self.is_sqlite:
            # Writers wanting the same slug take turns (SQLite writers already do: BEGIN
            # IMMEDIATE), so they do not all pick the same number and fail on the unique index.
            digest = hashlib.blake2b(prefix.encode(), digest_size=4).digest()
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, :key)"),
                {"space": _SLUG_LOCK_SPACE, "key": int.from_bytes(digest, "big", signed=True)},
            )
        query = select(posts.c.slug).where(posts.c.slug.startswith(prefix, autoescape=True))
        if exclude_id is not None:
            query = query.where(posts.c.id != exclude_id)
        taken = set((await conn.execute(query)).scalars())
        number = 1
        while candidate(number) in taken:
            number += 1
        return candidate(number)

    def _row_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        row = {key: values[key] for key in _CORE_WRITABLE if key in values}
        for name in self.schema.field_columns:
            if name in values:
                value = values[name]
                # SQLite keeps a datetime's wall-clock digits and drops the offset: store UTC
                # (a naive value counts as UTC), as PostgreSQL's timestamptz does.
                row[name] = aware(value)
        return row

    async def create_post(self, values: dict[str, Any], *, author_id: int | None) -> Post:
        posts = self.schema.posts
        for attempt in range(_SLUG_ATTEMPTS):
            try:
                async with self._writing() as conn:
                    now = _utcnow()
                    row = self._row_values(values)
                    row.update(
                        slug=await self._free_slug(conn, values["slug"], None),
                        created_at=now,
                        updated_at=now,
                        published_at=now if values.get("status") == "published" else None,
                        author_id=author_id,
                        editor_id=author_id,
                        version=1,
                    )
                    row.setdefault("html", "")
                    row.setdefault("body", "")
                    new_id = (
                        await conn.execute(posts.insert().values(**row).returning(posts.c.id))
                    ).scalar_one()
                    result = (
                        await conn.execute(self._post_select.where(posts.c.id == new_id))
                    ).one()
                    return self._to_post(result)
            except IntegrityError:
                # Another writer took the slug between our check and insert: try the next one.
                if attempt == _SLUG_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def update_post(
        self,
        post_id: int,
        values: dict[str, Any],
        *,
        editor_id: int | None,
        expected_version: int | None = None,
    ) -> Post:
        posts = self.schema.posts
        for attempt in range(_SLUG_ATTEMPTS):
            try:
                async with self._writing() as conn:
                    current = await self._lock_post(conn, post_id, expected_version)
                    row = self._row_values(values)
                    if "slug" in values:
                        row["slug"] = await self._free_slug(conn, values["slug"], post_id)
                    if row.get("status") == "published" and current.published_at is None:
                        row["published_at"] = _utcnow()
                    row.update(
                        updated_at=max(_utcnow(), current.updated_at),
                        editor_id=editor_id,
                        version=current.version + 1,
                    )
                    updated = await conn.execute(
                        posts.update()
                        .where(posts.c.id == post_id, posts.c.version == current.version)
                        .values(**row)
                    )
                    if updated.rowcount != 1:
                        raise VersionConflict(current)
                    result = (
                        await conn.execute(self._post_select.where(posts.c.id == post_id))
                    ).one()
                    return self._to_post(result)
            except IntegrityError:
                if attempt == _SLUG_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def delete_post(self, post_id: int, *, expected_version: int | None = None) -> Post:
        posts = self.schema.posts
        async with self._writing() as conn:
            post = await self._lock_post(conn, post_id, expected_version)
            await conn.execute(posts.delete().where(posts.c.id == post_id))
        return post

    async def _lock_post(
        self, conn: AsyncConnection, post_id: int, expected_version: int | None
    ) -> Post:
        """Read a post for change (row-locked on PostgreSQL; SQLite's write lock is held
        already) and check the version the caller based its change on."""
        posts = self.schema.posts
        row = (
            await conn.execute(
                self._post_select.where(posts.c.id == post_id).with_for_update(of=posts)
            )
        ).first()
        if row is None:
            raise PostNotFound(post_id)
        post = self._to_post(row)
        if expected_version is not None and expected_version != post.version:
            raise VersionConflict(post)
        return post

    # -- users -----------------------------------------------------------------------------

    @staticmethod
    def _to_user(row: Row[Any] | Mapping[str, Any]) -> User:
        data = row._mapping if isinstance(row, Row) else row
        return User(
            id=data["id"],
            username=data["username"],
            role=data["role"],
            password_hash=data["password_hash"],
            is_active=bool(data["is_active"]),
            session_generation=data["session_generation"],
            created_at=aware(data["created_at"]),
        )

    async def count_users(self) -> int:
        async with self._reading() as conn:
            count = (
                await conn.execute(select(func.count()).select_from(self.schema.users))
            ).scalar_one()
        return int(count)

    async def create_user(
        self, username: str, password_hash: str, role: Role, *, only_if_first: bool = False
    ) -> User | None:
        users = self.schema.users
        try:
            async with self._writing() as conn:
                if only_if_first:
                    if not self.is_sqlite:
                        await conn.execute(text("LOCK TABLE cms_users IN EXCLUSIVE MODE"))
                    count = (
                        await conn.execute(select(func.count()).select_from(users))
                    ).scalar_one()
                    if count:
                        return None
                new_id = (
                    await conn.execute(
                        users.insert()
                        .values(
                            username=username,
                            username_key=username.lower(),
                            password_hash=password_hash,
                            role=role,
                            is_active=True,
                            session_generation=0,
                            created_at=_utcnow(),
                        )
                        .returning(users.c.id)
                    )
                ).scalar_one()
                row = (await conn.execute(select(users).where(users.c.id == new_id))).one()
                return self._to_user(row)
        except IntegrityError:
            raise UsernameTaken(username) from None

    async def get_user(self, user_id: int) -> User | None:
        rows = await self._read_rows(self._user_by_id, id=user_id)
        return self._to_user(rows[0]) if rows else None

    async def get_user_by_username(self, username: str) -> User | None:
        users = self.schema.users
        async with self._reading() as conn:
            row = (
                await conn.execute(select(users).where(users.c.username_key == username.lower()))
            ).first()
        return self._to_user(row) if row is not None else None

    async def bump_session_generation(self, user_id: int) -> int:
        users = self.schema.users
        async with self._writing() as conn:
            generation = (
                await conn.execute(
                    users.update()
                    .where(users.c.id == user_id)
                    .values(session_generation=users.c.session_generation + 1)
                    .returning(users.c.session_generation)
                )
            ).scalar_one_or_none()
        return int(generation or 0)

    async def list_users(self) -> list[User]:
        users = self.schema.users
        async with self._reading() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.username_key))).all()
        return [self._to_user(row) for row in rows]

    async def update_user(
        self,
        user_id: int,
        *,
        role: Role | None = None,
        is_active: bool | None = None,
        password_hash: str | None = None,
    ) -> User:
        users = self.schema.users
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = role
        if is_active is not None:
            values["is_active"] = is_active
        if password_hash is not None:
            values["password_hash"] = password_hash
        if password_hash is not None or is_active is False:
            values["session_generation"] = users.c.session_generation + 1
        async with self._writing() as conn:
            if values:
                await conn.execute(users.update().where(users.c.id == user_id).values(**values))
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        if row is None:
            raise LookupError(f"no user with id {user_id}")
        return self._to_user(row)

    async def record_attempt(self, key: str, window: int, limit: int) -> list[float] | None:
        attempts = self.schema.attempts
        now = time.time()
        async with self._writing() as conn:
            if not self.is_sqlite:
                # Serialise attempts on one key (SQLite's write lock does that already), so
                # concurrent attempts cannot all see a count under the limit.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key}
                )
            # Old rows of every key go here, so the table never grows past one horizon.
            await conn.execute(attempts.delete().where(attempts.c.at < now - _ATTEMPT_HORIZON))
            times = [
                float(at)
                for at in (
                    await conn.execute(
                        select(attempts.c.at).where(
                            attempts.c.key == key, attempts.c.at >= now - window
                        )
                    )
                ).scalars()
            ]
            if len(times) >= limit:
                return sorted(times)
            await conn.execute(attempts.insert().values(key=key, at=now))
        return None

    async def recent_attempts(self, key: str, window: int) -> list[float]:
        attempts = self.schema.attempts
        since = time.time() - window
        async with self._reading() as conn:
            rows = await conn.execute(
                select(attempts.c.at)
                .where(attempts.c.key == key, attempts.c.at >= since)
                .order_by(attempts.c.at)
            )
            return [float(at) for at in rows.scalars()]

    async def clear_attempts(self, key: str) -> None:
        attempts = self.schema.attempts
        async with self._writing() as conn:
            await conn.execute(attempts.delete().where(attempts.c.key == key))

    async def forget_attempt(self, key: str) -> None:
        attempts = self.schema.attempts
        async with self._writing() as conn:
            if not self.is_sqlite:
                # Under the key's lock too, so two at once forget two rows, not one twice.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key}
                )
            newest = (
                select(attempts.c.id)
                .where(attempts.c.key == key)
                .order_by(attempts.c.at.desc(), attempts.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            await conn.execute(attempts.delete().where(attempts.c.id == newest))


# SQLite's primary result codes that mean "not now" rather than "wrong": BUSY, LOCKED,
# IOERR, FULL, CANTOPEN, PROTOCOL.
_TRANSIENT_SQLITE_CODES = frozenset({5, 6, 10, 13, 14, 15})


def _sqlite_transient(error: BaseException | None) -> bool:
    """Whether a sqlite3 error means the file is busy or cannot be reached."""
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return True  # no code to judge by: treat as an outage, as before
    return (code & 0xFF) in _TRANSIENT_SQLITE_CODES


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """Test each pooled connection before use, in one round trip.

    SQLAlchemy's ``pool_pre_ping`` on asyncpg wraps its ping in ``BEGIN`` ... ``ROLLBACK``
    (three round trips), more than the one query of a post page costs. A connection that
    does not answer is replaced (``DisconnectionError`` makes the pool try another), so
    connections that died with a server restart never fail a request.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        try:
            # The simple-query protocol: nothing to prepare, one round trip.
            await_only(dbapi_connection.driver_connection.execute("SELECT 1"))
        except Exception as error:
            raise DisconnectionError(f"ping failed: {_short(error)}") from error


def _is_transient(error: DBAPIError) -> bool:
    """Whether PostgreSQL said it cannot serve right now (see _TRANSIENT_SQLSTATES)."""
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(
        error.orig.__cause__ if error.orig is not None else None, "sqlstate", None
    )
    if not isinstance(sqlstate, str):
        return False
    return _is_transient_state(sqlstate)


def _is_transient_state(sqlstate: str) -> bool:
    return sqlstate in _TRANSIENT_SQLSTATES or sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES


def _short(error: BaseException) -> str:
    text_ = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text_[0][:200] if text_ else type(error).__name__
