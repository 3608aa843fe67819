"""Datetimes in and out of the tables: always aware, always UTC.

SQLite hands back naive datetimes (we store UTC) and keeps only the wall-clock digits of
what it is given; PostgreSQL's timestamptz hands back aware ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import ColumnElement, and_, func, literal_column

__all__ = ["aware", "database_now"]

T = TypeVar("T")


@overload
def aware(value: datetime) -> datetime: ...


@overload
def aware(value: T) -> T: ...


def aware(value: object) -> object:
    """``value`` in UTC if it is a datetime (a naive one counts as UTC); anything else as it is."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def database_now(is_sqlite: bool) -> Any:
    """The database's clock as SQL, comparable with stored times.

    One clock for every process and host (what makes a scheduled post appear everywhere at
    once). SQLite stores UTC as ``YYYY-MM-DD HH:MM:SS.ffffff`` text; its ``CURRENT_TIMESTAMP``
    has whole seconds, so the millisecond form of the same text is used.
    """
    if is_sqlite:
        return literal_column("strftime('%Y-%m-%d %H:%M:%f', 'now')")
    return func.current_timestamp()


def has_come(column: Any, is_sqlite: bool) -> ColumnElement[bool]:
    """``column`` (a publication time) has come, by the database's clock. Not a bound
    value: statements stay the same from one request to the next, so equal reads still
    coalesce, and every process and host sees a post appear at once."""
    return and_(column.is_not(None), column <= database_now(is_sqlite))
