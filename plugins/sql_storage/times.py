"""Datetimes in and out of the tables: always aware, always UTC.

SQLite hands back naive datetimes (we store UTC) and keeps only the wall-clock digits of
what it is given; PostgreSQL's timestamptz hands back aware ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar, overload

__all__ = ["aware"]

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
