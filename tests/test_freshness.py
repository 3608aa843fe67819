"""Public pages off the hot path: conditional GET (ETag, Last-Modified, 304), caching
headers, gzip, no session for cookie-less visitors, and one query per post page."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from pydantic import BaseModel

from cms import hookimpl
from cms.contracts import SessionStoreBackend
from tests.conftest import ClientFactory, create_post, post_form, setup_admin, site_of


@asynccontextmanager
async def visitor(client: TestClient[Any, Any]) -> AsyncIterator[aiohttp.ClientSession]:
    """A second browser on the same site that keeps no cookies: an anonymous visitor."""
    async with aiohttp.ClientSession(
        base_url=str(client.make_url("/")), cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        yield session


async def edit_post(client: TestClient[Any, Any], post_id: int, **values: str) -> None:
    current = await site_of(client).storage.get_post(post_id)
    assert current is not None
    data = {
        "title": current.title,
        "slug": current.slug,
        "body": current.body,
        "status": current.status,
        "version": str(current.version),
        **values,
    }
    response = await post_form(client, f"/admin/posts/{post_id}/edit", data)
    assert response.status == 303, await response.text()


async def new_post(client: TestClient[Any, Any], **values: str) -> int:
    response = await create_post(client, **values)
    assert response.status == 303, await response.text()
    match = re.search(r"/admin/posts/(\d+)/edit", response.headers["Location"])
    assert match
    return int(match.group(1))


# --- conditional GET -----------------------------------------------------------------


async def test_a_post_is_answered_304_until_it_changes(admin_client: TestClient[Any, Any]) -> None:
    post_id = await new_post(admin_client, title="First words", slug="words")
    async with visitor(admin_client) as browser:
        async with browser.get("/posts/words") as first:
            assert first.status == 200
            assert "First words" in await first.text()
            etag = first.headers["ETag"]
            last_modified = first.headers["Last-Modified"]
            assert etag.startswith('W/"')
            assert first.headers["Cache-Control"] == "no-cache"
            assert "Cookie" in first.headers["Vary"]
        async with browser.get("/posts/words", headers={"If-None-Match": etag}) as again:
            assert again.status == 304
            assert await again.read() == b""
            assert again.headers["ETag"] == etag
        # An edit is seen on the very next request, whatever the client holds.
        await edit_post(admin_client, post_id, title="Second words")
        async with browser.get("/posts/words", headers={"If-None-Match": etag}) as changed:
            assert changed.status == 200
            assert "Second words" in await changed.text()
            assert changed.headers["ETag"] != etag
        async with browser.get(
            "/posts/words", headers={"If-Modified-Since": last_modified}
        ) as since:
            assert since.status == 200  # changed after the copy the client holds
        future = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
        async with browser.get("/posts/words", headers={"If-Modified-Since": future}) as kept:
            assert kept.status == 304


async def test_the_index_is_answered_304_until_its_posts_change(
    admin_client: TestClient[Any, Any],
) -> None:
    first_id = await new_post(admin_client, title="Older post", slug="older")
    async with visitor(admin_client) as browser:
        async with browser.get("/") as page:
            assert page.status == 200
            etag = page.headers["ETag"]
            assert "Last-Modified" not in page.headers  # a list has no one time
        async with browser.get("/", headers={"If-None-Match": etag}) as again:
            assert again.status == 304
        await new_post(admin_client, title="Newer post", slug="newer")
        async with browser.get("/", headers={"If-None-Match": etag}) as added:
            assert added.status == 200
            assert "Newer post" in await added.text()
            etag = added.headers["ETag"]
        await edit_post(admin_client, first_id, title="Older post, edited")
        async with browser.get("/", headers={"If-None-Match": etag}) as edited:
            assert edited.status == 200
            assert "Older post, edited" in await edited.text()
            etag = edited.headers["ETag"]
        response = await post_form(
            admin_client, f"/admin/posts/{first_id}/delete", {}, form_page="/admin/"
        )
        assert response.status == 303, await response.text()
        async with browser.get("/", headers={"If-None-Match": etag}) as deleted:
            assert deleted.status == 200
            assert "Older post" not in await deleted.text()


async def test_pages_of_a_signed_in_user_are_private_and_tagged_apart(
    admin_client: TestClient[Any, Any],
) -> None:
    await new_post(admin_client, title="Shared page", slug="shared")
    async with visitor(admin_client) as browser, browser.get("/posts/shared") as anonymous:
        anonymous_etag = anonymous.headers["ETag"]
    mine = await admin_client.get("/posts/shared")
    assert mine.status == 200
    assert mine.headers["Cache-Control"] == "private, no-cache"
    assert "Last-Modified" not in mine.headers
    assert mine.headers["ETag"] != anonymous_etag
    assert "Edit" in await mine.text()
    # The visitor's copy is never good for the signed-in user (it lacks their controls).
    again = await admin_client.get("/posts/shared", headers={"If-None-Match": anonymous_etag})
    assert again.status == 200
    own = await admin_client.get("/posts/shared", headers={"If-None-Match": mine.headers["ETag"]})
    assert own.status == 304


async def test_html_and_json_are_gzipped_when_the_client_accepts_it(
    admin_client: TestClient[Any, Any],
) -> None:
    await new_post(admin_client, title="Long read", slug="long", body="Many words. " * 400)
    async with visitor(admin_client) as browser:
        async with browser.get("/posts/long", headers={"Accept-Encoding": "gzip"}) as page:
            assert page.headers["Content-Encoding"] == "gzip"
            assert "Accept-Encoding" in page.headers["Vary"]
            assert "Many words." in await page.text()  # the client inflates it
        # With its texts: a list of one post without them is too small to pack.
        async with browser.get(
            "/api/posts?include=body", headers={"Accept-Encoding": "gzip"}
        ) as listing:
            assert listing.headers["Content-Encoding"] == "gzip"
            assert (await listing.json())["data"][0]["slug"] == "long"
        async with browser.get("/posts/long", headers={"Accept-Encoding": "identity"}) as plain:
            assert "Content-Encoding" not in plain.headers
        async with browser.get("/healthz", headers={"Accept-Encoding": "gzip"}) as small:
            assert "Content-Encoding" not in small.headers  # below the threshold


# --- no session for cookie-less visitors ---------------------------------------------


class CountingCookieStorage(EncryptedCookieStorage):
    """Encrypted-cookie sessions that count how often a session is loaded or saved."""

    loads = 0
    saves = 0

    async def load_session(self, request: Any) -> Any:
        type(self).loads += 1
        return await super().load_session(request)

    async def save_session(self, request: Any, response: Any, session: Any) -> None:
        type(self).saves += 1
        await super().save_session(request, response, session)


class NoOptions(BaseModel):
    """``[sessions] options`` of the counting store: none."""


class CountingSessions:
    name = "counting"

    def __init__(self, options: BaseModel, site: Any) -> None:
        self.storage = CountingCookieStorage(site.secret_key, cookie_name="cms_session")

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def check(self) -> None:
        return None


class CountingSessionsPlugin:
    @hookimpl
    def register_session_stores(self) -> list[SessionStoreBackend]:
        return [SessionStoreBackend("counting", NoOptions, CountingSessions)]


async def test_a_visitor_without_a_cookie_gets_none_and_costs_no_session(
    make_client: ClientFactory,
) -> None:
    client = await make_client(
        plugins=[("counting_sessions", CountingSessionsPlugin())],
        sessions={"backend": "counting"},
    )
    await setup_admin(client)
    await new_post(client, title="Quiet page", slug="quiet")
    async with visitor(client) as browser:
        CountingCookieStorage.loads = CountingCookieStorage.saves = 0
        for path in ("/", "/posts/quiet", "/api/posts"):
            async with browser.get(path) as response:
                assert response.status == 200
                assert "Set-Cookie" not in response.headers, path
        assert (CountingCookieStorage.loads, CountingCookieStorage.saves) == (0, 0)
        # The counter can see a load: a visitor who has a session cookie costs one.
        token_page = await client.get("/")
        assert token_page.status == 200
        assert CountingCookieStorage.loads > 0


# --- one query per post page -----------------------------------------------------------


_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


class StatementLog:
    """The SQL statements sent while active, through any engine or the SQLite driver."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.active = True

    def record(self, statement: str) -> None:
        if self.active and _STATEMENT.match(statement):
            self.seen.append(statement)


