"""Bringing the schema up to date, one process at a time: the schema half of
``SqlStorage`` (see ``migrations`` for what changes are made)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from cms.contracts import MigrationReport, SchemaOutOfDate

from .engine import backup_sqlite, prepare_sqlite
from .errors import translate_errors
from .migrations import FTS_TABLE, MigrationPlan, apply_plan, plan_migration
from .parts import StorageParts
from .search import FTS_SCHEMA, FTS_TERMS_SCHEMA

__all__ = ["SchemaMigrations"]

_MIGRATE_LOCK = 73110001
# A migration waits this long for another process's migration (or a long write) to finish.
_MIGRATION_BUSY_TIMEOUT_MS = 600_000


class SchemaMigrations(StorageParts):
    """``migrate`` and ``migrate_schema``, mixed into ``SqlStorage``."""

    url: str
    sqlite_path: Path | None
    auto_migrate: bool

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
            needs_fts = self.is_sqlite and not await self._has_fts(conn)
            if needs_fts:
                plan.additive.append(f"created full-text index {FTS_TABLE} (FTS5)")
            if dry_run:
                report.applied = plan.changes
                return report
            if startup:
                self._check_startup_policy(plan)
            if not plan.changes and not plan.needs_baseline:
                return report
            if plan.changes and self.is_sqlite and plan.has_tables:
                assert self.sqlite_path is not None
                report.backup = str(
                    await asyncio.to_thread(
                        backup_sqlite, self.sqlite_path, busy_timeout_ms=_MIGRATION_BUSY_TIMEOUT_MS
                    )
                )
            if needs_fts:
                plan.additive.pop()
            report.applied = await conn.run_sync(apply_plan, self.schema.metadata, plan)
            if needs_fts:
                # Its rows are filled by index_missing (the web application does it in the
                # background at start-up), so a big site starts at once. An index made
                # before cms_fts_terms (an early 0.3) is made again: its words are unknown.
                await conn.execute(text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))
                await conn.execute(text(FTS_SCHEMA))
                await conn.execute(text(FTS_TERMS_SCHEMA))
                report.applied.append(f"created full-text index {FTS_TABLE} (FTS5)")
        return report

    async def _has_fts(self, conn: AsyncConnection) -> bool:
        """Whether the full-text index and its list of words are both there."""
        found = await conn.execute(
            text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (:a, :b)"),
            {"a": FTS_TABLE, "b": f"{FTS_TABLE}_terms"},
        )
        return bool(found.scalar_one() == 2)

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
        prepare_sqlite(engine, "BEGIN IMMEDIATE", busy_timeout_ms=_MIGRATION_BUSY_TIMEOUT_MS)
        try:
            async with translate_errors(sqlite=self.is_sqlite), engine.begin() as conn:
                yield conn
        finally:
            await engine.dispose()
