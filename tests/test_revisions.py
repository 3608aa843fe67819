"""Revisions, as an editor and an API client use them: every save keeps one (plugin fields
included: the example plugin's meta description), the admin's history and side-by-side
comparison, restore (a new revision), ``[revisions] keep``, the API's three endpoints, and
the conflict screen that shows what another save changed. On SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
import re
import sys
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cms.content.tokens import issue_token
from tests.conftest import (
    ClientFactory,
    create_user,
    csrf_from,
    post_form,
    setup_admin,
    site_of,
)

Client = TestClient[Any, Any]
ROOT = Path(__file__).resolve().parent.parent


def seo_plugin() -> Any:
    """The example plugin package (examples/cms-seo), loaded from its folder."""
    folder = str(ROOT / "examples" / "cms-seo")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("cms_seo")


@pytest.fixture
async def editor(make_client: ClientFactory, storage_settings: dict[str, Any]) -> Client:
    client = await make_client(plugins=[("seo", seo_plugin())], storage=storage_settings)
    await setup_admin(client)
    return client


async def new_post(client: Client, **values: Any) -> int:
    data = {"title": "First", "slug": "", "body": "One\nTwo", "status": "draft", **values}
    response = await post_form(client, "/admin/posts/new", data)
    assert response.status == 303, await response.text()
    found = re.search(r"/admin/posts/(\d+)/edit", response.headers["Location"])
    assert found is not None
    return int(found[1])


async def edit(client: Client, post_id: int, **values: Any) -> Any:
    post = await site_of(client).storage.get_post(post_id)
    assert post is not None
    data = {
        "title": post.title,
        "slug": post.slug,
        "body": post.body,
        "status": post.status,
        "version": str(post.version),
        "meta_description": post.extra.get("meta_description") or "",
        **values,
    }
    return await post_form(
        client, f"/admin/posts/{post_id}/edit", data, form_page=f"/admin/posts/{post_id}/edit"
    )


async def test_every_save_keeps_a_revision_with_the_plugin_field(editor: Client) -> None:
    post_id = await new_post(editor, meta_description="Shown by search engines")
    assert (await edit(editor, post_id, body="One\nTwo changed", title="Second")).status == 303
    assert (await edit(editor, post_id, meta_description="A better summary")).status == 303
    revisions = await site_of(editor).storage.list_revisions(post_id)
    assert [r.number for r in revisions] == [3, 2, 1]
    assert [r.version for r in revisions] == [3, 2, 1]
    assert {r.user for r in revisions} == {"admin"}
    assert revisions[2].data["title"] == "First"
    assert revisions[2].fields == {"meta_description": "Shown by search engines"}
    assert revisions[1].data["body"] == "One\nTwo changed"
    assert revisions[0].fields == {"meta_description": "A better summary"}

    history = await (await editor.get(f"/admin/posts/{post_id}/history")).text()
    assert history.count('name="from"') == 3
    assert "#1 · Saved" in history and "Current" in history

    compared = await editor.get(f"/admin/posts/{post_id}/compare?from=1&to=3")
    assert compared.status == 200
    page = await compared.text()
    assert "3 fields changed (Title, Text, Meta description)" in page
    assert "<del>Two</del>" in page and "<ins>Two changed</ins>" in page
    assert "<del>Shown by search engines</del>" in page
    assert "<ins>A better summary</ins>" in page

    # Restore revision 1: everything it held comes back, as a fourth revision.
    token = await csrf_from(editor, f"/admin/posts/{post_id}/history")
    restored = await editor.post(
        f"/admin/posts/{post_id}/revisions/1/restore",
        data={"csrf_token": token, "version": "3"},
        allow_redirects=False,
    )
    assert restored.status == 303, await restored.text()
    post = await site_of(editor).storage.get_post(post_id)
    assert post is not None
    assert (post.title, post.body, post.version) == ("First", "One\nTwo", 4)
    assert post.extra["meta_description"] == "Shown by search engines"
    newest = (await site_of(editor).storage.list_revisions(post_id))[0]
    assert (newest.number, newest.kind) == (4, "restore")
    assert "#4 · Restored" in await (await editor.get(f"/admin/posts/{post_id}/history")).text()


async def test_a_stale_restore_changes_nothing(editor: Client) -> None:
    post_id = await new_post(editor)
    await edit(editor, post_id, body="Later")
    token = await csrf_from(editor, f"/admin/posts/{post_id}/history")
    stale = await editor.post(
        f"/admin/posts/{post_id}/revisions/1/restore",
        data={"csrf_token": token, "version": "1"},
        allow_redirects=False,
    )
    assert stale.status == 409
    assert "nothing was restored" in await stale.text()
    post = await site_of(editor).storage.get_post(post_id)
    assert post is not None and post.body == "Later"
    missing = await editor.get(f"/admin/posts/{post_id}/compare?from=9&to=current")
    assert missing.status == 404
    assert (await editor.get(f"/admin/posts/{post_id}/compare?from=x")).status == 400


async def test_keep_bounds_the_revisions(make_client: ClientFactory) -> None:
    client = await make_client(revisions={"keep": 3})
    await setup_admin(client)
    post_id = await new_post(client)
    for number in range(4):
        assert (await edit(client, post_id, body=f"Edit {number}")).status == 303
    revisions = await site_of(client).storage.list_revisions(post_id)
    assert [r.number for r in revisions] == [5, 4, 3]


async def test_the_conflict_screen_shows_what_the_other_save_changed(editor: Client) -> None:
    post_id = await new_post(editor, body="Line one\nLine two")
    # Someone else saves meanwhile (from version 1)...
    assert (await edit(editor, post_id, body="Line one\nLine two, theirs")).status == 303
    # ...and the author, who opened version 1, saves theirs.
    mine = await edit(editor, post_id, body="Line one, mine\nLine two", version="1")
    assert mine.status == 409
    page = await mine.text()
    assert "Saved meanwhile by admin" in page
    assert "<ins>Line two, theirs</ins>" in page
    assert "Line one, mine" in page  # the author's text is kept in the form
    post = await site_of(editor).storage.get_post(post_id)
    assert post is not None and post.body == "Line one\nLine two, theirs"
    # Having seen it, the author saves on top of the current version.
    again = await edit(editor, post_id, body="Line one, mine\nLine two, theirs", version="2")
    assert again.status == 303


async def test_the_api_lists_shows_and_restores_revisions(editor: Client) -> None:
    site = site_of(editor)
    token = (await issue_token(site, "admin")).secret
    bearer = {"Authorization": f"Bearer {token}"}
    post_id = await new_post(editor, meta_description="First summary")
    await edit(editor, post_id, title="Renamed", meta_description="Second summary")

    listed = await editor.get(f"/api/posts/{post_id}/revisions", headers=bearer)
    assert listed.status == 200
    body = await listed.json()
    assert [item["number"] for item in body["data"]] == [2, 1]
    assert body["meta"] == {"count": 2, "keep": 50}

    one = await (await editor.get(f"/api/posts/{post_id}/revisions/1", headers=bearer)).json()
    assert one["data"]["post"]["title"] == "First"
    assert one["data"]["post"]["fields"] == {"meta_description": "First summary"}
    missing = await editor.get(f"/api/posts/{post_id}/revisions/7", headers=bearer)
    assert missing.status == 404
    assert "no revision 7" in (await missing.json())["error"]["message"]

    stale = await editor.post(
        f"/api/posts/{post_id}/revisions/1/restore",
        headers={**bearer, "If-Match": f'"{post_id}-1"'},
    )
    assert stale.status == 412
    restored = await editor.post(
        f"/api/posts/{post_id}/revisions/1/restore",
        headers={**bearer, "If-Match": f'"{post_id}-2"'},
    )
    assert restored.status == 200, await restored.text()
    data = (await restored.json())["data"]
    assert (data["title"], data["meta_description"], data["version"]) == (
        "First",
        "First summary",
        3,
    )
    assert restored.headers["ETag"] == f'"{post_id}-3"'
    # Anonymous callers and other authors may not read a post's history.
    editor.session.cookie_jar.clear()
    assert (await editor.get(f"/api/posts/{post_id}/revisions")).status == 401
    await create_user(editor, "writer", "author")
    other = (await issue_token(site, "writer")).secret
    refused = await editor.get(
        f"/api/posts/{post_id}/revisions", headers={"Authorization": f"Bearer {other}"}
    )
    assert refused.status in (403, 404)


def form_of(page: str) -> dict[str, str]:
    """The text inputs and textareas of the post form as the page shows them."""
    found = {
        name: unescape(value)
        for name, value in re.findall(r'<input[^>]* name="([a-z_]+)" value="([^"]*)"', page)
    }
    for name, value in re.findall(
        r'<textarea[^>]* name="([a-z_]+)"[^>]*>\n?(.*?)</textarea>', page, re.S
    ):
        found[name] = unescape(value)
    return found


async def test_the_conflict_form_holds_both_changes_and_saving_keeps_them(editor: Client) -> None:
    post_id = await new_post(editor, body="One\nTwo", meta_description="Old summary")
    # Someone else changes the title and the plugin field (from version 1)...
    theirs = await edit(editor, post_id, title="Their title", meta_description="Their summary")
    assert theirs.status == 303
    # ...while the author, who opened version 1, changed the text only.
    mine = await edit(
        editor, post_id, version="1", title="First", meta_description="Old summary",
        body="One\nTwo, mine",
    )  # fmt: skip
    assert mine.status == 409
    page = await mine.text()
    assert page.count("you had not changed it, so theirs is now in the form") == 2
    form = form_of(page)
    assert form["title"] == "Their title" and form["meta_description"] == "Their summary"
    assert form["body"] == "One\nTwo, mine" and form["version"] == "2"
    # Saving the form as shown keeps both.
    saved = await edit(
        editor, post_id, **{k: form[k] for k in ("title", "meta_description", "body", "version")}
    )
    assert saved.status == 303
    post = await site_of(editor).storage.get_post(post_id)
    assert post is not None
    assert (post.title, post.body, post.extra["meta_description"]) == (
        "Their title",
        "One\nTwo, mine",
        "Their summary",
    )


async def test_a_field_both_changed_keeps_the_authors_and_shows_theirs(editor: Client) -> None:
    post_id = await new_post(editor, body="One\nTwo")
    assert (await edit(editor, post_id, body="One\nTwo, theirs")).status == 303
    mine = await edit(editor, post_id, version="1", body="One\nTwo, mine")
    assert mine.status == 409
    page = await mine.text()
    assert "you changed it too" in page and "<ins>Two, theirs</ins>" in page
    assert form_of(page)["body"] == "One\nTwo, mine"