@contextmanager
def statement_log() -> Iterator[StatementLog]:
    """Log the statements every database connection made from now on runs, at the
    drivers: ``sqlite3`` (aiosqlite's and the read pool's) and asyncpg (SQLAlchemy's and
    the read pool's)."""
    log = StatementLog()
    connect_sqlite = sqlite3.connect
    init_asyncpg = asyncpg.Connection.__init__

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect_sqlite(*args, **kwargs)
        conn.set_trace_callback(log.record)
        return conn

    def logged_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init_asyncpg(self, *args, **kwargs)
        self.add_query_logger(lambda query: log.record(query.query))

    sqlite3.connect = traced_connect  # type: ignore[assignment]
    asyncpg.Connection.__init__ = logged_init
    try:
        yield log
    finally:
        log.active = False
        sqlite3.connect = connect_sqlite
        asyncpg.Connection.__init__ = init_asyncpg


async def test_a_post_page_and_the_index_cost_one_query_each(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    with statement_log() as log:
        client = await make_client(storage=storage_settings)
        await setup_admin(client)
        counted = await new_post(client, title="Counted", slug="counted")
        async with visitor(client) as browser:
            # A process asks once whether the site is set up (then it knows for good).
            async with browser.get("/") as first:
                assert first.status == 200
            menu_reads = 0
            # SQLite tells without a query whether anything changed (its data version): a
            # page answered before is answered again from memory until a commit
            # (cms.web.fast_pages), so asking again costs nothing; PostgreSQL reads.
            again = 0 if storage_settings["backend"] == "sqlite" else 1
            answered = {"/"}  # asked above, after the post was made: nothing changed since
            for path, text in [("/posts/counted", "Counted")] * 2 + [("/", "Counted")] * 2:
                before = len(log.seen)
                async with browser.get(path) as page:
                    assert page.status == 200
                    assert text in await page.text()
                sent = log.seen[before:]
                # The menus are read once per change (or a second) per process, not per page.
                menus = [statement for statement in sent if "FROM cms_menus" in statement]
                menu_reads += len(menus)
                sent = [statement for statement in sent if statement not in menus]
                # The background loop that announces due publications (every few seconds)
                # may ask while the page is served: not the page's query.
                sent = [statement for statement in sent if "FROM cms_publications" not in statement]
                # PostgreSQL's pool tests a connection before use (SELECT 1): not a query.
                reads = [statement for statement in sent if statement != "SELECT 1"]
                assert len(reads) == (again if path in answered else 1), (path, sent)
                answered.add(path)
                assert all("cms_posts" in read for read in reads)
                assert len(sent) <= 2, (path, sent)
            assert menu_reads <= 2, menu_reads
            # An edit, by whichever process: the next page is read again, and shows it.
            await edit_post(client, counted, title="Counted again")
            before = len(log.seen)
            async with browser.get("/posts/counted") as page:
                assert "Counted again" in await page.text()
            assert any("cms_posts" in read for read in log.seen[before:])
