"""The SQLite read path of the hot pages: one thread hand-off per read, not one per call.

aiosqlite runs every DB-API call (cursor, execute, fetch, close, rollback) as its own trip
to its connection thread and back to the event loop; under load each trip waits for the
GIL, so a 50 µs indexed read costs over a millisecond of waiting. Here a whole read (its
statements and their rows) is one function run on one of a few threads, each holding its
own stdlib ``sqlite3`` connection: one hand-off there, one call back to the loop.

The statements of the hottest reads (a post by slug or id, a page of posts, a user by id)
are compiled once and run straight on the driver (see :mod:`.prepared`).

Connections are in WAL mode, so readers never wait for the writer, and each read sees
every commit made before it began: an edit is visible on the very next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql import ClauseElement

from .prepared import PreparedRead

__all__ = ["SqliteReadPool"]

T = TypeVar("T")

#: Threads (and connections) per process: reads of a local file need few; more only adds
#: GIL contention on a busy event loop.
READ_THREADS = 2
_DIALECT = SQLiteDialect_pysqlite()
_STOP = None


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class SqliteReadPool:
    """Run read functions ``work(connection)`` on a few threads with their own connections."""

    def __init__(self, path: Path, *, busy_timeout_ms: int, threads: int = READ_THREADS) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.threads = threads
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._stamps: sqlite3.Connection | None = None

    @staticmethod
    def prepare(statement: ClauseElement) -> PreparedRead:
        """Compile ``statement`` (with named ``bindparam``s) for :meth:`fetch`."""
        return PreparedRead.compile(statement, _DIALECT)

    def open(self) -> None:
        """Start the threads (each opens its connection on its first read)."""
        if self._workers:
            return
        for number in range(self.threads):
            worker = threading.Thread(
                target=self._serve, name=f"cms-sqlite-read-{number}", daemon=True
            )
            worker.start()
            self._workers.append(worker)

    def data_version(self) -> int | None:
        """SQLite's ``PRAGMA data_version`` on a connection that never writes: it changes
        whenever another connection (of any process) commits. About 3 µs, read from the
        WAL index in shared memory, so the event loop may ask it itself."""
        try:
            if self._stamps is None:
                self._stamps = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
            row = self._stamps.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0])

    def _connect(self) -> sqlite3.Connection:
        # Autocommit (we issue BEGIN ourselves when a read needs one snapshot); the
        # connection stays on this thread.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _serve(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                job = self._jobs.get()
                if job is _STOP:
                    return
                loop, future, work, snapshot = job
                result, error = None, None
                try:
                    if conn is None:
                        conn = self._connect()
                    if snapshot:
                        conn.execute("BEGIN")
                    try:
                        result = work(conn)
                    finally:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                except BaseException as caught:  # handed to the awaiting coroutine
                    error = caught
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_deliver, future, result, error)
        finally:
            if conn is not None:
                conn.close()

    async def run(self, work: Callable[[sqlite3.Connection], T], *, snapshot: bool = False) -> T:
        """``work(connection)`` on a pool thread. A single statement is a transaction of
        its own; ``snapshot`` makes every statement of ``work`` read the same snapshot."""
        if not self._workers:
            raise RuntimeError("storage is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, work, snapshot))
        return await future

    async def fetch(self, prepared: PreparedRead, **values: Any) -> list[dict[str, Any]]:
        """The rows of a prepared statement, as dicts by column name."""
        return await self.run(lambda conn: prepared.rows(conn, values))

    async def close(self) -> None:
        """Let running reads finish, then close every connection."""
        workers, self._workers = self._workers, []
        stamps, self._stamps = self._stamps, None
        if stamps is not None:
            stamps.close()
        for _ in workers:
            self._jobs.put(_STOP)
        for worker in workers:
            await asyncio.to_thread(worker.join)
