"""PostgreSQL going away and coming back: 503 with Retry-After (a themed page, or JSON for
the API) while it is down, never a 500, and recovery without restarting cms.

These tests stop and start a PostgreSQL server of their own (tests/pg_server.py), never
the machine's shared one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cms import hookimpl
from cms.contracts import DependencyUnavailable, Storage, StoredImage, parse_search
from cms.core.site import Site
from tests.cli_support import Server, cms_env, free_port, submit_form
from tests.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    ClientFactory,
    create_post,
    csrf_from,
    make_settings,
    setup_admin,
    write_settings,
)
from tests.pg_server import ThrowawayPostgres, throwaway_postgres

__all__ = ["throwaway_postgres"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.postgres

RECOVERY_SECONDS = 5.0


class RecentPostsPlugin:
    """A sidebar that reads the database on every page, error pages too."""

    @hookimpl
    async def extra_template_vars(self, cms: Any) -> dict[str, Any]:
        return {"recent_posts": await cms.storage.list_posts(limit=3)}


def storage_of(server: ThrowawayPostgres) -> dict[str, Any]:
    return {
        "backend": "postgres",
        "options": {"url": server.url, "connect_timeout_s": 2, "pool_timeout_s": 3},
    }


async def expect_themed_503(client: TestClient[Any, Any], path: str, **kw: Any) -> None:
    method = kw.pop("method", "GET")
    response = await client.request(method, path, allow_redirects=False, **kw)
    text = await response.text()
    assert response.status == 503, f"{method} {path}: {response.status}\n{text[:500]}"
    assert response.headers.get("Retry-After") == "5", dict(response.headers)
    assert response.content_type == "text/html", f"{path}: {response.content_type}\n{text}"
    # The theme's page (its layout and error section), not a plain-text fallback.
    assert 'class="error-page"' in text and "<!doctype html>" in text.lower(), text
    assert "Temporarily unavailable" in text
    assert "Traceback" not in text and "asyncpg" not in text


async def test_pages_are_themed_503_while_the_database_is_down(
    make_client: ClientFactory, throwaway_postgres: ThrowawayPostgres
) -> None:
    client = await make_client(
        storage=storage_of(throwaway_postgres), plugins=[("recent", RecentPostsPlugin())]
    )
    await setup_admin(client)  # signed in: every page loads the user from the database
    assert (await create_post(client, title="Still here")).status == 303
    token = await csrf_from(client, "/admin/posts/new")
    assert (await client.get("/posts/still-here")).status == 200

    await asyncio.to_thread(throwaway_postgres.stop)
    try:
        for path in ("/", "/posts/still-here", "/about", "/tags", "/admin/", "/admin/posts/new"):
            await expect_themed_503(client, path)
        # An error page for a signed-in visitor cannot load the user: still the themed page.
        missing = await client.get("/no/where")
        assert missing.status == 404
        assert 'class="error-page"' in await missing.text()
        form = {"title": "t", "slug": "", "body": "", "status": "draft", "csrf_token": token}
        await expect_themed_503(client, "/admin/posts/new", method="POST", data=form)

        api = await client.get("/api/posts")
        assert api.status == 503
        assert api.headers.get("Retry-After") == "5"
        body = await api.json()
        assert body["error"]["code"] == "unavailable", body

        health = await client.get("/healthz")
        assert health.status == 503
        assert (await health.json())["down"] == ["database"]
    finally:
        await asyncio.to_thread(throwaway_postgres.start)

    # Back: the pool drops its dead connections (pre-ping) and every page works again.
    deadline = time.monotonic() + RECOVERY_SECONDS
    while (await client.get("/admin/")).status != 200:
        assert time.monotonic() < deadline, "no recovery within 5 s"
        await asyncio.sleep(0.1)
    for path in ("/", "/posts/still-here", "/admin/", "/healthz"):
        response = await client.get(path)
        assert response.status == 200, f"{path}: {response.status}"


async def test_postgres_restart_under_load_gives_503s_then_recovers(
    tmp_path: Path, throwaway_postgres: ThrowawayPostgres
) -> None:
    """A real ``cms serve`` at 20 requests/s while its PostgreSQL restarts."""
    pg = throwaway_postgres
    port = free_port()
    settings = write_settings(
        tmp_path,
        f"""
[server]
host = "127.0.0.1"
port = {port}

