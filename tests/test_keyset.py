"""Keyset pagination of the public index.

Issue point: "a test on a site with 10,000 posts shows the query plan of a deep page uses
the index and reads no more rows than a first page". On SQLite the plan comes from
``EXPLAIN QUERY PLAN`` and the work from the number of virtual-machine instructions the
statement runs (a progress handler called on every instruction), which grows with every
row read. On PostgreSQL (when configured) ``EXPLAIN ANALYZE`` gives both.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cms.plugins.sql_storage import SqlStorage
from sqlalchemy import Select, func, select, text, update
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from cms.contracts import Cursor, Post
from cms.core.site import Site
from tests.conftest import (
    POSTGRES_URL_ENV,
    ClientFactory,
    create_user,
    make_settings,
    reset_postgres,
    service_url,
    site_of,
)

PUBLISHED = 10_000
PAGE = 10
LIMIT = PAGE + 1  # what the index view asks for: one more tells whether there is a next page
INDEX = "ix_cms_posts_status_published"
START = datetime(2020, 1, 1, tzinfo=UTC)


async def raw(storage: SqlStorage, statement: Any, params: Any = None) -> Any:
    """Run one statement on a connection of our own, committing it."""
    engine = create_async_engine(storage.url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(statement, params)
            return result.all() if result.returns_rows else None
    finally:
        await engine.dispose()


async def open_storage(site_dir: Path, storage_settings: dict[str, Any]) -> SqlStorage:
    site = Site(make_settings(site_dir, storage=storage_settings))
    await site.configure()
    storage = site.storage
    assert isinstance(storage, SqlStorage)
    await storage.open()
    await storage.migrate()
    return storage


async def seed(storage: SqlStorage, *, tied: bool) -> tuple[list[int], float]:
    """Insert 10,000 published posts (and a draft after every tenth) in one executemany.

    ``tied``: all share one publication time, as an import of dated posts might produce.
    Returns the published ids newest first, by a plain ORDER BY (the oracle), and the time
    the insert took.
    """
    rows = []
    for n in range(PUBLISHED + PUBLISHED // 10):
        draft = n % 11 == 10
        moment = START if tied else START + timedelta(minutes=n)
        rows.append(
            {
                "slug": f"post-{n}",
                "title": f"Post {n}",
                "body": "Text",
                "html": "<p>Text</p>",
                "status": "draft" if draft else "published",
                "published_at": None if draft else moment,
                "created_at": moment,
                "updated_at": moment,
                "version": 1,
            }
        )
    started = time.perf_counter()
    await raw(storage, storage.schema.posts.insert(), rows)
    elapsed = time.perf_counter() - started
    posts = storage.schema.posts
    ordered = await raw(
        storage,
        select(posts.c.id)
        .where(posts.c.status == "published")
        .order_by(posts.c.published_at.desc(), posts.c.id.desc()),
    )
    ids = [row[0] for row in ordered]
    assert len(ids) == PUBLISHED
    return ids, elapsed


async def cursor_of(storage: SqlStorage, post_id: int) -> Cursor:
    post = await storage.get_post(post_id)
    assert post is not None and post.published_at is not None
    return (post.published_at, post.id)


@pytest.fixture
async def sqlite_storage(site_dir: Path, tmp_path: Path) -> AsyncIterator[SqlStorage]:
    storage = await open_storage(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "big.db")}}
    )
    yield storage
    await storage.close()


@pytest.fixture
async def postgres_storage(site_dir: Path) -> AsyncIterator[SqlStorage]:
    url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    await reset_postgres(url)
    storage = await open_storage(site_dir, {"backend": "postgres", "options": {"url": url}})
    yield storage
    await storage.close()


# -- SQLite: the plan and the work of a deep page ------------------------------------------


class SqlitePage:
    """Runs a page's statements with the stdlib driver, as list_posts runs them."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path)

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def sql(query: Select[Any]) -> str:
        compiled = query.compile(
            dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}
        )
        return str(compiled)

    def plan(self, query: Select[Any]) -> list[str]:
        return [row[3] for row in self.conn.execute("EXPLAIN QUERY PLAN " + self.sql(query))]

    def run(self, queries: list[Select[Any]]) -> tuple[list[int], int, list[str]]:
        """Ids found, VM instructions spent, and the plans of the statements that ran."""
        ids: list[int] = []
        steps = 0
        plans: list[str] = []

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        for query in queries:
            query = query.limit(LIMIT - len(ids))
            plans.extend(self.plan(query))
            self.conn.set_progress_handler(count, 1)
            try:
                ids.extend(row[0] for row in self.conn.execute(self.sql(query)))
            finally:
                self.conn.set_progress_handler(None, 1)
            if len(ids) >= LIMIT:
                break
        return ids, steps, plans


