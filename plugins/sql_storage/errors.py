"""Database errors as cms sees them: an outage is DependencyUnavailable (a 503), a
mistake stays an error."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from cms.contracts import DependencyUnavailable

__all__ = ["short_reason", "sqlite_transient", "translate_errors"]

# SQLSTATEs of a PostgreSQL that is unreachable, restarting, overloaded or too slow: all
# answered as "try again" (503). Class 08: connection exceptions; 53: insufficient
# resources; 57P01-57P03: shut down or starting up; 57014: statement timeout; 40001/40P01:
# serialization failure or deadlock; 55P03: lock not available.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53")
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57014", "40001", "40P01", "55P03"})
# SQLite's primary result codes that mean "not now" rather than "wrong": BUSY, LOCKED,
# IOERR, FULL, CANTOPEN, PROTOCOL.
_TRANSIENT_SQLITE_CODES = frozenset({5, 6, 10, 13, 14, 15})


def sqlite_transient(error: BaseException | None) -> bool:
    """Whether a sqlite3 error means the file is busy or cannot be reached."""
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return True  # no code to judge by: treat as an outage, as before
    return (code & 0xFF) in _TRANSIENT_SQLITE_CODES


@asynccontextmanager
async def translate_errors(*, sqlite: bool) -> AsyncIterator[None]:
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
        if sqlite and not sqlite_transient(error.orig):
            raise
        raise DependencyUnavailable("database", short_reason(error)) from error
    except sqlite3.OperationalError as error:  # from the SQLite read pool's connections
        if not sqlite_transient(error):
            raise
        raise DependencyUnavailable("database", short_reason(error)) from error
    except (InterfaceError, PoolTimeoutError, OSError, TimeoutError) as error:
        raise DependencyUnavailable("database", short_reason(error)) from error
    except asyncpg.InternalClientError as error:
        # Not translated by SQLAlchemy: a connection PostgreSQL was terminating when it was
        # used ("another operation is in progress"), as in a restart (see pg_reads).
        raise DependencyUnavailable("database", short_reason(error)) from error
    except DBAPIError as error:
        if error.connection_invalidated or _is_transient(error):
            raise DependencyUnavailable("database", short_reason(error)) from error
        raise


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


def short_reason(error: BaseException) -> str:
    text_ = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text_[0][:200] if text_ else type(error).__name__