[storage]
backend = "postgres"
options = {{ url = "{pg.url}", connect_timeout_s = 2, pool_timeout_s = 3 }}
""",
    )
    server = Server(settings=settings, port=port, env=cms_env(), log=tmp_path / "serve.log")
    await server.start()
    results: list[tuple[float, str, int]] = []
    try:
        # unsafe: keep cookies for 127.0.0.1 (the admin stays signed in).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
            status, _, body = await submit_form(
                admin,
                f"{server.url}/setup",
                {
                    "username": ADMIN_NAME,
                    "password": ADMIN_PASSWORD,
                    "password_confirm": ADMIN_PASSWORD,
                },
            )
            assert status == 303, body
            new_post = f"{server.url}/admin/posts/new"
            status, _, body = await submit_form(
                admin, new_post, {"title": "Steady", "body": "x", "status": "published"}
            )
            assert status == 303, body

            async def hit(path: str, session: aiohttp.ClientSession) -> None:
                started = time.monotonic()
                try:
                    async with session.get(server.url + path, allow_redirects=False) as response:
                        await response.read()
                        results.append((started, path, response.status))
                except (aiohttp.ClientError, TimeoutError):
                    results.append((started, path, -1))

            paths = ["/", "/posts/steady", "/admin/", "/healthz"]
            timeout = aiohttp.ClientTimeout(total=10)
            async with aiohttp.ClientSession(timeout=timeout) as visitor:
                sessions = {"/admin/": admin}
                tasks: list[asyncio.Task[None]] = []

                async def load(seconds: float) -> None:
                    # 20 requests a second, started on schedule whatever the answers take.
                    end = time.monotonic() + seconds
                    while time.monotonic() < end:
                        path = paths[len(tasks) % len(paths)]
                        session = sessions.get(path, visitor)
                        tasks.append(asyncio.create_task(hit(path, session)))
                        await asyncio.sleep(0.05)

                await load(2)
                stopped_at = time.monotonic()
                stopping = asyncio.create_task(asyncio.to_thread(pg.stop))
                await load(3)
                await stopping
                restarting = asyncio.create_task(asyncio.to_thread(pg.start))
                while not restarting.done():
                    await load(0.25)
                await restarting
                back_at = time.monotonic()
                await load(RECOVERY_SECONDS + 3)
                await asyncio.gather(*tasks)
        assert server.process is not None and server.process.returncode is None, "cms died"
    finally:
        exit_status = await server.stop()
    log = server.log_text()
    counts = Counter(status for _, _, status in results)
    assert 500 not in counts and -1 not in counts, f"{counts}\n{log_errors(log)}"
    assert set(counts) <= {200, 503}, counts
    during = [status for started, _, status in results if stopped_at + 1 < started < back_at]
    assert during and 503 in during, counts
    late = [
        (round(started - back_at, 2), path, status)
        for started, path, status in results
        if started >= back_at + RECOVERY_SECONDS
    ]
    assert len(late) >= 40, late
    assert all(status == 200 for _, _, status in late), late
    assert len(results) >= 20 * 10, len(results)
    assert "Traceback" not in log, log[-3000:]
    assert exit_status == 0, log[-3000:]


def log_errors(log: str) -> str:
    """The log's error records and the 500s' access lines, whole (they may be anywhere in it)."""
    lines = log.splitlines()
    keep = [
        i
        for i, line in enumerate(lines)
        if '" 500 ' in line or line.startswith(("ERROR", "CRITICAL", "WARNING"))
    ]
    shown: list[str] = []
    for i in keep:
        shown.extend(
            lines[i : i + 40] if lines[i].startswith(("ERROR", "CRITICAL")) else [lines[i]]
        )
    return "\n".join(shown)[-6000:] or log[-3000:]


def every_storage_call(now: datetime) -> dict[str, Callable[[Any], Awaitable[Any]]]:
    """One call of each method of the storage contract (open and close aside)."""

    async def export(storage: Any) -> None:
        async with storage.exporting() as reader:
            await reader.count("users")

    async def import_(storage: Any) -> None:
        async with storage.importing():
            pass

    post = {"title": "t", "slug": "t", "body": "", "html": "", "status": "draft"}
    image = StoredImage("a" * 64, 10, 10, "jpeg", "sources/aa/a.jpg", ())
    return {
        "check": lambda s: s.check(),
        "migrate": lambda s: s.migrate(),
        "migrate_schema": lambda s: s.migrate_schema(),
        "list_posts": lambda s: s.list_posts(),
        "get_post": lambda s: s.get_post(1),
        "get_post_by_slug": lambda s: s.get_post_by_slug("t"),
        "create_post": lambda s: s.create_post(post, author_id=None),
        "update_post": lambda s: s.update_post(1, {"title": "u"}, editor_id=None),
        "delete_post": lambda s: s.delete_post(1),
        "count_users": lambda s: s.count_users(),
        "create_user": lambda s: s.create_user("someone", "x" * 20, "author"),
        "get_user": lambda s: s.get_user(1),
        "get_user_by_username": lambda s: s.get_user_by_username("someone"),
        "bump_session_generation": lambda s: s.bump_session_generation(1),
        "list_users": lambda s: s.list_users(),
        "update_user": lambda s: s.update_user(1, role="editor"),
        "record_attempt": lambda s: s.record_attempt("key", 60, 10),
        "recent_attempts": lambda s: s.recent_attempts("key", 60),
        "clear_attempts": lambda s: s.clear_attempts("key"),
        "forget_attempt": lambda s: s.forget_attempt("key"),
        "create_token": lambda s: s.create_token(1, "a" * 64, prefix="cms_abc"),
        "get_token": lambda s: s.get_token(1),
        "get_token_by_hash": lambda s: s.get_token_by_hash("a" * 64),
        "list_tokens": lambda s: s.list_tokens(),
        "revoke_token": lambda s: s.revoke_token(1),
        "touch_token": lambda s: s.touch_token(1, now),
        "exporting": export,
        "importing": import_,
        "create_media": lambda s: s.create_media(image, original_name="a.jpg", uploader_id=None),
        "get_media": lambda s: s.get_media(1),
        "find_media": lambda s: s.find_media(["a" * 64]),
        "list_media": lambda s: s.list_media(),
        "update_media": lambda s: s.update_media(1, image),
        "media_usage": lambda s: s.media_usage(["a" * 64]),
        "delete_media": lambda s: s.delete_media(1),
        "list_tags": lambda s: s.list_tags(counted=False),
        "get_tag": lambda s: s.get_tag("t"),
        "get_tag_by_id": lambda s: s.get_tag_by_id(1),
        "tag_moved_to": lambda s: s.tag_moved_to("t"),
        "rename_tag": lambda s: s.rename_tag(1, "T", "t"),
        "merge_tags": lambda s: s.merge_tags(1, 2),
        "delete_tag": lambda s: s.delete_tag(1),
        "claim_due_publications": lambda s: s.claim_due_publications(),
        "get_menus": lambda s: s.get_menus(),
        "post_moved_to": lambda s: s.post_moved_to("t"),
        "search_posts": lambda s: s.search_posts(parse_search("t")),
        "index_missing": lambda s: s.index_missing(),
        "find_redirect": lambda s: s.find_redirect("/t"),
        "list_redirects": lambda s: s.list_redirects(),
        "set_redirect": lambda s: s.set_redirect("/t", "/"),
        "delete_redirect": lambda s: s.delete_redirect("/t"),
        "set_menu": lambda s: s.set_menu("primary", []),
        "update_profile": lambda s: s.update_profile(1, display_name="A", bio=None, avatar=None),
        "list_revisions": lambda s: s.list_revisions(1),
        "get_revision": lambda s: s.get_revision(1, 1),
        "set_preview_link": lambda s: s.set_preview_link(1, "t" * 43, user_id=None),
        "get_preview_link": lambda s: s.get_preview_link(1),
        "post_for_preview": lambda s: s.post_for_preview("t" * 43),
        "revoke_preview_link": lambda s: s.revoke_preview_link(1),
        "trash_post": lambda s: s.trash_post(1),
        "list_trash": lambda s: s.list_trash(),
        "restore_trashed": lambda s: s.restore_trashed(1),
        "empty_trash": lambda s: s.empty_trash(),
    }


async def test_every_storage_method_answers_unavailable_and_recovers(
    site_dir: Path, throwaway_postgres: ThrowawayPostgres
) -> None:
    """Pooled connections that died with the server, and a server that refuses new ones:
    every method of the contract raises DependencyUnavailable (a 503), none anything else."""
    calls = every_storage_call(datetime.now(UTC))
    declared = {
        name
        for name in dir(Storage)
        if not name.startswith("_") and callable(getattr(Storage, name))
    } - {"open", "close"}
    assert set(calls) == declared, "add the new storage methods to every_storage_call()"
    site = Site(make_settings(site_dir, storage=storage_of(throwaway_postgres)))
    await site.configure()
    storage = site.storage
    await storage.open()
    try:
        await storage.migrate()
        await asyncio.gather(*(storage.count_users() for _ in range(5)))  # fill the pool
        await asyncio.to_thread(throwaway_postgres.stop)
        try:
            for name, call in calls.items():
                with pytest.raises(DependencyUnavailable) as caught:
                    await call(storage)
                assert caught.value.dependency == "database", name
        finally:
            await asyncio.to_thread(throwaway_postgres.start)
        assert await storage.count_users() == 0
        user = await storage.create_user("back", "x" * 20, "admin")
        assert user is not None and await storage.get_user(user.id) == user
    finally:
        await storage.close()


async def test_a_connection_postgresql_was_terminating_is_an_outage_on_writes_too() -> None:
    """asyncpg refuses a connection still consuming PostgreSQL's "terminating connection"
    (InternalClientError, which SQLAlchemy passes on untranslated): a 503, not a 500.
    The reads retry it on a new connection (seen under tests above); writes go through
    ``translate_errors``."""
    import asyncpg
    from cms.plugins.sql_storage.errors import translate_errors

    with pytest.raises(DependencyUnavailable, match=r"another operation \(2\) is in progress"):
        async with translate_errors(sqlite=False):
            raise asyncpg.InternalClientError(
                "cannot switch to state 12; another operation (2) is in progress"
            )
    with pytest.raises(ValueError):  # a mistake stays an error
        async with translate_errors(sqlite=False):
            raise ValueError("not an outage")
