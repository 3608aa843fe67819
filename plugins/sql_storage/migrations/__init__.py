"""Schema migrations on Alembic, without hand-written scripts for what plugins add.

Two steps, in one transaction that one process at a time runs (see ``SqlStorage.migrate_schema``):

1. Versioned revisions (``versions/``) for core changes that are not simply additive:
   renames, type changes, data moves. The database remembers how far it got in the
   ``cms_alembic_version`` table. ``0001`` is the baseline: a database made before Alembic
   is stamped with it.
2. Alembic's autogenerate comparison (``compare_metadata``) of the schema that the core and
   the installed plugins declare with the database. Additive changes -- new tables, new
   nullable columns, new indexes -- are made. Everything else is reported and left alone:
   the columns of an uninstalled plugin keep their data, a changed type stays as it is.

The functions here are synchronous: they run on the storage's connection through
``AsyncConnection.run_sync``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, MetaData, Table, inspect
from sqlalchemy.engine import Connection

__all__ = [
    "BASELINE",
    "FTS_TABLE",
    "SCRIPTS",
    "TABLE_PREFIX",
    "VERSION_TABLE",
    "MigrationPlan",
    "apply_plan",
    "plan_migration",
    "script_directory",
]

# Alembic narrates every run at INFO ("Context impl SQLiteImpl." ...); cms reports what
# changed itself, so only Alembic's warnings reach the log.
logging.getLogger("alembic").setLevel(logging.WARNING)

#: Where the revision scripts live (``versions/``) beside their template.
SCRIPTS = Path(__file__).parent
VERSION_TABLE = "cms_alembic_version"
#: Only tables with this prefix are cms's: a shared PostgreSQL database may hold others.
TABLE_PREFIX = "cms_"
#: The revision a database made before Alembic is stamped with.
BASELINE = "0001"
#: Revision files are named r<id>_<slug>.py: a module name may not start with a digit.
FILE_TEMPLATE = "r%(rev)s_%(slug)s"


def script_directory() -> ScriptDirectory:
    """The Alembic script directory of the core schema's revisions."""
    return ScriptDirectory(
        str(SCRIPTS),
        file_template=FILE_TEMPLATE,
        version_locations=[str(SCRIPTS / "versions")],
    )


@dataclass
class MigrationPlan:
    """What bringing one database up to date takes, as found under the migration lock."""

    #: No cms table exists yet: everything is created and stamped with the newest revision.
    fresh: bool = False
    #: cms tables exist but no version table: a database made before Alembic.
    needs_baseline: bool = False
    #: Versioned revisions not applied yet, as "revision <id>: <message>".
    revisions: list[str] = field(default_factory=list)
    #: Additive changes autogenerate found (made by :func:`apply_plan`).
    additive: list[str] = field(default_factory=list)
    #: Differences cms never changes by itself: leftover columns, tables and indexes of
    #: uninstalled plugins, changed types or nullability. Reported only.
    kept: list[str] = field(default_factory=list)
    #: Declared changes that cannot be made on existing rows without a versioned revision
    #: (a NOT NULL column without a server default, a new unique constraint...).
    blocking: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        """Everything :func:`apply_plan` would change (revisions, then additive changes)."""
        return [*self.revisions, *self.additive]

    @property
    def has_tables(self) -> bool:
        """Whether the database holds cms data already (so SQLite is backed up first)."""
        return not self.fresh


#: SQLite's full-text index (an FTS5 virtual table and the tables FTS5 keeps for it): made by
#: the storage itself (``SqlStorage.migrate_schema``), not declared, never compared.
FTS_TABLE = "cms_fts"


def _is_ours(name: str | None, type_: str, _parent: Any) -> bool:
    if type_ == "table":
        return (
            name is not None
            and name.startswith(TABLE_PREFIX)
            and name != VERSION_TABLE
            and name != FTS_TABLE
            and not name.startswith(FTS_TABLE + "_")
        )
    return True


def _context(conn: Connection, metadata: MetaData | None = None) -> MigrationContext:
    return MigrationContext.configure(
        conn,
        opts={
            "version_table": VERSION_TABLE,
            "include_name": _is_ours,
            "compare_type": True,
            "target_metadata": metadata,
        },
    )


def _cms_tables(conn: Connection) -> set[str]:
    return {name for name in inspect(conn).get_table_names() if _is_ours(name, "table", None)}


def _columns(columns: Iterable[Any]) -> str:
    return ", ".join(str(getattr(column, "name", column)) for column in columns)


def _type_name(conn: Connection, type_: Any) -> str:
    try:
        return str(type_.compile(dialect=conn.dialect))
    except Exception:  # a reflected type the dialect cannot render: its repr is enough
        return repr(type_)


@dataclass
class _Diffs:
    additive: list[tuple[str, Callable[[Operations], None]]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)


