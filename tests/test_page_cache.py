"""What the hot path keeps between requests, and why none of it can serve a stale page:

- rendered pages by entity tag (cms.web.page_cache),
- post texts by post version (plugins/sql_storage/text_cache.py),
- identical reads asked for together, sent once (plugins/sql_storage/coalesce.py).

Each is checked against an edit made elsewhere (another storage on the same database, as
another worker or host would) being visible on the very next request.
"""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cms.plugins.sql_storage import SqlStorage
from cms.plugins.sql_storage.coalesce import ReadCoalescer
from sqlalchemy import text

from cms import hookimpl
from cms.web.page_cache import PAGE_CACHE_KEY, PageCache
from tests.conftest import ClientFactory, StorageFactory, setup_admin, site_of
from tests.test_freshness import edit_post, new_post, statement_log, visitor
from tests.test_storage import new_post as stored_post
from tests.test_storage import raw

# --- rendered pages ------------------------------------------------------------------


def page_cache(client: TestClient[Any, Any]) -> PageCache:
    return client.app[PAGE_CACHE_KEY]  # type: ignore[index, no-any-return]


async def test_an_anonymous_page_renders_once_per_version(
    admin_client: TestClient[Any, Any],
) -> None:
    post_id = await new_post(admin_client, title="Cached words", slug="cached")
    cache = page_cache(admin_client)
    async with visitor(admin_client) as browser:
        async with browser.get("/posts/cached") as first:
            assert first.status == 200
            body = await first.read()
            etag = first.headers["ETag"]
        hits = cache.hits
        async with browser.get("/posts/cached") as second:
            assert second.status == 200
            assert await second.read() == body
            assert second.headers["ETag"] == etag
            assert second.headers["Cache-Control"] == "no-cache"
            assert "Cookie" in second.headers["Vary"]
        assert cache.hits == hits + 1
        # An edit shows on the very next request: a new tag, a new render.
        await edit_post(admin_client, post_id, title="Edited words")
        async with browser.get("/posts/cached") as edited:
            assert edited.status == 200
            page = await edited.text()
            assert "Edited words" in page and "Cached words" not in page
            assert edited.headers["ETag"] != etag
        assert cache.hits == hits + 1


async def test_the_index_is_cached_and_sees_a_new_post_at_once(
    admin_client: TestClient[Any, Any],
) -> None:
    await new_post(admin_client, title="Older", slug="older")
    cache = page_cache(admin_client)
    async with visitor(admin_client) as browser:
        for _ in range(2):
            async with browser.get("/") as index:
                assert "Older" in await index.text()
        assert cache.hits >= 1
        await new_post(admin_client, title="Newer", slug="newer")
        async with browser.get("/") as index:
            assert "Newer" in await index.text()


async def test_an_edited_body_gives_a_new_excerpt_at_once(
    admin_client: TestClient[Any, Any],
) -> None:
    """Excerpts are kept by the HTML they come from (cms.contracts.excerpt_of)."""
    post_id = await new_post(admin_client, title="Teaser", slug="teaser", body="Old words here")
    async with visitor(admin_client) as browser:
        for _ in range(2):
            async with browser.get("/") as index:
                assert "Old words here" in await index.text()
        await edit_post(admin_client, post_id, body=" ".join(["fresh"] * 50))
        async with browser.get("/") as index:
            page = await index.text()
            assert "Old words here" not in page
            assert " ".join(["fresh"] * 40) + "…" in page
            assert " ".join(["fresh"] * 41) not in page


async def test_pages_of_signed_in_users_are_never_kept(admin_client: TestClient[Any, Any]) -> None:
    await new_post(admin_client, title="Mine", slug="mine")
    cache = page_cache(admin_client)
    kept = len(cache)
    for _ in range(2):
        response = await admin_client.get("/posts/mine")
        assert response.status == 200
        assert "Mine" in await response.text()
    assert len(cache) == kept
    assert cache.hits == 0