def assert_index_plan(plans: list[str]) -> None:
    posts_lines = [line for line in plans if "cms_posts" in line]
    assert posts_lines, plans
    for line in posts_lines:
        assert line.startswith(f"SEARCH cms_posts USING INDEX {INDEX} (status=?"), plans
    assert not any("SCAN cms_posts" in line for line in plans), plans
    assert not any("TEMP B-TREE" in line for line in plans), plans


@pytest.mark.parametrize("tied", [False, True], ids=["distinct-times", "one-time"])
async def test_deep_page_uses_the_index_and_reads_no_more_than_the_first(
    sqlite_storage: SqlStorage, tmp_path: Path, tied: bool
) -> None:
    storage = sqlite_storage
    ids, _ = await seed(storage, tied=tied)
    deep_cursor = await cursor_of(storage, ids[9_989])  # the 9,990th post, newest first
    second_cursor = await cursor_of(storage, ids[PAGE - 1])

    page = SqlitePage(str(tmp_path / "big.db"))
    try:
        first_ids, first_steps, first_plans = page.run(
            storage.page_queries(status="published", limit=LIMIT)
        )
        second_ids, second_steps, second_plans = page.run(
            storage.page_queries(status="published", after=second_cursor, limit=LIMIT)
        )
        deep_ids, deep_steps, deep_plans = page.run(
            storage.page_queries(status="published", after=deep_cursor, limit=LIMIT)
        )
        # What reading every row before a deep page costs: OFFSET instead of a cursor.
        offset_query = storage.page_queries(status="published", limit=LIMIT)[0].offset(9_990)
        offset_ids, offset_steps, _ = page.run([offset_query])
    finally:
        page.close()

    assert first_ids == ids[:LIMIT]
    assert second_ids == ids[PAGE : PAGE + LIMIT]
    assert deep_ids == ids[9_990:] == offset_ids
    assert len(deep_ids) == PAGE
    # The storage's own reading agrees with the statements we ran.
    listed = await storage.list_posts(status="published", after=deep_cursor, limit=LIMIT)
    assert [post.id for post in listed] == deep_ids

    for plans in (first_plans, second_plans, deep_plans):
        assert_index_plan(plans)
    # The instrument is sensitive: reading the 9,990 rows before the page costs far more.
    assert offset_steps > 20 * first_steps, (offset_steps, first_steps)
    # A deep page does the same work as the first page and the second one.
    assert deep_steps <= 1.5 * first_steps, (deep_steps, first_steps)
    assert deep_steps <= 1.2 * second_steps, (deep_steps, second_steps)


async def test_admin_list_by_update_time_seeks_too(
    sqlite_storage: SqlStorage, tmp_path: Path
) -> None:
    storage = sqlite_storage
    await seed(storage, tied=True)
    posts = storage.schema.posts
    newest_id = (await raw(storage, select(func.max(posts.c.id))))[0][0]
    cursor = (START, newest_id - 10_000)

    page = SqlitePage(str(tmp_path / "big.db"))
    try:
        first_ids, first_steps, first_plans = page.run(
            storage.page_queries(limit=LIMIT, order="updated")
        )
        deep_ids, deep_steps, deep_plans = page.run(
            storage.page_queries(after=cursor, limit=LIMIT, order="updated")
        )
    finally:
        page.close()

    assert first_ids == list(range(newest_id, newest_id - LIMIT, -1))
    assert deep_ids == list(range(cursor[1] - 1, cursor[1] - 1 - LIMIT, -1))
    # The first page walks the index from its end; a deep page seeks into it.
    assert "SCAN cms_posts USING INDEX ix_cms_posts_updated" in first_plans, first_plans
    for line in deep_plans:
        if "cms_posts" in line:
            assert line.startswith("SEARCH cms_posts USING INDEX ix_cms_posts_updated ("), line
    assert not any("TEMP B-TREE" in line for line in first_plans + deep_plans)
    assert deep_steps <= 1.5 * first_steps, (deep_steps, first_steps)


