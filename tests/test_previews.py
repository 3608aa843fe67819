"""Previews of unpublished posts: at their own address for people who may edit them, and
through a secret preview link (made, revoked and remade in the editor) for anyone; never
cached, never indexed, with a banner that says what the page is. Over HTTP, and in a real
browser for the anonymous reader of a preview link."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import (
    ClientFactory,
    create_user,
    login,
    post_form,
    setup_admin,
)
from tests.test_browser import need_chromium, open_page
from tests.test_browser import server as server  # the fixture: a real cms serve

Client = TestClient[Any, Any]
_LINK = re.compile(r'id="preview-link" value="([^"]+)"')


@pytest.fixture
async def admin(make_client: ClientFactory) -> Client:
    client = await make_client()
    await setup_admin(client)
    return client


async def new_post(client: Client, *, kind: str = "post", **values: Any) -> str:
    data = {"title": "Work in progress", "slug": "", "body": "Not yet.", "status": "draft"}
    path = "/admin/posts/new" if kind == "post" else "/admin/pages/new"
    response = await post_form(client, path, {**data, **values})
    assert response.status == 303, await response.text()
    return str(response.headers["Location"]).split("?")[0]


async def anonymous_get(client: Client, path: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        response = await session.get(client.make_url(path), allow_redirects=False)
        await response.read()
        return response


async def test_editors_see_a_draft_at_its_address_and_nobody_else_does(admin: Client) -> None:
    await new_post(admin)
    page = await admin.get("/posts/work-in-progress")
    assert page.status == 200
    html = await page.text()
    assert '<meta name="robots" content="noindex">' in html
    assert "Draft</strong> This post is not published." in html
    assert page.headers["Cache-Control"] == "private, no-store"
    assert page.headers["X-Robots-Tag"] == "noindex"
    assert "ETag" not in page.headers

    assert (await anonymous_get(admin, "/posts/work-in-progress")).status == 404
    # An author who may not edit it gets the 404 everybody gets.
    await create_user(admin, "writer", "author")
    admin.session.cookie_jar.clear()
    await login(admin, "writer", "correct horse battery")
    assert (await admin.get("/posts/work-in-progress")).status == 404


async def test_scheduled_posts_and_draft_pages_preview_too(admin: Client) -> None:
    soon = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    await new_post(admin, title="Coming soon", status="scheduled", published_at=soon)
    scheduled = await (await admin.get("/posts/coming-soon")).text()
    assert "Scheduled</strong> This post is published on" in scheduled
    await new_post(admin, kind="page", title="About us")
    assert (
        "Draft</strong> This page is not published." in await (await admin.get("/about-us")).text()
    )
    assert (await anonymous_get(admin, "/about-us")).status == 404


async def test_a_preview_link_works_until_revoked(admin: Client) -> None:
    editor = await new_post(admin)
    assert _LINK.search(await (await admin.get(editor)).text()) is None
    made = await post_form(
        admin,
        f"{editor.removesuffix('/edit')}/preview-link",
        {"action": "create"},
        form_page=editor,
    )
    assert made.status == 303
    found = _LINK.search(await (await admin.get(editor)).text())
    assert found is not None
    link = found[1]
    path = link.removeprefix("http://127.0.0.1:8080")
    assert path.startswith("/preview/")

    shared = await anonymous_get(admin, path)
    assert shared.status == 200
    assert shared.headers["X-Robots-Tag"] == "noindex"
    assert "through a preview link" in await shared.text()

    # A new link replaces the old one.
    await post_form(
        admin,
        f"{editor.removesuffix('/edit')}/preview-link",
        {"action": "create"},
        form_page=editor,
    )
    newer = _LINK.search(await (await admin.get(editor)).text())
    assert newer is not None and newer[1] != link
    assert (await anonymous_get(admin, path)).status == 404
    path = newer[1].removeprefix("http://127.0.0.1:8080")

    revoked = await post_form(
        admin,
        f"{editor.removesuffix('/edit')}/preview-link",
        {"action": "revoke"},
        form_page=editor,
    )
    assert revoked.status == 303
    assert (await anonymous_get(admin, path)).status == 404
    assert (await anonymous_get(admin, "/preview/" + "x" * 43)).status == 404
    bad = await post_form(
        admin, f"{editor.removesuffix('/edit')}/preview-link", {"action": "steal"}, form_page=editor
    )
    assert bad.status == 400


async def test_a_published_posts_preview_link_leads_to_it(admin: Client) -> None:
    editor = await new_post(admin)
    base = editor.removesuffix("/edit")
    await post_form(admin, f"{base}/preview-link", {"action": "create"}, form_page=editor)
    found = _LINK.search(await (await admin.get(editor)).text())
    assert found is not None
    path = found[1].removeprefix("http://127.0.0.1:8080")
    version = re.search(r'name="version" value="(\d+)"', await (await admin.get(editor)).text())
    assert version is not None
    data = {
        "title": "Work in progress",
        "slug": "work-in-progress",
        "body": "Done.",
        "status": "published",
        "version": version[1],
    }
    assert (await post_form(admin, editor, data)).status == 303
    moved = await anonymous_get(admin, path)
    assert moved.status == 302
    assert moved.headers["Location"] == "/posts/work-in-progress"


@pytest.mark.browser
def test_an_anonymous_browser_reads_a_draft_through_its_link(server: str, tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser, page = open_page(playwright, problems)
        try:
            page.goto(f"{server}/setup")
            page.fill("input[name=username]", "previewer")
            page.fill("input[name=password]", "a long browser password")
            page.fill("input[name=password_confirm]", "a long browser password")
            page.click("button[type=submit]")
            page.goto(f"{server}/admin/posts/new")
            page.fill("input[name=title]", "Secret plans")
            page.fill("textarea[name=body]", "Not for everyone yet.")
            page.get_by_role("button", name="Save", exact=True).click()
            page.get_by_role("button", name="Make a preview link").click()
            link = page.input_value("#preview-link")
            assert "/preview/" in link

            stranger = browser.new_context()  # no cookies: someone without an account
            reader = stranger.new_page()
            reader.goto(link.replace("http://127.0.0.1:8080", server))
            expect(reader.get_by_role("heading", name="Secret plans")).to_be_visible()
            expect(reader.get_by_role("note")).to_contain_text("through a preview link")
            reader.screenshot(path=str(tmp_path / "preview.png"), full_page=True)

            page.get_by_role("button", name="Revoke the link").click()
            expect(page.get_by_role("button", name="Make a preview link")).to_be_visible()
            answer = reader.goto(link.replace("http://127.0.0.1:8080", server))
            assert answer is not None and answer.status == 404
            stranger.close()
        finally:
            browser.close()
    assert problems == []
