"""The PostgreSQL read path of the hot pages: one round trip per read.

Through SQLAlchemy's pool a post page's one ``SELECT`` came with a pre-ping and, on
asyncpg, a ``BEGIN`` and a ``ROLLBACK``: four round trips, each also costing the server.
Here the hottest reads (:mod:`.prepared`) run on a small asyncpg pool of their own:

- a single statement outside a transaction (it reads one snapshot by itself);
- no reset query when a connection goes back (these reads change no session state);
- no ping: a connection that died (a server restart) fails fast, is dropped by the pool,
  and the read is tried once more on a new connection, so a restart never fails a page
  that a working connection can serve.

Its connections come on top of the SQLAlchemy pool's (``pool_size`` more at most).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from cms.contracts import DependencyUnavailable

from .prepared import PreparedRead

__all__ = ["PostgresReadPool"]

# Same classes of SQLSTATE as the storage treats as "try again" (503).
_TRANSIENT_CLASSES = ("08", "53")
_TRANSIENT = frozenset({"57P01", "57P02", "57P03", "57014", "40001", "40P01", "55P03"})


async def _keep(_connection: Any) -> None:
    """No reset query on release: these connections only ever run plain reads."""


class PostgresReadPool:
    """Prepared reads on an asyncpg pool (see the module's docstring)."""

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
        self._pool: Any = None

    async def open(self) -> None:
        """Create the pool; connections open on first use."""
        if self._pool is not None:
            return
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=self.size,
            reset=_keep,
            timeout=self.connect_timeout_s,
            server_settings={"statement_timeout": str(self.statement_timeout_ms)},
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def fetch(
        self, prepared: PreparedRead, values: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The rows of ``prepared``; DependencyUnavailable when PostgreSQL cannot answer."""
        if self._pool is None:
            raise RuntimeError("storage is not open")
        for attempt in (1, 2):
            try:
                # asyncio.timeout, not acquire(timeout=...): that one runs a task per call.
                async with asyncio.timeout(self.acquire_timeout_s):
                    conn = await self._pool.acquire()
                try:
                    return await prepared.fetch(conn, values)
                finally:
                    await self._pool.release(conn)
            except asyncpg.PostgresError as error:
                state = error.sqlstate if isinstance(error.sqlstate, str) else ""
                if state in _TRANSIENT or state[:2] in _TRANSIENT_CLASSES:
                    raise DependencyUnavailable("database", _short(error)) from error
                raise
            except (asyncpg.InterfaceError, ConnectionError) as error:
                # A pooled connection that died with a restart: once more on a new one.
                if attempt == 2:
                    raise DependencyUnavailable("database", _short(error)) from error
            except (OSError, TimeoutError) as error:
                raise DependencyUnavailable("database", _short(error)) from error
        raise AssertionError("unreachable")


def _short(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__