# -- PostgreSQL: the same, from EXPLAIN ANALYZE ---------------------------------------------


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [node]
    for child in node.get("Plans", []):
        nodes.extend(plan_nodes(child))
    return nodes


async def explain_analyze(storage: SqlStorage, query: Select[Any]) -> list[dict[str, Any]]:
    engine = create_async_engine(storage.url, poolclass=NullPool)
    try:
        sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        async with engine.connect() as conn:
            result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            document = result.scalar_one()
    finally:
        await engine.dispose()
    if isinstance(document, str):
        document = json.loads(document)
    return plan_nodes(document[0]["Plan"])


@pytest.mark.postgres
@pytest.mark.parametrize("tied", [False, True], ids=["distinct-times", "one-time"])
async def test_postgres_deep_page_reads_one_page_of_the_index(
    postgres_storage: SqlStorage, tied: bool
) -> None:
    storage = postgres_storage
    ids, _ = await seed(storage, tied=tied)
    await raw(storage, text("ANALYZE cms_posts"))
    deep_cursor = await cursor_of(storage, ids[9_989])

    for after in (None, deep_cursor):
        (query,) = storage.page_queries(status="published", after=after, limit=LIMIT)
        nodes = await explain_analyze(storage, query)
        scans = [node for node in nodes if node.get("Relation Name") == "cms_posts"]
        assert len(scans) == 1, nodes
        scan = scans[0]
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
        assert scan["Index Name"] == INDEX
        assert scan["Actual Rows"] <= LIMIT, scan
        assert scan.get("Rows Removed by Filter", 0) == 0, scan
        assert "ROW(published_at, id) <" in scan["Index Cond"] or after is None, scan
        for node in nodes:
            if node["Node Type"] == "Sort":
                assert node["Actual Rows"] <= LIMIT, node

    listed = await storage.list_posts(status="published", after=deep_cursor, limit=LIMIT)
    assert [post.id for post in listed] == ids[9_990:]


# -- HTTP: the index follows its own "next" links --------------------------------------------

_POST_LINK = re.compile(r'href="/posts/([a-z0-9-]+)"')
_NEXT_LINK = re.compile(r'href="(/\?after=[A-Za-z0-9_-]+)"')


async def publish(storage: Any, n: int, status: str = "published") -> Post:
    post: Post = await storage.create_post(
        {
            "title": f"Post {n}",
            "slug": f"post-{n}",
            "body": f"Text {n}",
            "html": f"<p>Text {n}</p>",
            "status": status,
        },
        author_id=None,
    )
    return post


@pytest.mark.parametrize("tied", [False, True], ids=["distinct-times", "tie-across-pages"])
async def test_next_links_visit_every_post_once_newest_first(
    make_client: ClientFactory, tied: bool
) -> None:
    client = await make_client(site={"posts_per_page": PAGE})
    await create_user(client, "admin", "admin")  # a site that is set up shows its index
    storage = site_of(client).storage
    assert isinstance(storage, SqlStorage)
    posts = []
    for n in range(25):
        posts.append(await publish(storage, n))
        if n % 7 == 3:
            await publish(storage, 100 + n, status="draft")
    if tied:
        # Posts 8..17 share a time, so the first page ends inside the tie.
        table = storage.schema.posts
        await raw(
            storage,
            update(table)
            .where(table.c.id.in_([post.id for post in posts[8:18]]))
            .values(published_at=posts[8].published_at),
        )
        reread = [await storage.get_post(post.id) for post in posts]
        posts = [post for post in reread if post is not None]
    expected = [
        post.slug
        for post in sorted(posts, key=lambda post: (post.published_at, post.id), reverse=True)
    ]

    seen: list[str] = []
    sizes: list[int] = []
    url: str | None = "/"
    while url is not None:
        response = await client.get(url)
        assert response.status == 200, url
        html = await response.text()
        slugs = _POST_LINK.findall(html)
        seen.extend(slugs)
        sizes.append(len(slugs))
        next_links = _NEXT_LINK.findall(html)
        assert len(next_links) <= 1
        url = next_links[0] if next_links else None
        assert len(sizes) <= 5, "the next links go round in circles"

    assert sizes == [10, 10, 5]
    assert seen == expected
    assert len(set(seen)) == 25


