"""Engines as cms uses them: SQLite's connection settings and backups, PostgreSQL's
one-round-trip ping."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from .errors import short_reason

__all__ = ["backup_sqlite", "ping_on_checkout", "prepare_sqlite"]

log = logging.getLogger("cms.storage")


def prepare_sqlite(engine: AsyncEngine, begin: str, *, busy_timeout_ms: int) -> None:
    """Every connection of ``engine``: WAL, the busy timeout, foreign keys, and ``begin``
    (``BEGIN`` or ``BEGIN IMMEDIATE``) issued by us, not by pysqlite."""
    busy_timeout = busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's own transaction handling is off).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
        _enter_wal(cursor, busy_timeout)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)


def _enter_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to the busy timeout for the lock it needs.

    Switching a new database to WAL takes an exclusive lock, and SQLite does not wait for
    it through the busy handler: several processes opening one new database at once (the
    workers of ``cms serve --workers N``) would otherwise see "database is locked".
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as error:  # the driver's OperationalError, wrapped or not
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def backup_sqlite(path: Path, *, busy_timeout_ms: int) -> Path:
    """Copy the database to ``<db>.backup-<UTC time>`` (``VACUUM INTO``, a consistent
    copy even while we hold the write lock: WAL readers see the last commit)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.backup-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.backup-{stamp}-{number}")
    source = sqlite3.connect(path, timeout=busy_timeout_ms / 1000)
    try:
        source.execute("VACUUM INTO ?", (str(target),))
    finally:
        source.close()
    log.info("backed up %s to %s before migrating", path, target)
    return target


def ping_on_checkout(engine: AsyncEngine) -> None:
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
            raise DisconnectionError(f"ping failed: {short_reason(error)}") from error