async def test_a_kept_page_is_gzipped_once_and_still_negotiated(
    admin_client: TestClient[Any, Any],
) -> None:
    await new_post(admin_client, title="Long read", slug="long", body="Many words. " * 400)
    cache = page_cache(admin_client)
    async with visitor(admin_client) as browser:
        async with browser.get("/posts/long", headers={"Accept-Encoding": "identity"}) as plain:
            assert "Content-Encoding" not in plain.headers
            assert "Accept-Encoding" in plain.headers["Vary"]
            page = await plain.read()
        for _ in range(2):
            async with browser.get(
                "/posts/long", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
            ) as packed:
                assert packed.headers["Content-Encoding"] == "gzip"
                assert "Accept-Encoding" in packed.headers["Vary"]
                assert "Cookie" in packed.headers["Vary"]
                assert gzip.decompress(await packed.read()) == page
        assert cache.hits == 2


async def test_the_cache_keeps_to_its_budget_dropping_the_least_recently_used() -> None:
    cache = PageCache(max_bytes=64 * 1024)
    for number in range(40):
        cache.put((f"tag-{number}",), b"x" * 1000)
        assert cache.size <= cache.max_bytes
    assert 0 < len(cache) < 40
    assert cache.get(("tag-0",)) is None  # the oldest went first
    assert cache.get(("tag-39",)) is not None
    # A page too large for its share of the budget is served but not kept.
    cache.put(("huge",), b"x" * 20_000)
    assert cache.get(("huge",)) is None


async def test_page_cache_mb_zero_turns_it_off(make_client: ClientFactory) -> None:
    client = await make_client(server={"page_cache_mb": 0})
    assert PAGE_CACHE_KEY not in client.app
    await setup_admin(client)
    await new_post(client, title="Uncached", slug="uncached")
    async with visitor(client) as browser, browser.get("/posts/uncached") as page:
        assert "Uncached" in await page.text()
        assert "ETag" in page.headers  # validators do not depend on it


class ClockPlugin:
    """A plugin whose template variable is a function: what it returns is not in the tag."""

    calls = 0

    @hookimpl
    def extra_template_vars(self) -> dict[str, Any]:
        def ticks() -> int:
            ClockPlugin.calls += 1
            return ClockPlugin.calls

        return {"ticks": ticks}


async def test_pages_with_functions_from_plugins_render_every_time(
    make_client: ClientFactory,
) -> None:
    client = await make_client(plugins=[("clock", ClockPlugin())])
    await setup_admin(client)
    await new_post(client, title="Timely", slug="timely")
    cache = page_cache(client)
    async with visitor(client) as browser:
        for _ in range(2):
            async with browser.get("/posts/timely") as page:
                assert page.status == 200
    assert cache.hits == 0
    assert len(cache) == 0


# --- post texts by version -----------------------------------------------------------


async def test_a_post_read_again_leaves_its_texts_out_until_it_changes(
    open_storage: StorageFactory,
) -> None:
    with statement_log() as log:  # before any connection opens: it traces new ones
        storage = await open_storage()
        other = await open_storage()  # another worker, on the same database
        post = await stored_post(storage, "Kept", slug="kept", body="First **body**")
        await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon, not at once
        before = len(log.seen)
        first = await storage.get_post_by_slug("kept", status="published")
        again = await storage.get_post_by_slug("kept", status="published")
        by_id = await storage.get_post(post.id)
        await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon, not at once
        reads = [statement for statement in log.seen[before:] if "cms_posts" in statement]
    assert first is not None and again is not None and by_id is not None
    assert again.body == first.body == by_id.body == "First **body**"
    assert again.html == first.html
    assert storage._texts is not None
    assert len(storage._texts) == 1
    assert storage._texts.hits == 2  # the second read by slug, and the read by id
    assert len(reads) == 3  # one statement per read, texts or not
    # The other worker edits: the very next read here has the new texts.
    await other.update_post(post.id, {"body": "Second", "html": "<p>Second</p>"}, editor_id=None)
    edited = await storage.get_post_by_slug("kept", status="published")
    assert edited is not None
    assert (edited.body, edited.html, edited.version) == ("Second", "<p>Second</p>", 2)
    edited_by_id = await storage.get_post(post.id)
    assert edited_by_id is not None and edited_by_id.body == "Second"


