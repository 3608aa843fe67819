"""The trash, as an editor and an operator use it: Delete asks first, then the post leaves
every address and list; the admin's trash restores it (tags, history and old address
included), deletes one for good or empties it; what is older than [trash] days goes; the
API's DELETE trashes too; ``cms trash empty``. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cms.content.tokens import issue_token
from tests.cli_support import TEST_SECRET_KEY, output_of, run_cms
from tests.conftest import ClientFactory, csrf_from, post_form, setup_admin, site_of, write_settings

Client = TestClient[Any, Any]


@pytest.fixture
async def admin(make_client: ClientFactory, storage_settings: dict[str, Any]) -> Client:
    client = await make_client(storage=storage_settings)
    await setup_admin(client)
    return client


async def publish(client: Client, title: str, **values: Any) -> int:
    data = {"title": title, "slug": "", "body": "Words.", "status": "published", **values}
    response = await post_form(client, "/admin/posts/new", data)
    assert response.status == 303, await response.text()
    found = re.search(r"/admin/posts/(\d+)/edit", response.headers["Location"])
    assert found is not None
    return int(found[1])


async def trash(client: Client, post_id: int) -> Any:
    return await post_form(
        client, f"/admin/posts/{post_id}/delete", {}, form_page=f"/admin/posts/{post_id}/delete"
    )


async def test_delete_asks_then_the_post_leaves_every_list(admin: Client) -> None:
    post_id = await publish(admin, "Going away", tags="Python")
    await publish(admin, "Staying")
    asked = await admin.get(f"/admin/posts/{post_id}/delete")
    assert asked.status == 200
    page = await asked.text()
    assert "Delete “Going away”?" in page and "for 30 days" in page
    assert (await admin.get("/posts/going-away")).status == 200  # asking changed nothing

    moved = await trash(admin, post_id)
    assert moved.status == 303
    assert moved.headers["Location"] == "/admin/?notice=deleted"
    for path in ("/posts/going-away", "/tags/python"):
        assert (await admin.get(path)).status == 404, path
    for path in ("/", "/feed.xml", "/search?q=going", "/admin/", "/sitemap.xml"):
        answer = await admin.get(path)
        assert "Going away" not in await answer.text(), path
    listed = await (await admin.get("/admin/trash")).text()
    assert "Going away" in listed and "by admin" in listed


async def test_restore_brings_back_tags_history_and_address(admin: Client) -> None:
    post_id = await publish(admin, "Round trip", tags="Python, Notes")
    version = "1"
    edited = await post_form(
        admin,
        f"/admin/posts/{post_id}/edit",
        {
            "title": "Round trip",
            "slug": "round-trip-2",
            "body": "Edited.",
            "status": "published",
            "tags": "Python, Notes",
            "version": version,
        },
    )
    assert edited.status == 303
    before = await site_of(admin).storage.get_post(post_id)
    assert before is not None
    await trash(admin, post_id)
    (entry,) = await site_of(admin).storage.list_trash()
    token = await csrf_from(admin, "/admin/trash")
    restored = await admin.post(
        "/admin/trash",
        data={"csrf_token": token, "action": "restore", "id": str(entry.id)},
        allow_redirects=False,
    )
    assert restored.status == 303
    assert restored.headers["Location"] == f"/admin/posts/{post_id}/edit?notice=restored"
    after = await site_of(admin).storage.get_post(post_id)
    assert after is not None
    assert (after.title, after.slug, after.body, after.version) == (
        before.title,
        before.slug,
        before.body,
        before.version,
    )
    assert after.tag_names == ["Python", "Notes"]
    assert [r.number for r in await site_of(admin).storage.list_revisions(post_id)] == [2, 1]
    assert (await admin.get("/posts/round-trip-2")).status == 200
    old = await admin.get("/posts/round-trip", allow_redirects=False)
    assert old.status == 301 and old.headers["Location"] == "/posts/round-trip-2"
    assert "Round trip" in await (await admin.get("/tags/python")).text()
    assert await site_of(admin).storage.list_trash() == []


async def test_a_restored_post_whose_slug_was_taken_gets_another(admin: Client) -> None:
    first = await publish(admin, "Same name")
    await trash(admin, first)
    await publish(admin, "Same name")  # takes the slug meanwhile
    (entry,) = await site_of(admin).storage.list_trash()
    back = await site_of(admin).storage.restore_trashed(entry.id)
    assert back.slug == "same-name-2"


async def test_delete_for_good_empty_and_expiry(admin: Client) -> None:
    storage = site_of(admin).storage
    for title in ("One", "Two", "Three"):
        await trash(admin, await publish(admin, title))
    entries = await storage.list_trash()
    token = await csrf_from(admin, "/admin/trash")
    gone = await admin.post(
        "/admin/trash",
        data={"csrf_token": token, "action": "delete", "id": str(entries[0].id)},
        allow_redirects=False,
    )
    assert gone.status == 303
    assert len(await storage.list_trash()) == 2
    again = await admin.post(
        "/admin/trash", data={"csrf_token": token, "action": "delete", "id": str(entries[0].id)}
    )
    assert again.status == 404
    bad = await admin.post("/admin/trash", data={"csrf_token": token, "action": "burn"})
    assert bad.status == 400
    # Older than [trash] days: gone the next time the trash is opened.
    assert await storage.empty_trash(before=datetime.now(UTC) - timedelta(days=30)) == 0
    assert await storage.empty_trash(before=datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert "The trash is empty." in await (await admin.get("/admin/trash")).text()


async def test_the_api_delete_trashes_and_authors_cannot_open_the_trash(admin: Client) -> None:
    site = site_of(admin)
    post_id = await publish(admin, "Via the API")
    token = (await issue_token(site, "admin")).secret
    deleted = await admin.delete(
        f"/api/posts/{post_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert deleted.status == 204
    assert [entry.title for entry in await site.storage.list_trash()] == ["Via the API"]
    from tests.conftest import create_user, login

    await create_user(admin, "writer", "author")
    admin.session.cookie_jar.clear()
    await login(admin, "writer", "correct horse battery")
    assert (await admin.get("/admin/trash")).status == 403


async def test_cms_trash_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cms.content.posts import delete_post, save_post
    from cms.core.settings import load_settings
    from cms.core.site import Site

    monkeypatch.setenv("CMS_SECRET_KEY", TEST_SECRET_KEY)
    settings = write_settings(tmp_path, "[trash]\ndays = 7\n")
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        for title in ("Old", "New"):
            post = await save_post(site, None, {"title": title, "body": "x"}, user=None)
            await delete_post(site, post.id)
    finally:
        await site.storage.close()
    kept = run_cms("trash", "empty", "--settings", settings, cwd=tmp_path)
    assert kept.returncode == 0, output_of(kept)
    assert kept.stdout.strip() == "Deleted 0 post(s) for good. 2 stay in the trash."
    emptied = run_cms("trash", "empty", "--all", "--settings", settings, cwd=tmp_path)
    assert emptied.returncode == 0, output_of(emptied)
    assert emptied.stdout.strip() == "Deleted 2 post(s) for good."
