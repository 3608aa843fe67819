"""Autosave over real HTTP (``POST /admin/autosave``) on SQLite and PostgreSQL: it keeps
the editor's form apart from the post (a published post is unchanged), the editor offers it
back, restoring fills the form with the version the author started from (so a save after a
change meanwhile meets the conflict screen), Save and Discard forget it, and the trash takes
it with the post. Refusals are JSON 4xx that keep nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cms.contracts import RevisionNote, autosave_slot
from tests.conftest import (
    ADMIN_PASSWORD,
    ClientFactory,
    create_user,
    csrf_from,
    login,
    post_form,
    setup_admin,
    site_of,
)
from tests.test_revisions import edit, form_of, new_post

Client = TestClient[Any, Any]
AUTOSAVE = "/admin/autosave"


@pytest.fixture
async def admin(make_client: ClientFactory, storage_settings: dict[str, Any]) -> Client:
    client = await make_client(storage=storage_settings)
    await setup_admin(client)
    return client


async def autosave(client: Client, payload: Any, *, token: str | None = None) -> Any:
    if token is None:
        token = await csrf_from(client, "/admin/posts/new")
    data = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return await client.post(
        AUTOSAVE, data=data, headers={"Content-Type": "application/json", "X-CSRF-Token": token}
    )


async def test_an_autosave_leaves_the_post_as_it_is_and_comes_back(admin: Client) -> None:
    post_id = await new_post(admin, title="Kept", body="Published text", status="published")
    fields = {"title": "Kept, reworked", "body": "Text not saved yet", "tags": "garden"}
    answer = await autosave(admin, {"post_id": post_id, "kind": "post", "version": "1",
                                    "fields": fields})  # fmt: skip
    assert answer.status == 200, await answer.text()
    assert answer.headers["Cache-Control"] == "no-store"
    assert "saved_at" in await answer.json()
    # The post, its page and its revisions are as the last Save left them.
    post = await site_of(admin).storage.get_post(post_id)
    assert post is not None and (post.title, post.body, post.version) == (
        "Kept",
        "Published text",
        1,
    )
    assert "Published text" in await (await admin.get("/posts/kept")).text()

    editor = await (await admin.get(f"/admin/posts/{post_id}/edit")).text()
    assert "You have unsaved changes" in editor
    assert form_of(editor)["title"] == "Kept"  # the form shows what is saved
    restored = await (await admin.get(f"/admin/posts/{post_id}/edit?autosave=restore")).text()
    form = form_of(restored)
    assert (form["title"], form["body"], form["tags"], form["version"]) == (
        "Kept, reworked", "Text not saved yet", "garden", "1",
    )  # fmt: skip
    assert "Your unsaved changes are back in the form" in restored
    # Saving applies them and forgets the autosave.
    assert (await edit(admin, post_id, title=form["title"], body=form["body"])).status == 303
    assert (
        "You have unsaved changes"
        not in await (await admin.get(f"/admin/posts/{post_id}/edit")).text()
    )


async def test_a_restored_autosave_meets_the_conflict_screen(admin: Client) -> None:
    post_id = await new_post(admin, body="One\nTwo")
    fields = {"body": "One\nTwo, autosaved"}
    answer = await autosave(admin, {"post_id": post_id, "version": "1", "fields": fields})
    assert answer.status == 200
    # Saved meanwhile by someone else (another user, another process).
    await site_of(admin).storage.update_post(
        post_id, {"title": "Theirs"}, editor_id=None, revision=RevisionNote()
    )
    # The offer says so before the author restores.
    offer = await (await admin.get(f"/admin/posts/{post_id}/edit")).text()
    assert "Since you started, the post was saved again (version 2)" in offer
    form = form_of(await (await admin.get(f"/admin/posts/{post_id}/edit?autosave=restore")).text())
    assert form["version"] == "1" and form["body"] == "One\nTwo, autosaved"
    refused = await edit(admin, post_id, title="First", body=form["body"], version="1")
    assert refused.status == 409
    merged = form_of(await refused.text())
    assert (merged["title"], merged["body"]) == ("Theirs", "One\nTwo, autosaved")


async def test_a_new_post_is_autosaved_before_its_first_save(admin: Client) -> None:
    fields = {"title": "Not yet", "body": "Draft of a draft"}
    assert (
        await autosave(admin, {"post_id": None, "kind": "post", "fields": fields})
    ).status == 200
    page = await (await admin.get("/admin/posts/new")).text()
    assert "You have unsaved changes" in page
    form = form_of(await (await admin.get("/admin/posts/new?autosave=restore")).text())
    assert (form["title"], form["body"]) == ("Not yet", "Draft of a draft")
    # Pages keep their own.
    assert "You have unsaved changes" not in await (await admin.get("/admin/pages/new")).text()
    # Discard forgets it.
    response = await post_form(
        admin, "/admin/autosave/discard", {"post_id": "", "kind": "post"},
        form_page="/admin/posts/new",
    )  # fmt: skip
    assert response.status == 303 and response.headers["Location"] == "/admin/posts/new"
    assert "You have unsaved changes" not in await (await admin.get("/admin/posts/new")).text()
    # And the first Save of a new post forgets the new post's autosave.
    assert (await autosave(admin, {"post_id": None, "fields": fields})).status == 200
    await new_post(admin, title="Now saved")
    assert "You have unsaved changes" not in await (await admin.get("/admin/posts/new")).text()


async def test_the_trash_takes_the_autosave_with_the_post(admin: Client) -> None:
    post_id = await new_post(admin)
    assert (await autosave(admin, {"post_id": post_id, "fields": {"body": "x"}})).status == 200
    storage: Any = site_of(admin).storage
    user = await storage.get_user_by_username("admin")
    slot = autosave_slot(post_id, "post")
    assert await storage.get_autosave(user.id, slot) is not None
    await storage.trash_post(post_id, user_id=user.id)
    assert await storage.get_autosave(user.id, slot) is None


async def test_refusals_are_json_and_keep_nothing(make_client: ClientFactory) -> None:
    client = await make_client()
    await setup_admin(client)
    post_id = await new_post(client)
    token = await csrf_from(client, "/admin/posts/new")
    cases: list[tuple[Any, int, str]] = [
        ("{not json", 400, "not valid JSON"),
        ({"post_id": post_id}, 400, "fields"),
        ({"post_id": "7", "fields": {}}, 400, "post_id"),
        ({"post_id": post_id, "kind": "note", "fields": {}}, 400, "kind"),
        ({"post_id": 99_999, "fields": {"body": "x"}}, 404, "no such post"),
        ({"post_id": post_id, "fields": {"colour": "red"}}, 422, "colour is not a field"),
        ({"post_id": post_id, "fields": {"body": ["x"]}}, 422, "must be text"),
        ({"post_id": post_id, "fields": {"title": "a\x00b"}}, 422, "NUL"),
        ({"post_id": post_id, "fields": {"body": "x" * 500_001}}, 413, "too long"),
    ]
    for payload, status, words in cases:
        response = await autosave(client, payload, token=token)
        assert response.status == status, (payload if len(str(payload)) < 200 else "long", status)
        assert words in (await response.json())["error"]["message"], payload
    response = await client.post(AUTOSAVE, data="{}", headers={"X-CSRF-Token": token})
    assert response.status == 415
    # Without the session's token, or signed out.
    response = await autosave(client, {"post_id": post_id, "fields": {}}, token="wrong")
    assert response.status == 403
    storage: Any = site_of(client).storage
    user = await storage.get_user_by_username("admin")
    assert await storage.get_autosave(user.id, autosave_slot(post_id, "post")) is None
    # Signed out (a session and its token, no user): 401 in JSON.
    await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    response = await autosave(
        client, {"post_id": None, "fields": {}}, token=await csrf_from(client, "/login")
    )
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_an_author_autosaves_only_what_they_may_edit(make_client: ClientFactory) -> None:
    client = await make_client()
    await setup_admin(client)
    theirs = await new_post(client)
    await create_user(client, "alice", "author")
    await client.post(
        "/logout", data={"csrf_token": await csrf_from(client, "/admin/")}, allow_redirects=False
    )
    assert (await login(client, "alice", ADMIN_PASSWORD)).status in (302, 303)
    refused = await autosave(client, {"post_id": theirs, "fields": {"body": "mine now"}})
    assert refused.status == 403
    assert (await autosave(client, {"post_id": None, "kind": "page", "fields": {}})).status == 403
    own = await autosave(client, {"post_id": None, "kind": "post", "fields": {"title": "Mine"}})
    assert own.status == 200
    assert re.search(
        r"You have unsaved changes", await (await client.get("/admin/posts/new")).text()
    )


async def test_a_new_page_keeps_its_own_and_each_author_theirs(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    await setup_admin(client)
    fields = {"title": "About us", "body": "Who we are, not saved"}
    answer = await autosave(client, {"post_id": None, "kind": "page", "fields": fields})
    assert answer.status == 200
    assert "You have unsaved changes" not in await (await client.get("/admin/posts/new")).text()
    form = form_of(await (await client.get("/admin/pages/new?autosave=restore")).text())
    assert (form["title"], form["body"]) == ("About us", "Who we are, not saved")
    # Another author's editor offers nothing of it.
    await create_user(client, "alice", "editor")
    await client.post(
        "/logout", data={"csrf_token": await csrf_from(client, "/admin/")}, allow_redirects=False
    )
    assert (await login(client, "alice", ADMIN_PASSWORD)).status in (302, 303)
    response = await client.get("/admin/pages/new")
    assert response.status == 200
    assert "You have unsaved changes" not in await response.text()


async def test_an_autosave_overtaken_by_its_authors_save_is_not_kept(admin: Client) -> None:
    """An autosave still on its way when the author's Save lands (its version is older than
    the author's own save) would offer saved work back as unsaved: refused, nothing kept."""
    post_id = await new_post(admin, body="One")
    assert (await edit(admin, post_id, body="One, saved", version="1")).status == 303
    late = await autosave(admin, {"post_id": post_id, "version": "1", "fields": {"body": "On"}})
    assert late.status == 409
    assert "You saved this post since (version 2)" in (await late.json())["error"]["message"]
    page = await (await admin.get(f"/admin/posts/{post_id}/edit")).text()
    assert "You have unsaved changes" not in page
    # Typing on after the Save (the form now at version 2) is kept as usual.
    on = await autosave(admin, {"post_id": post_id, "version": "2", "fields": {"body": "Two"}})
    assert on.status == 200