async def test_texts_changed_without_a_new_version_are_still_read(
    open_storage: StorageFactory,
) -> None:
    """A post deleted and imported again under its old id and version, but with other
    texts, is not taken for the one kept: the update time is checked too."""
    storage = await open_storage()
    post = await stored_post(storage, "Twin", slug="twin")
    assert (await storage.get_post(post.id)) is not None
    await raw(
        storage,
        text(
            "UPDATE cms_posts SET body = 'Other', html = '<p>Other</p>', "
            "updated_at = :moment WHERE id = :id"
        ),
        {"moment": post.updated_at.replace(year=post.updated_at.year + 1), "id": post.id},
    )
    again = await storage.get_post(post.id)
    assert again is not None and again.version == post.version
    assert (again.body, again.html) == ("Other", "<p>Other</p>")


async def test_a_slug_moved_to_another_post_reads_that_post(open_storage: StorageFactory) -> None:
    storage = await open_storage()
    first = await stored_post(storage, "First", slug="moving")
    assert (await storage.get_post_by_slug("moving")) is not None
    await storage.update_post(first.id, {"slug": "moved"}, editor_id=None)
    second = await stored_post(storage, "Second", slug="moving")
    found = await storage.get_post_by_slug("moving")
    assert found is not None
    assert (found.id, found.title, found.body) == (second.id, "Second", "Body of Second")


async def test_the_text_cache_keeps_to_its_budget(open_storage: StorageFactory) -> None:
    storage = await open_storage()
    texts = storage._texts
    assert texts is not None
    texts.max_bytes = 8 * 1024
    for number in range(20):
        post = await stored_post(storage, f"Post {number}", body="y" * 300)
        assert (await storage.get_post(post.id)) is not None
        assert texts.size <= texts.max_bytes
    assert 0 < len(texts) < 20


async def test_texts_pushed_out_while_a_read_waits_still_serve_it(
    open_storage: StorageFactory,
) -> None:
    """A read names the version it holds, then waits for the database; meanwhile other
    reads may push that version out of the budget. The read still gets its texts."""
    storage = await open_storage()
    texts = storage._texts
    assert texts is not None
    kept = await stored_post(storage, "Kept", slug="kept", body="z" * 1000)
    others = [await stored_post(storage, f"Other {n}", body="w" * 1000) for n in range(12)]
    assert await storage.get_post(kept.id) is not None
    known = texts.by_id(kept.id)  # what a read of it names before it waits
    assert known is not None
    texts.max_bytes = 10 * known.size  # about ten posts' texts
    for post in others:  # the reads that went on meanwhile
        assert await storage.get_post(post.id) is not None
    assert texts.by_id(kept.id) is None
    # The database answers the waiting read: the same version, so no texts.
    answer = {"id": kept.id, "slug": "kept", "body": None, "html": None}
    completed = texts.complete(answer, known)
    assert (completed["body"], completed["html"]) == (known.body, known.html)
    assert texts.size <= texts.max_bytes


async def test_a_page_of_posts_read_again_leaves_out_the_texts_it_showed(
    open_storage: StorageFactory,
) -> None:
    storage = await open_storage()
    other = await open_storage()  # another worker, on the same database
    texts = storage._texts
    assert texts is not None
    posts = [await stored_post(storage, f"Listed {n}", body=f"Body {n}") for n in range(5)]
    first = await storage.list_posts(status="published", limit=3)
    hits = texts.hits
    again = await storage.list_posts(status="published", limit=3)
    assert [(p.id, p.body, p.html) for p in again] == [(p.id, p.body, p.html) for p in first]
    assert texts.hits == hits + 3  # every post of the page, texts left out
    # Another worker edits one of them; the very next read shows it, the others still
    # come from here.
    edited_id = first[1].id
    await other.update_post(edited_id, {"body": "New", "html": "<p>New</p>"}, editor_id=None)
    hits = texts.hits
    after = await storage.list_posts(status="published", limit=3)
    bodies = {post.id: post.body for post in after}
    assert bodies[edited_id] == "New"
    assert [post.id for post in after] == [post.id for post in first]
    assert texts.hits == hits + 2
    # A deeper page, and a page of another shape, are pages of their own.
    deeper = await storage.list_posts(status="published", limit=10)
    assert {post.id for post in deeper} == {post.id for post in posts}
    assert {post.id: post.body for post in deeper}[edited_id] == "New"


