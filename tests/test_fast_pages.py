"""Anonymous pages answered from memory while nothing stored changed (cms.web.fast_pages):
the same answer as the page cache gives, never a stale one. SQLite's data version says
when anything changed, whichever process committed it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from cms import hookimpl
from cms.contracts import MenuItem
from cms.web.fast_pages import FAST_PAGES_KEY, FastPages
from tests.conftest import ClientFactory, build_storage, create_post, setup_admin, site_of

Client = TestClient[Any, Any]
SQLITE = {"backend": "sqlite", "options": {"path": "cms.db"}}


def fast_pages(client: Client) -> FastPages:
    return client.app[FAST_PAGES_KEY]


async def anonymous_get(client: Client, path: str, **headers: str) -> tuple[int, str, Any]:
    """A GET from a browser without cookies (the test client keeps the admin's)."""
    async with (
        aiohttp.ClientSession(
            base_url=str(client.make_url("/")), cookie_jar=aiohttp.DummyCookieJar()
        ) as browser,
        browser.get(path, headers=headers) as response,
    ):
        return response.status, await response.text(), response.headers


async def test_a_page_asked_again_is_the_same_answer_from_memory(client: Client) -> None:
    await setup_admin(client)
    assert (await create_post(client, title="Remembered", slug="remembered")).status == 303
    fast = fast_pages(client)
    status, first, headers = await anonymous_get(client, "/posts/remembered")
    assert status == 200 and "Remembered" in first
    hits = fast.hits
    status, again, again_headers = await anonymous_get(client, "/posts/remembered")
    assert status == 200 and again == first
    assert fast.hits == hits + 1
    for name in ("ETag", "Last-Modified", "Cache-Control", "Vary", "Content-Security-Policy"):
        assert again_headers.get(name) == headers.get(name), name
    # A browser holding the page gets its 304 the same way.
    status, _, _ = await anonymous_get(client, "/posts/remembered", **{
        "If-None-Match": headers["ETag"]
    })  # fmt: skip
    assert status == 304 and fast.hits == hits + 2
    # Signed in (a cookie) or with a token: the usual way, never this.
    assert (await client.get("/posts/remembered")).status == 200
    assert fast.hits == hits + 2


async def test_a_commit_by_another_process_is_seen_on_the_next_request(
    client: Client, site_dir: Path
) -> None:
    await setup_admin(client)
    assert (await create_post(client, title="Before", slug="changing")).status == 303
    for _ in range(2):
        assert "Before" in (await anonymous_get(client, "/posts/changing"))[1]
    # Another process's storage on the same database (a worker, a cms command).
    other = await build_storage(site_dir, SQLITE)
    try:
        post = await other.get_post_by_slug("changing")
        assert post is not None
        await other.update_post(post.id, {"title": "After"}, editor_id=None)
        await other.set_menu("primary", [MenuItem(label="Elsewhere", url="/elsewhere")])
    finally:
        await other.close()
    _, page, _ = await anonymous_get(client, "/posts/changing")
    assert "After" in page and "Before" not in page
    # The menus too, at once (not a second later): they are read per change as well.
    assert "Elsewhere" in page


async def test_a_scheduled_post_appears_at_its_time_without_a_commit(client: Client) -> None:
    await setup_admin(client)
    assert (await create_post(client, title="Now", slug="now")).status == 303
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    response = await create_post(
        client,
        title="Soon",
        slug="soon",
        status="scheduled",
        published_at=soon.strftime("%Y-%m-%dT%H:%M:%S"),
        timezone="UTC",
    )
    assert response.status == 303, await response.text()
    for _ in range(2):
        assert "Soon" not in (await anonymous_get(client, "/"))[1]
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 1.1)
    assert "Soon" in (await anonymous_get(client, "/"))[1]


class PerRequestGreeting:
    """A plugin whose page additions may change with no commit (the time of day)."""

    @hookimpl
    def extra_template_vars(self) -> dict[str, Any]:
        return {"greeting": "Good morning" if datetime.now().hour < 12 else "Hello"}


async def test_a_plugin_that_adds_to_pages_per_request_turns_it_off(
    make_client: ClientFactory,
) -> None:
    client = await make_client(plugins=[("greeting", PerRequestGreeting())])
    assert FAST_PAGES_KEY not in client.app
    plain = await make_client(storage=SQLITE)
    assert FAST_PAGES_KEY in plain.app


async def test_postgresql_reads_every_time(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    client = await make_client(storage=storage_settings)
    await setup_admin(client)
    assert (await create_post(client, title="Read", slug="read")).status == 303
    for _ in range(3):
        assert "Read" in (await anonymous_get(client, "/posts/read"))[1]
    expected = 2 if site_of(client).storage.is_sqlite else 0  # type: ignore[attr-defined]
    assert fast_pages(client).hits == expected


async def test_a_full_budget_keeps_no_more_and_asks_storage_no_more(
    client: Client, monkeypatch: Any
) -> None:
    """The long tail (a random post of 100,000): once the budget is full, a page that does
    not fit is answered the usual way, without a second look at the change stamp."""
    await setup_admin(client)
    for number in range(3):
        slug = f"tail-{number}"
        assert (await create_post(client, title=f"Tail {number}", slug=slug)).status == 303
    fast = fast_pages(client)
    storage: Any = site_of(client).storage
    asked = 0
    stamp = storage.change_stamp

    def counted() -> object | None:
        nonlocal asked
        asked += 1
        return stamp()

    monkeypatch.setattr(storage, "change_stamp", counted)
    assert (await anonymous_get(client, "/posts/tail-0"))[0] == 200
    assert len(fast) == 1
    fast.max_bytes = fast.size  # full: room for nothing more
    before = asked
    status, page, _ = await anonymous_get(client, "/posts/tail-1")
    assert status == 200 and "Tail 1" in page
    assert len(fast) == 1
    assert asked == before + 1  # the request's own stamp only, not a second one to keep it
    assert (await anonymous_get(client, "/posts/tail-0"))[0] == 200  # still answered
    assert len(fast) == 1
