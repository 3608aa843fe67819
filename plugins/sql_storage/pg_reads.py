"""The PostgreSQL read path of the hot pages: one round trip per read.

Through SQLAlchemy's pool a post page's one ``SELECT`` came with a pre-ping and, on
asyncpg, a ``BEGIN`` and a ``ROLLBACK``: four round trips, each also costing the server.
Here the hottest reads (:mod:`.prepared`) run on a small pool of asyncpg connections of
their own:

- a single statement outside a transaction (it reads one snapshot by itself);
- no reset query when a connection goes back (these reads change no session state), and
  no task, shield or timer per read: taking an idle connection and giving it back are a
  list pop and a list append (asyncpg's own pool spent about as long on acquire and
  release as the read itself took);
- no ping: a connection that died (a server restart) fails fast, is dropped, and the read
  is tried once more on a new connection, so a restart never fails a page that a working
  connection can serve;
- a read that fails or is cancelled half-way closes its connection rather than hand a
  connection in an unknown state to the next read.

Its connections come on top of the SQLAlchemy pool's (``pool_size`` more at most).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from cms.contracts import DependencyUnavailable

from .prepared import PreparedRead

__all__ = ["PostgresReadPool"]

# Same classes of SQLSTATE as the storage treats as "try again" (503).
_TRANSIENT_CLASSES = ("08", "53")
_TRANSIENT = frozenset({"57P01", "57P02", "57P03", "57014", "40001", "40P01", "55P03"})


class PostgresReadPool:
    """Prepared reads on a few asyncpg connections (see the module's docstring)."""

    def __init__(
        self,
        dsn: str,
        *,
        size: int,
        connect_timeout_s: float,
        acquire_timeout_s: float,
        statement_timeout_ms: int,
    ) -> None:
        self.dsn = dsn
        self.size = size
        self.connect_timeout_s = connect_timeout_s
        self.acquire_timeout_s = acquire_timeout_s
        self.statement_timeout_ms = statement_timeout_ms
        self._open = False
        self._idle: list[Any] = []
        #: Connections open or being opened (idle or in use).
        self._count = 0
        #: Reads waiting for a connection: each is given one, or None to open its own.
        self._waiters: deque[asyncio.Future[Any]] = deque()

    async def open(self) -> None:
        """Start taking reads; connections open on first use."""
        self._open = True

    async def close(self) -> None:
        """Close the idle connections; those in use close when their read ends."""
        self._open = False
        idle, self._idle = self._idle, []
        self._count -= len(idle)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(RuntimeError("storage is closed"))
        self._waiters.clear()
        await asyncio.gather(*(conn.close() for conn in idle), return_exceptions=True)

    async def _connect(self) -> Any:
        return await asyncpg.connect(
            self.dsn,
            timeout=self.connect_timeout_s,
            server_settings={"statement_timeout": str(self.statement_timeout_ms)},
        )

    async def _acquire(self) -> Any:
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
            self._count -= 1
        if self._count >= self.size:
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(self.acquire_timeout_s):
                    conn = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._release(waiter.result(), reuse=True)  # handed over too late
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            if conn is not None:
                return conn
        # A free place: open a connection in it (given back if opening fails).
        self._count += 1
        try:
            return await self._connect()
        except BaseException:
            self._count -= 1
            self._wake_one()
            raise

    def _release(self, conn: Any, *, reuse: bool) -> None:
        if not reuse or not self._open or conn.is_closed():
            self._count -= 1
            conn.terminate()
            self._wake_one()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _wake_one(self) -> None:
        """A place came free: the first waiter opens a connection of its own."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def fetch(
        self, prepared: PreparedRead, values: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The rows of ``prepared``; DependencyUnavailable when PostgreSQL cannot answer."""
        if not self._open:
            raise RuntimeError("storage is not open")
        for attempt in (1, 2):
            try:
                conn = await self._acquire()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                raise DependencyUnavailable("database", _short(error)) from error
            reuse = False
            try:
                rows = await prepared.fetch(conn, values)
                reuse = True
                return rows
            except asyncpg.PostgresError as error:
                # The server answered: the connection is fine (unless the server is going).
                state = error.sqlstate if isinstance(error.sqlstate, str) else ""
                reuse = state[:2] not in _TRANSIENT_CLASSES and state not in _TRANSIENT
                if not reuse:
                    raise DependencyUnavailable("database", _short(error)) from error
                raise
            except (asyncpg.InterfaceError, asyncpg.InternalClientError, ConnectionError) as error:
                # A connection that died with a restart: once more on a new one. An idle
                # connection can be taken between PostgreSQL's "terminating connection"
                # and the socket's close: asyncpg then refuses it as busy consuming that
                # error (InternalClientError, "another operation is in progress").
                if attempt == 2:
                    raise DependencyUnavailable("database", _short(error)) from error
            except (OSError, TimeoutError) as error:
                raise DependencyUnavailable("database", _short(error)) from error
            finally:
                self._release(conn, reuse=reuse)
        raise AssertionError("unreachable")


def _short(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__
