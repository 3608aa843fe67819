"""Schema migrations on Alembic (plugins/sql_storage/migrations), on both SQL backends.

Declared schema vs. database: additive changes are made, everything else is reported;
versioned revisions run once; SQLite is backed up before a change; concurrent migrations
do not race; ``cms serve`` applies or refuses by the ``auto_migrate`` policy.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cms.plugins.sql_storage import SqlStorage, migrations
from cms.plugins.sql_storage.schema import build_schema
from sqlalchemy import text

from cms import PostField, hookimpl
from cms.contracts import SchemaOutOfDate
from cms.core.site import Site
from tests.cli_support import CMS, cms_env, output_of, run_cms
from tests.conftest import (
    POSTGRES_URL_ENV,
    reset_postgres,
    service_url,
    setup_admin,
    site_of,
    write_settings,
)
from tests.test_storage import SubtitlePlugin, build_storage, new_post, raw

StorageFactory = Callable[..., Awaitable[SqlStorage]]


class RatingAsNumber:
    @hookimpl
    def register_post_fields(self, cms: Site) -> list[PostField]:
        return [PostField("rating", int)]


class RatingAsText:
    """The same field name with another type, as a new version of a plugin might declare."""

    @hookimpl
    def register_post_fields(self, cms: Site) -> list[PostField]:
        return [PostField("rating", str)]


@pytest.fixture
async def open_storage(
    site_dir: Path, storage_settings: dict[str, Any]
) -> AsyncIterator[StorageFactory]:
    opened: list[SqlStorage] = []

    async def factory(*plugins: tuple[str, object], **options: Any) -> SqlStorage:
        settings = {**storage_settings, "options": {**storage_settings["options"], **options}}
        storage = await build_storage(site_dir, settings, *plugins)
        opened.append(storage)
        return storage

    yield factory
    for storage in opened:
        await storage.close()


async def versions(storage: SqlStorage) -> list[str]:
    rows = await raw(storage, text(f"SELECT version_num FROM {migrations.VERSION_TABLE}"))
    return [row[0] for row in rows]


async def test_a_fresh_database_is_created_and_stamped(open_storage: StorageFactory) -> None:
    storage = await open_storage()
    report = await storage.migrate_schema()
    assert "created table cms_posts" in report.applied
    assert report.backup is None  # nothing to back up yet
    assert await versions(storage) == [migrations.script_directory().get_current_head()]
    again = await storage.migrate_schema()
    assert again.applied == [] and again.kept == [] and again.blocking == []


async def test_a_missing_index_is_added(open_storage: StorageFactory) -> None:
    storage = await open_storage()
    await storage.migrate()
    await raw(storage, text("DROP INDEX ix_cms_posts_author_updated"))
    dry = await storage.migrate_schema(dry_run=True)
    expected = "added index ix_cms_posts_author_updated on cms_posts (author_id, updated_at, id)"
    assert dry.applied == [expected]
    assert (await storage.migrate_schema()).applied == [expected]
    assert (await storage.migrate_schema()).applied == []


async def test_a_database_made_before_alembic_gets_the_baseline(
    open_storage: StorageFactory,
) -> None:
    storage = await open_storage()
    await storage.migrate()
    post = await new_post(storage, "Old")
    await raw(storage, text(f"DROP TABLE {migrations.VERSION_TABLE}"))
    report = await storage.migrate_schema()
    assert report.applied == [
        f"recorded schema revision 0001 (baseline) in {migrations.VERSION_TABLE}"
    ]
    assert await versions(storage) == ["0001"]
    assert await storage.get_post(post.id) == post


async def test_uninstalled_plugin_columns_are_kept_and_reported(
    open_storage: StorageFactory,
) -> None:
    with_plugin = await open_storage(("subtitle", SubtitlePlugin()))
    await with_plugin.migrate()
    post = await new_post(with_plugin, "Kept", subtitle="Still here")
    await with_plugin.close()

    without = await open_storage()
    report = await without.migrate_schema()
    assert report.applied == []
    assert report.kept == [
        "column cms_posts.subtitle is not declared by the core or any installed plugin: "
        "kept with its data"
    ]
    rows = await raw(
        without, text("SELECT subtitle FROM cms_posts WHERE id = :id"), {"id": post.id}
    )
    assert rows == [("Still here",)]


async def test_a_changed_type_is_reported_not_applied(open_storage: StorageFactory) -> None:
    number = await open_storage(("rating", RatingAsNumber()))
    await number.migrate()
    await new_post(number, "Rated", rating=5)
    await number.close()

    as_text = await open_storage(("rating", RatingAsText()))
    report = await as_text.migrate_schema(startup=True)
    assert report.applied == []
    assert len(report.kept) == 1
    assert report.kept[0].startswith("column cms_posts.rating is BIGINT in the database but ")
    assert "types are never changed automatically" in report.kept[0]
    # Still the old type: nothing was altered.
    again = await open_storage(("rating", RatingAsNumber()))
    assert (await again.migrate_schema()).kept == []


async def test_start_up_refuses_changes_without_auto_migrate(open_storage: StorageFactory) -> None:
    plain = await open_storage()
    await plain.migrate()
    await plain.close()
    manual = await open_storage(("subtitle", SubtitlePlugin()), auto_migrate=False)
    with pytest.raises(SchemaOutOfDate) as refused:
        await manual.migrate_schema(startup=True)
    assert "added column cms_posts.subtitle" in str(refused.value)
    assert "auto_migrate is false" in str(refused.value)
    # `cms migrate` (not start-up) applies it whatever the option says.
    assert (await manual.migrate_schema()).applied == ["added column cms_posts.subtitle"]
    assert (await manual.migrate_schema(startup=True)).applied == []


async def test_a_not_null_core_column_needs_a_revision(open_storage: StorageFactory) -> None:
    storage = await open_storage()
    await storage.migrate()
    # As if a core change declared a NOT NULL column and forgot its revision.
    from sqlalchemy import Column, Integer

    storage.schema.posts.append_column(Column("weight", Integer, nullable=False))
    report = await storage.migrate_schema()
    assert report.applied == []
    assert report.blocking == [
        "column cms_posts.weight is NOT NULL without a server default: existing rows need "
        "a value, so it needs a versioned revision"
    ]
    with pytest.raises(SchemaOutOfDate, match="weight"):
        await storage.migrate_schema(startup=True)


REVISION_0002 = '''"""Add a legacy_note column to cms_posts.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cms_posts") as batch:
        batch.add_column(sa.Column("legacy_note", sa.Text(), nullable=True))
    op.execute("UPDATE cms_posts SET legacy_note = 'migrated ' || slug")