def _cursor(raw_text: str) -> str:
    return base64.urlsafe_b64encode(raw_text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "after",
    [
        "garbage!!",
        "%FF%FE",
        "A",
        _cursor("yesterday|5"),
        _cursor("2024-01-01T00:00:00|five"),
        _cursor("2024-01-01T00:00:00"),
        _cursor("2024-01-01T00:00:00|99999999999999999999999"),
        _cursor("0001-01-01T00:00:00+23:59|5"),
    ],
)
async def test_damaged_cursor_is_a_themed_400(make_client: ClientFactory, after: str) -> None:
    client = await make_client(site={"posts_per_page": PAGE})
    await create_user(client, "admin", "admin")  # a site that is set up shows its index
    await publish(site_of(client).storage, 1)
    response = await client.get("/?after=" + after)
    html = await response.text()
    assert response.status == 400, html[:500]
    assert response.content_type == "text/html"
    assert 'class="error-page' in html
    assert "damaged" in html
    assert "Traceback" not in html


def on_each_read_connection(
    storage: SqlStorage, prepare: Callable[[sqlite3.Connection], object]
) -> None:
    """Have ``prepare`` called on each connection the storage's reading threads open."""
    reads: Any = storage._sqlite_reads  # type: ignore[attr-defined]
    connect = reads._connect

    def connected() -> sqlite3.Connection:
        conn: sqlite3.Connection = connect()
        prepare(conn)
        return conn

    reads._connect = connected


async def test_a_post_page_finds_its_neighbours_by_one_seek_each(
    sqlite_storage: SqlStorage,
) -> None:
    """The previous/next links of the public post page cost the same for the oldest, a
    middle and the newest of 10,000 posts (the older link once walked down from now)."""
    storage = sqlite_storage
    ids, _ = await seed(storage, tied=False)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    on_each_read_connection(storage, lambda conn: conn.set_progress_handler(count, 1))
    costs = []
    for post_id in (ids[-1], ids[len(ids) // 2], ids[0]):  # the oldest, a middle, the newest
        post = await storage.get_post(post_id)
        assert post is not None
        before = steps
        found = await storage.get_post_by_slug(post.slug, status="published", kind="post")
        assert found is not None and found.id == post_id
        costs.append(steps - before)
    assert max(costs) <= 1.5 * min(costs), costs


async def test_the_post_page_read_is_compiled_once_not_per_post(
    sqlite_storage: SqlStorage,
) -> None:
    """SQLite compiles a statement again on every run when a bound value could make a
    partial index usable (``kind = ?`` against the pages' indexes ``WHERE kind = 'page'``):
    the post page's read once cost six times its work that way. The authorizer is called
    while SQLite compiles a statement, so reading more posts must not call it again."""
    storage = sqlite_storage
    ids, _ = await seed(storage, tied=False)
    compiled = 0

    def authorize(*_: Any) -> int:
        nonlocal compiled
        compiled += 1
        return sqlite3.SQLITE_OK

    on_each_read_connection(storage, lambda conn: conn.set_authorizer(authorize))
    slugs = [f"post-{n}" for n in (1, 2, 3, 4, 5, 6, 12, 13, 14, 15, 16, 17)]
    for slug in slugs[:6]:  # every reading thread has its connection and statement
        assert await storage.get_post_by_slug(slug, status="published", kind="post")
    assert compiled > 0  # the authorizer does see compiling
    before = compiled
    for slug in slugs[6:]:
        found = await storage.get_post_by_slug(slug, status="published", kind="post")
        assert found is not None and found.older is not None and found.newer is not None
    assert compiled == before, "a post page's read was compiled again for another post"
    assert len(ids) > 12
