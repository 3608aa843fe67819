"""The hottest reads, compiled once and run straight on the driver.

A post page needs one statement. Through SQLAlchemy's execution machinery (cache-key
hashing, execution context, result objects; on PostgreSQL also ``BEGIN`` and ``ROLLBACK``
round trips around it) that statement costs several times what the database spends on
it. A :class:`PreparedRead` is the statement compiled once for one dialect, with
SQLAlchemy's own converters for parameters and results, run on the DB-API connection
(stdlib ``sqlite3``) or the asyncpg connection (which keeps it prepared on the server).
A single statement outside a transaction reads one consistent snapshot on both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["PreparedRead"]


def _result_converter(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    try:
        converter: Callable[[Any], Any] | None = type_._cached_result_processor(dialect, None)
    except (TypeError, InvalidRequestError):
        # Numeric types choose by the driver's column type code, unknown until a row comes
        # back; both drivers return our numeric columns (float, int) as Python numbers.
        return None
    return converter


@dataclass(frozen=True)
class PreparedRead:
    """A statement with named ``bindparam``s, compiled for one dialect."""

    sql: str
    parameters: tuple[str, ...]
    #: Per parameter: SQLAlchemy's conversion to what the database stores.
    binders: tuple[Callable[[Any], Any] | None, ...]
    #: Values of parameters the statement fixes itself (SQLite's ``OFFSET 0``, say).
    fixed: Mapping[str, Any]
    columns: tuple[str, ...]
    #: Per result column: SQLAlchemy's conversion from what the driver returns.
    converters: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def compile(cls, statement: ClauseElement, dialect: Dialect) -> PreparedRead:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        entries = compiled._result_columns or []
        parameters = tuple(compiled.positiontup or ())
        binders = cast("dict[str, Callable[[Any], Any]]", compiled._bind_processors)
        return cls(
            sql=compiled.string,
            parameters=parameters,
            binders=tuple(binders.get(name) for name in parameters),
            fixed={name: value for name, value in compiled.params.items() if value is not None},
            columns=tuple(entry.keyname for entry in entries),
            converters=tuple(_result_converter(entry.type, dialect) for entry in entries),
        )

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional parameters for ``values`` by name."""
        fixed = self.fixed
        arguments = []
        for name, bind in zip(self.parameters, self.binders, strict=True):
            value = values[name] if name in values else fixed[name]
            arguments.append(bind(value) if bind is not None else value)
        return arguments

    def mappings(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Driver rows as dicts by column name, converted as SQLAlchemy would."""
        columns, converters = self.columns, self.converters
        return [
            {
                name: convert(value) if convert is not None and value is not None else value
                for name, convert, value in zip(columns, converters, row, strict=True)
            }
            for row in rows
        ]

    def rows(self, connection: Any, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run on a DB-API connection (``sqlite3``)."""
        cursor = connection.execute(self.sql, self.arguments(values))
        try:
            return self.mappings(cursor.fetchall())
        finally:
            cursor.close()

    async def fetch(self, connection: Any, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run on an asyncpg connection."""
        return self.mappings(await connection.fetch(self.sql, *self.arguments(values)))