async def test_identical_pages_asked_together_go_out_once(open_storage: StorageFactory) -> None:
    with statement_log() as log:  # before any connection opens: it traces new ones
        storage = await open_storage()
        for n in range(4):
            await stored_post(storage, f"Paged {n}")
        await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon, not at once
        before = len(log.seen)
        pages = await asyncio.gather(
            *(storage.list_posts(status="published", limit=3) for _ in range(12))
        )
        await asyncio.sleep(0.05)
        reads = [statement for statement in log.seen[before:] if "cms_posts" in statement]
    assert all([p.title for p in page] == ["Paged 3", "Paged 2", "Paged 1"] for page in pages)
    assert len(reads) == 1, reads


# --- identical reads sent once -------------------------------------------------------


async def test_identical_reads_asked_together_go_out_once(open_storage: StorageFactory) -> None:
    with statement_log() as log:  # before any connection opens: it traces new ones
        storage = await open_storage()
        await stored_post(storage, "Popular", slug="popular")
        await storage.get_post_by_slug("popular", status="published")  # texts now known
        await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon, not at once
        before = len(log.seen)
        posts = await asyncio.gather(
            *(storage.get_post_by_slug("popular", status="published") for _ in range(16)),
            storage.get_post_by_slug("other", status="published"),
        )
        await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon, not at once
        reads = [statement for statement in log.seen[before:] if "cms_posts" in statement]
    assert [post.title if post else None for post in posts] == ["Popular"] * 16 + [None]
    assert len(reads) == 2, reads  # one for the sixteen, one for the other slug
    assert len({id(post) for post in posts[:16]}) == 16  # each caller its own Post


async def test_a_read_already_sent_is_never_joined() -> None:
    """A caller arriving after the statement went out reads for itself: it must see what
    was committed before it arrived."""
    coalescer = ReadCoalescer()
    sent: list[asyncio.Event] = []

    async def run() -> list[dict[str, Any]]:
        answer = asyncio.Event()
        sent.append(answer)
        number = len(sent)
        await answer.wait()
        return [{"read": number}]

    first = asyncio.create_task(coalescer.read("post", {"slug": "a"}, run))
    for _ in range(3):  # the first read goes out after one turn of the loop
        await asyncio.sleep(0)
    assert len(sent) == 1
    late = asyncio.create_task(coalescer.read("post", {"slug": "a"}, run))
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(sent) == 2
    for answer in sent:
        answer.set()
    assert await first == [{"read": 1}]
    assert await late == [{"read": 2}]
    assert coalescer.shared_reads == 0


async def test_a_cancelled_or_failed_read_does_not_strand_the_others() -> None:
    coalescer = ReadCoalescer()
    calls = 0

    async def slow() -> list[dict[str, Any]]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return [{"call": calls}]

    leader = asyncio.create_task(coalescer.read("post", {"id": 1}, slow))
    follower = asyncio.create_task(coalescer.read("post", {"id": 1}, slow))
    await asyncio.sleep(0.01)
    leader.cancel()
    # The follower reads for itself rather than wait for a read that will not come.
    assert await follower == [{"call": 2}]
    with pytest.raises(asyncio.CancelledError):
        await leader

    async def broken() -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        raise RuntimeError("database went away")

    results = await asyncio.gather(
        *(coalescer.read("post", {"id": 2}, broken) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, RuntimeError) for result in results)


async def test_a_post_page_under_concurrent_visitors_stays_right(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    """Many visitors at once, an edit in the middle: every page after the edit is the new
    one, through the page cache, the text cache and shared reads together."""
    client = await make_client(storage=storage_settings)
    await setup_admin(client)
    post_id = await new_post(client, title="Crowded", slug="crowded", body="Before")
    storage = site_of(client).storage
    assert isinstance(storage, SqlStorage)
    async with visitor(client) as browser:

        async def visit() -> str:
            async with browser.get("/posts/crowded") as page:
                assert page.status == 200
                return await page.text()

        pages = await asyncio.gather(*(visit() for _ in range(24)))
        assert all("Before" in page for page in pages)
        await edit_post(client, post_id, body="After")
        pages = await asyncio.gather(*(visit() for _ in range(24)))
        assert all("After" in page and "Before" not in page for page in pages)