def downgrade() -> None:
    pass
'''


async def test_a_versioned_revision_runs_once(
    open_storage: StorageFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = await open_storage()
    await storage.migrate()
    post = await new_post(storage, "Before 0002")
    scripts = tmp_path / "scripts"
    shutil.copytree(migrations.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "r0002_legacy_note.py").write_text(REVISION_0002, encoding="utf-8")
    monkeypatch.setattr(migrations, "SCRIPTS", scripts)

    with pytest.raises(SchemaOutOfDate, match="revision 0002"):
        await storage.migrate_schema(startup=True)
    report = await storage.migrate_schema()
    assert report.applied == ["applied revision 0002: Add a legacy_note column to cms_posts."]
    assert await versions(storage) == ["0002"]
    rows = await raw(
        storage, text("SELECT legacy_note FROM cms_posts WHERE id = :id"), {"id": post.id}
    )
    assert rows == [("migrated before-0002",)]
    # The column is not declared (only the revision made it): kept, and run only once.
    again = await storage.migrate_schema()
    assert again.applied == [] and len(again.kept) == 1 and "legacy_note" in again.kept[0]


async def test_concurrent_migrations_of_a_fresh_database_do_not_race(
    open_storage: StorageFactory,
) -> None:
    storages = [await open_storage() for _ in range(5)]
    reports = await asyncio.gather(*(storage.migrate_schema() for storage in storages))
    created = [report.applied for report in reports if report.applied]
    assert len(created) == 1, [report.applied for report in reports]
    assert "created table cms_users" in created[0]
    assert await versions(storages[0]) == ["0001"]
    for storage in storages:
        assert await storage.count_users() == 0


async def test_sqlite_is_backed_up_before_a_change(site_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    settings = {"backend": "sqlite", "options": {"path": str(path)}}
    plain = await build_storage(site_dir, settings)
    await plain.migrate()
    old = await new_post(plain, "Backed up")
    await plain.close()

    storage = await build_storage(site_dir, settings, ("subtitle", SubtitlePlugin()))
    try:
        report = await storage.migrate_schema()
        assert report.applied == ["added column cms_posts.subtitle"]
        assert report.backup is not None
        backup = Path(report.backup)
        assert backup.name.startswith("site.db.backup-"), backup
        assert (await storage.migrate_schema()).backup is None  # no change, no backup
    finally:
        await storage.close()
    with sqlite3.connect(backup) as copy:
        columns = [row[1] for row in copy.execute("PRAGMA table_info(cms_posts)")]
        assert "subtitle" not in columns  # the state before the migration
        assert copy.execute("SELECT title FROM cms_posts").fetchall() == [(old.title,)]


# -- the command line ------------------------------------------------------------------------

SUBTITLE_PLUGIN = """
from cms import PostField, hookimpl


@hookimpl
def register_post_fields(cms):
    return [PostField("subtitle", str, label="Subtitle", max_length=200)]
"""


def _settings(folder: Path, storage: str, extra: str = "") -> Path:
    return write_settings(folder, f'[plugins]\ndir = "plugins"\n{extra}\n{storage}')


SQLITE = '[storage]\nbackend = "sqlite"\noptions = { path = "cms.db" }\n'


def _postgres() -> str:
    url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    return f'[storage]\nbackend = "postgres"\noptions = {{ url = "{url}" }}\n'


@pytest.fixture(params=["sqlite", "postgres"])
async def storage_toml(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return SQLITE
    section = _postgres()
    await reset_postgres(service_url(POSTGRES_URL_ENV, "PostgreSQL"))
    return section


async def _rows(site_folder: Path) -> list[tuple[Any, ...]]:
    """Every post row as the database holds it (all columns), through the site's storage."""
    site = Site(make_settings_from(site_folder))
    await site.configure()
    await site.storage.open()
    try:
        assert isinstance(site.storage, SqlStorage)
        return [
            tuple(row)
            for row in await raw(site.storage, text("SELECT * FROM cms_posts ORDER BY id"))
        ]
    finally:
        await site.storage.close()


def backups_in(folder: Path) -> list[Path]:
    return list(folder.glob("cms.db.backup-*"))


def make_settings_from(folder: Path) -> Any:
    from cms.core.settings import load_settings

    return load_settings(folder / "settings.toml")


async def test_installing_and_uninstalling_a_field_plugin_with_cms_migrate(
    tmp_path: Path, storage_toml: str, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMS_SECRET_KEY", "test secret key, not for production")
    (tmp_path / "plugins").mkdir()
    settings = _settings(tmp_path, storage_toml)
    assert run_cms("migrate", "--settings", settings, cwd=tmp_path).returncode == 0

    # A site with content.
    from cms.web.app import create_app

    client = await aiohttp_client(await create_app(make_settings_from(tmp_path)))
    await setup_admin(client)
    for number in range(3):
        await new_post(site_of(client).storage, f"Post {number}", author_id=1)
    await client.close()
    before = await _rows(tmp_path)

    # Install the plugin: cms migrate adds its column; no existing value changes.
    (tmp_path / "plugins" / "subtitle.py").write_text(SUBTITLE_PLUGIN, encoding="utf-8")
    result = run_cms("migrate", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert "added column cms_posts.subtitle" in result.stdout.splitlines()
    assert "1 change(s) applied." in result.stdout
    if storage_toml == SQLITE:
        assert "Backed up the database to " in result.stdout
        assert backups_in(tmp_path), output_of(result)
    after = await _rows(tmp_path)
    assert [row[:-1] for row in after] == before
    assert [row[-1] for row in after] == [None, None, None]

    client = await aiohttp_client(await create_app(make_settings_from(tmp_path)))
    site = site_of(client)
    await site.storage.update_post(1, {"subtitle": "Kept after uninstall"}, editor_id=None)
    await client.close()

    # Uninstall it: the site works, the column keeps its data and cms migrate lists it.
    (tmp_path / "plugins" / "subtitle.py").unlink()
    result = run_cms("migrate", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert result.stdout.splitlines() == [
        "Left as is (cms never drops or changes these by itself):",
        "  column cms_posts.subtitle is not declared by the core or any installed plugin: "
        "kept with its data",
        "The schema is up to date.",
    ], output_of(result)
    client = await aiohttp_client(await create_app(make_settings_from(tmp_path)))
    page = await client.get("/posts/post-0")
    assert page.status == 200
    assert "Kept after uninstall" not in await page.text()
    await client.close()
    rows = await _rows(tmp_path)
    assert rows[0][-1] == "Kept after uninstall"


def test_serve_refuses_to_start_with_pending_changes_and_auto_migrate_off(
    tmp_path: Path,
) -> None:
    (tmp_path / "plugins").mkdir()
    settings = _settings(tmp_path, SQLITE)
    assert run_cms("migrate", "--settings", settings, cwd=tmp_path).returncode == 0
    (tmp_path / "plugins" / "subtitle.py").write_text(SUBTITLE_PLUGIN, encoding="utf-8")
    manual = SQLITE.replace('path = "cms.db"', 'path = "cms.db", auto_migrate = false')
    settings = _settings(tmp_path, manual)
    result = run_cms("serve", "--settings", settings, cwd=tmp_path, timeout=30)
    assert result.returncode == 1, output_of(result)
    assert result.stderr.strip().splitlines() == [
        "Error: cannot start: the database needs 1 schema change(s) (added column "
        "cms_posts.subtitle) and [storage] options auto_migrate is false; "
        f"run: cms migrate --settings {settings}"
    ], output_of(result)
    dry = run_cms("migrate", "--dry-run", "--settings", settings, cwd=tmp_path)
    assert dry.stdout.splitlines() == [
        "would apply: added column cms_posts.subtitle",
        "1 change(s) pending.",
    ], output_of(dry)


def test_several_cms_migrate_at_once_on_a_fresh_database(tmp_path: Path, storage_toml: str) -> None:
    """What ``cms serve --workers N`` does at start: N processes migrate one database."""
    settings = _settings(tmp_path, storage_toml)
    processes = [
        subprocess.Popen(
            [str(CMS), "migrate", "--settings", str(settings)],
            cwd=tmp_path,
            env=cms_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=90) for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    created = [line for out, _ in outputs for line in out.splitlines() if "created table" in line]
    tables = build_schema([], postgres="postgres" in storage_toml).metadata.sorted_tables
    assert sorted(created) == sorted(f"created table {table.name}" for table in tables), outputs
    assert sum("The schema is up to date." in out for out, _ in outputs) == 2, outputs
    final = run_cms("migrate", "--dry-run", "--settings", settings, cwd=tmp_path)
    assert final.stdout.strip() == "The schema is up to date.", output_of(final)
