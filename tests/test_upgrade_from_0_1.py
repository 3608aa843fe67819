"""A site made by cms 0.1 upgrades by itself, and its export imports.

The site in tests/fixtures/site_made_by_0_1/ was made by cms 0.1 (its README says how):
three published posts, a draft, an admin, two API tokens. Loaded as it was into SQLite and
PostgreSQL, it is served by this cms the way ``cms serve`` starts (the schema brought up to
date on start-up, nothing lost), and ``cms import`` takes its export.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.cli_support import output_of, run_cms
from tests.conftest import (
    POSTGRES_URL_ENV,
    ClientFactory,
    login,
    reset_postgres,
    service_url,
    site_of,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "site_made_by_0_1"
PASSWORD = "correct horse battery staple"
PUBLISHED = ["Winter notes 3", "Winter notes 2", "Winter notes 1"]


def load_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURE / "sqlite.sql").read_text(encoding="utf-8"))


async def load_postgres(url: str) -> None:
    await reset_postgres(url)
    # psql's meta-commands (\restrict) are not SQL; the rest is plain statements.
    script = "\n".join(
        line
        for line in (FIXTURE / "postgres.sql").read_text(encoding="utf-8").splitlines()
        if not line.startswith("\\")
    )
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


async def served_as_before(client: Any) -> None:
    index = await (await client.get("/")).text()
    assert [title for title in PUBLISHED if title in index] == PUBLISHED
    assert "A draft" not in index
    post = await client.get("/posts/winter-notes-1")
    assert post.status == 200
    assert "the winter" in (await post.text()).lower()
    assert (await client.get("/posts/a-draft")).status == 404
    assert (await client.head("/posts/winter-notes-2")).status == 200
    # The admin of 0.1 signs in with the password it had, and sees all four posts.
    assert (await login(client, "admin", PASSWORD)).status == 303
    admin = await (await client.get("/admin/")).text()
    assert all(title in admin for title in [*PUBLISHED, "A draft"])
    # What 0.3 added works on the upgraded site: its posts are posts (not featured, no
    # tags), its menu is Home, and they take tags; its pages list is empty.
    assert '<a class="site-nav__link" href="/" aria-current="page">Home</a>' in index
    storage = site_of(client).storage
    old = await storage.get_post_by_slug("winter-notes-1")
    assert old is not None
    assert (old.kind, old.featured, old.tags, old.custom_excerpt) == ("post", False, (), None)
    await storage.update_post(old.id, {"tags": [("Winter", "winter")]}, editor_id=None)
    tagged = await (await client.get("/tags/winter")).text()
    assert "Winter notes 1" in tagged and "Winter notes 2" not in tagged
    assert "No pages yet." in await (await client.get("/admin/pages")).text()
    # Nothing of 0.1 is announced as newly published on the way.
    assert await storage.claim_due_publications() == []


async def test_a_sqlite_site_of_0_1_upgrades_by_itself(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "site.db"
    load_sqlite(path)
    client = await make_client(storage={"backend": "sqlite", "options": {"path": str(path)}})
    await served_as_before(client)


@pytest.mark.postgres
async def test_a_postgres_site_of_0_1_upgrades_by_itself(make_client: ClientFactory) -> None:
    url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    await load_postgres(url)
    client = await make_client(storage={"backend": "postgres", "options": {"url": url}})
    await served_as_before(client)


def test_an_export_of_0_1_imports(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("", encoding="utf-8")
    migrated = run_cms("migrate", cwd=tmp_path)
    assert migrated.returncode == 0, output_of(migrated)
    imported = run_cms("import", FIXTURE / "export.tar.gz", cwd=tmp_path)
    assert imported.returncode == 0, output_of(imported)
    assert "Imported 1 users, 4 posts, 2 tokens" in imported.stdout
    with sqlite3.connect(tmp_path / "cms.db") as db:
        titles = sorted(row[0] for row in db.execute("SELECT title FROM cms_posts"))
    assert titles == ["A draft", *sorted(PUBLISHED)]