def _compare(conn: Connection, metadata: MetaData) -> _Diffs:
    """Classify what autogenerate finds between ``metadata`` and the database."""
    found = _Diffs()
    new_tables: set[str] = set()
    diffs = compare_metadata(_context(conn, metadata), metadata)
    # Tables first: indexes of a new table are created with it.
    for diff in diffs:
        if isinstance(diff, tuple) and diff[0] == "add_table":
            table: Table = diff[1]
            new_tables.add(table.name)
            found.additive.append((f"created table {table.name}", _creator(table)))
    for diff in diffs:
        if isinstance(diff, list):  # column modifications come grouped per column
            for change in diff:
                found.kept.append(_describe_modification(conn, change))
            continue
        kind = diff[0]
        if kind == "add_table":
            continue
        if kind == "add_column":
            _, _, table_name, column = diff
            _classify_new_column(found, table_name, column)
        elif kind == "add_index":
            index: Index = diff[1]
            if index.table is not None and index.table.name in new_tables:
                continue
            _classify_new_index(found, index)
        elif kind == "remove_column":
            _, _, table_name, column = diff
            found.kept.append(
                f"column {table_name}.{column.name} is not declared by the core or any "
                "installed plugin: kept with its data"
            )
        elif kind == "remove_table":
            found.kept.append(f"table {diff[1].name} is not declared: kept with its data")
        elif kind == "remove_index":
            index = diff[1]
            table_name = index.table.name if index.table is not None else "?"
            found.kept.append(f"index {index.name} on {table_name} is not declared: kept")
        elif kind in ("add_constraint", "add_fk"):
            constraint = diff[1]
            table_name = constraint.table.name if constraint.table is not None else "?"
            found.blocking.append(
                f"{kind.removeprefix('add_').replace('fk', 'foreign key')} "
                f"{constraint.name or ''} on {table_name} ({_columns(constraint.columns)}) "
                "cannot be added to existing rows automatically: it needs a versioned revision"
            )
        else:
            found.kept.append(f"not applied: {kind} {_describe_object(diff)}")
    return found


def _creator(table: Table) -> Callable[[Operations], None]:
    def create(op: Operations) -> None:
        table.create(op.get_bind())

    return create


def _classify_new_column(found: _Diffs, table_name: str, column: Column[Any]) -> None:
    if not column.nullable and column.server_default is None:
        found.blocking.append(
            f"column {table_name}.{column.name} is NOT NULL without a server default: "
            "existing rows need a value, so it needs a versioned revision"
        )
        return

    def add(op: Operations, name: str = table_name, declared: Column[Any] = column) -> None:
        # A copy: the declared column belongs to its Table and may not join another.
        op.add_column(name, declared._copy())

    found.additive.append((f"added column {table_name}.{column.name}", add))


def _classify_new_index(found: _Diffs, index: Index) -> None:
    table_name = index.table.name if index.table is not None else "?"
    if index.unique:
        found.blocking.append(
            f"unique index {index.name} on {table_name} cannot be added to existing rows "
            "automatically: it needs a versioned revision"
        )
        return

    def create(op: Operations, declared: Index = index) -> None:
        declared.create(op.get_bind())

    found.additive.append(
        (f"added index {index.name} on {table_name} ({_columns(index.expressions)})", create)
    )


def _describe_modification(conn: Connection, change: tuple[Any, ...]) -> str:
    kind, _schema, table_name, column_name = change[:4]
    where = f"column {table_name}.{column_name}"
    if kind == "modify_type":
        existing, declared = change[5], change[6]
        return (
            f"{where} is {_type_name(conn, existing)} in the database but "
            f"{_type_name(conn, declared)} is declared: types are never changed "
            "automatically (see docs/storage.md)"
        )
    if kind == "modify_nullable":
        declared_nullable = change[6]
        wanted = "nullable" if declared_nullable else "NOT NULL"
        return f"{where} is declared {wanted} but is not in the database: left as it is"
    return f"{where}: {kind.removeprefix('modify_')} differs from the declaration: left as it is"


def _describe_object(diff: tuple[Any, ...]) -> str:
    target = diff[1] if len(diff) > 1 else None
    name = getattr(target, "name", None)
    return str(name) if name else repr(diff[1:])[:200]


def plan_migration(conn: Connection, metadata: MetaData) -> MigrationPlan:
    """Find what the database needs, changing nothing."""
    tables = _cms_tables(conn)
    context = _context(conn, metadata)
    heads = context.get_current_heads()
    script = script_directory()
    if not tables and not heads:
        return MigrationPlan(
            fresh=True, additive=[f"created table {t.name}" for t in metadata.sorted_tables]
        )
    plan = MigrationPlan(needs_baseline=not heads)
    start: Sequence[str] = heads or (BASELINE,)
    for revision in reversed(list(script.iterate_revisions("heads", tuple(start)))):
        if revision.revision in start:
            continue
        plan.revisions.append(f"revision {revision.revision}: {revision.doc}")
    diffs = _compare(conn, metadata)
    plan.additive = [description for description, _ in diffs.additive]
    plan.kept, plan.blocking = diffs.kept, diffs.blocking
    return plan


def apply_plan(conn: Connection, metadata: MetaData, plan: MigrationPlan) -> list[str]:
    """Make the changes of ``plan`` (found on this connection, in this transaction):
    create a fresh schema, or stamp a legacy one, run pending revisions, then the additive
    changes autogenerate finds after them. Return what was done."""
    script = script_directory()
    context = _context(conn, metadata)
    if plan.fresh:
        metadata.create_all(conn)
        context.stamp(script, "heads")
        return [f"created table {table.name}" for table in metadata.sorted_tables]
    done: list[str] = []
    if plan.needs_baseline:
        # Made before Alembic: the baseline describes it (nothing to run, only to record).
        context.stamp(script, BASELINE)
        done.append(f"recorded schema revision {BASELINE} (baseline) in {VERSION_TABLE}")
    if plan.revisions:

        def upgrade(heads: Any, _context: MigrationContext) -> Any:
            return script._upgrade_revs("heads", heads)

        runner = MigrationContext.configure(
            conn,
            opts={"version_table": VERSION_TABLE, "fn": upgrade, "script": script},
        )
        with Operations.context(runner):
            runner.run_migrations()
        done.extend(f"applied {revision}" for revision in plan.revisions)
    # Revisions may have changed what is left to add: compare again.
    operations = Operations(context)
    for description, change in _compare(conn, metadata).additive:
        change(operations)
        done.append(description)
    return done
