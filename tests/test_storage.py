"""The storage contract (cms.contracts.Storage), run against every SQL backend.

Each test builds its storage the way ``cms serve`` does: settings -> Site -> configure()
-> the backend that settings name -> open() -> migrate(). SQLite runs on a real file;
PostgreSQL runs when CMS_TEST_POSTGRES_URL points at a server (see conftest).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import pytest
from cms.plugins.sql_storage import SqlStorage
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from cms import PostField, Text, hookimpl
from cms.contracts import (
    DependencyUnavailable,
    Post,
    PostNotFound,
    Storage,
    UsernameTaken,
    VersionConflict,
)
from cms.core.site import Site
from tests.conftest import StorageFactory, build_storage

Order = Literal["published", "updated"]

EVENT_TIME = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


class FieldsPlugin:
    """A plugin declaring one field of every supported type."""

    @hookimpl
    def register_post_fields(self, cms: Site) -> list[PostField]:
        return [
            PostField("subtitle", str, max_length=200),
            PostField("summary", Text),
            PostField("rating", int),
            PostField("score", float),
            PostField("pinned", bool),
            PostField("event_at", datetime),
        ]


class SubtitlePlugin:
    """A plugin adding just one field, as a freshly installed plugin would."""

    @hookimpl
    def register_post_fields(self, cms: Site) -> list[PostField]:
        return [PostField("subtitle", str, label="Subtitle", max_length=200)]


@pytest.fixture
async def storage(open_storage: StorageFactory) -> SqlStorage:
    return await open_storage()


async def raw(storage: SqlStorage, statement: Any, params: dict[str, Any] | None = None) -> Any:
    """Run one statement on a connection of our own (not the storage's), committing it."""
    engine = create_async_engine(storage.url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(statement, params or {})
            return result.all() if result.returns_rows else None
    finally:
        await engine.dispose()


async def new_post(
    storage: Storage,
    title: str = "A post",
    *,
    slug: str | None = None,
    status: str = "published",
    author_id: int | None = None,
    **extra: Any,
) -> Post:
    values = {
        "title": title,
        "slug": slug or title.lower().replace(" ", "-"),
        "body": f"Body of {title}",
        "html": f"<p>Body of {title}</p>",
        "status": status,
        **extra,
    }
    return await storage.create_post(values, author_id=author_id)


async def all_pages(
    storage: Storage, *, limit: int, order: Order = "published", **filters: Any
) -> list[Post]:
    """Follow keyset cursors page by page until a short page."""
    seen: list[Post] = []
    after = None
    for _ in range(1000):
        page = await storage.list_posts(after=after, limit=limit, order=order, **filters)
        assert len(page) <= limit
        seen.extend(page)
        if len(page) < limit:
            return seen
        last = page[-1]
        when = last.published_at if order == "published" else last.updated_at
        assert when is not None
        after = (when, last.id)
    raise AssertionError("pagination did not end")


# -- posts ---------------------------------------------------------------------------------


async def test_create_and_get(storage: SqlStorage) -> None:
    user = await storage.create_user("writer", "hash", "author")
    assert user is not None
    before = datetime.now(UTC)
    post = await new_post(storage, "Hello world", author_id=user.id)
    after = datetime.now(UTC)

    assert post.id > 0
    assert (post.slug, post.title, post.status) == ("hello-world", "Hello world", "published")
    assert post.body == "Body of Hello world"
    assert post.html == "<p>Body of Hello world</p>"
    assert post.version == 1
    assert post.author_id == user.id
    assert post.author == "writer"
    assert post.editor == "writer"
    for moment in (post.created_at, post.updated_at, post.published_at):
        assert moment is not None
        assert moment.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= moment <= after + timedelta(seconds=1)

    assert await storage.get_post(post.id) == post
    assert await storage.get_post(post.id + 1000) is None


async def test_draft_has_no_published_at(storage: SqlStorage) -> None:
    draft = await new_post(storage, "Draft", status="draft")
    assert draft.status == "draft"
    assert draft.published_at is None
    assert draft.author is None and draft.author_id is None


async def test_get_post_by_slug_with_status_filter(storage: SqlStorage) -> None:
    published = await new_post(storage, "Out", status="published")
    draft = await new_post(storage, "Not yet", status="draft")

    assert await storage.get_post_by_slug("out") == published
    assert await storage.get_post_by_slug("out", status="published") == published
    assert await storage.get_post_by_slug("out", status="draft") is None
    assert await storage.get_post_by_slug("not-yet") == draft
    assert await storage.get_post_by_slug("not-yet", status="published") is None
    assert await storage.get_post_by_slug("not-yet", status="draft") == draft
    assert await storage.get_post_by_slug("nothing-here") is None


async def test_list_filters_by_status_and_author(storage: SqlStorage) -> None:
    alice = await storage.create_user("alice", "hash", "author")
    bob = await storage.create_user("bob", "hash", "author")
    assert alice is not None and bob is not None
    a1 = await new_post(storage, "A one", author_id=alice.id)
    a2 = await new_post(storage, "A two", author_id=alice.id, status="draft")
    b1 = await new_post(storage, "B one", author_id=bob.id)
    b2 = await new_post(storage, "B two", author_id=bob.id, status="draft")
    nobody = await new_post(storage, "Nobody's")

    def ids(posts: list[Post]) -> list[int]:
        return [post.id for post in posts]

    assert ids(await storage.list_posts(status="published")) == [nobody.id, b1.id, a1.id]
    # Drafts have no publication time: listing by it leaves them out.
    assert ids(await storage.list_posts(status="draft", order="updated")) == [b2.id, a2.id]
    assert ids(await storage.list_posts(order="updated")) == [
        nobody.id,
        b2.id,
        b1.id,
        a2.id,
        a1.id,
    ]
    assert ids(await storage.list_posts(author_id=alice.id, order="updated")) == [a2.id, a1.id]
    assert ids(await storage.list_posts(author_id=bob.id, status="published")) == [b1.id]
    assert ids(await storage.list_posts(author_id=bob.id, status="draft", order="updated")) == [
        b2.id
    ]
    assert await storage.list_posts(author_id=alice.id + bob.id + 100, order="updated") == []


async def test_list_orders_by_published_or_updated(storage: SqlStorage) -> None:
    first = await new_post(storage, "First")
    second = await new_post(storage, "Second")
    third = await new_post(storage, "Third")
    await storage.update_post(first.id, {"title": "First, edited"}, editor_id=None)

    by_published = await storage.list_posts(status="published")
    assert [post.id for post in by_published] == [third.id, second.id, first.id]
    by_updated = await storage.list_posts(status="published", order="updated")
    assert [post.id for post in by_updated] == [first.id, third.id, second.id]
    assert by_updated[0].title == "First, edited"


async def test_list_limit(storage: SqlStorage) -> None:
    created = [await new_post(storage, f"Post {n}") for n in range(5)]
    newest = [post.id for post in reversed(created)]
    assert [p.id for p in await storage.list_posts(status="published", limit=2)] == newest[:2]
    assert [p.id for p in await storage.list_posts(status="published", limit=1)] == newest[:1]
    assert [p.id for p in await storage.list_posts(status="published", limit=50)] == newest


@pytest.mark.parametrize("order", ["published", "updated"])
async def test_keyset_pages_have_no_overlap_or_gap(storage: SqlStorage, order: Order) -> None:
    created = [await new_post(storage, f"Post {n}") for n in range(23)]
    # Edit a few so that updated order differs from publication order.
    for post in created[3:6]:
        await storage.update_post(post.id, {"title": post.title + "!"}, editor_id=None)

    everything = await storage.list_posts(status="published", order=order, limit=100)
    assert len(everything) == 23
    for limit in (1, 5, 10, 23, 24):
        paged = await all_pages(storage, limit=limit, order=order, status="published")
        assert [post.id for post in paged] == [post.id for post in everything], limit


async def test_cursor_after_the_last_post_gives_an_empty_page(storage: SqlStorage) -> None:
    oldest = await new_post(storage, "Oldest")
    await new_post(storage, "Newer")
    assert oldest.published_at is not None
    assert (
        await storage.list_posts(status="published", after=(oldest.published_at, oldest.id)) == []
    )
    # A cursor in the future starts from the newest post; a naive time counts as UTC.
    future = datetime.now(UTC) + timedelta(days=1)
    page = await storage.list_posts(status="published", after=(future.replace(tzinfo=None), 1))
    assert len(page) == 2


@pytest.mark.parametrize("order", ["published", "updated"])
async def test_keyset_ties_on_the_same_time_are_broken_by_id(
    storage: SqlStorage, order: Order
) -> None:
    posts = [await new_post(storage, f"Tie {n}") for n in range(9)]
    same = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    table = storage.schema.posts
    # Posts 2..7 share one timestamp (an import might do that); 0-1 are older, 8 newer.
    await raw(
        storage,
        update(table)
        .where(table.c.id.in_([post.id for post in posts[2:8]]))
        .values(published_at=same, updated_at=same),
    )
    for post, moment in ((posts[0], same - timedelta(days=2)), (posts[1], same - timedelta(1))):
        await raw(
            storage,
            update(table)
            .where(table.c.id == post.id)
            .values(published_at=moment, updated_at=moment),
        )
    await raw(
        storage,
        update(table)
        .where(table.c.id == posts[8].id)
        .values(published_at=same + timedelta(1), updated_at=same + timedelta(1)),
    )

    expected = [posts[8].id, *(post.id for post in reversed(posts[2:8])), posts[1].id, posts[0].id]
    assert [p.id for p in await storage.list_posts(limit=20, order=order)] == expected
    for limit in (1, 2, 3, 4, 5):
        paged = await all_pages(storage, limit=limit, order=order, status="published")
        assert [post.id for post in paged] == expected, limit
    # A cursor inside the tie continues with the smaller ids of the same time.
    inside = await storage.list_posts(after=(same, posts[5].id), limit=3, order=order)
    assert [post.id for post in inside] == [posts[4].id, posts[3].id, posts[2].id]


async def test_update_bumps_version_and_updated_at(storage: SqlStorage) -> None:
    editor = await storage.create_user("editor", "hash", "editor")
    assert editor is not None
    post = await new_post(storage, "Original")
    updated = await storage.update_post(
        post.id,
        {"title": "Changed", "body": "New body", "html": "<p>New body</p>"},
        editor_id=editor.id,
    )
    assert updated.version == post.version + 1 == 2
    assert updated.updated_at > post.updated_at
    assert updated.created_at == post.created_at
    assert (updated.title, updated.body, updated.html) == ("Changed", "New body", "<p>New body</p>")
    assert updated.slug == post.slug
    assert updated.editor == "editor"
    assert updated.author is None
    assert await storage.get_post(post.id) == updated

    again = await storage.update_post(
        post.id, {"title": "Again"}, editor_id=None, expected_version=2
    )
    assert again.version == 3
    assert again.updated_at > updated.updated_at
    assert again.body == "New body"


async def test_published_at_is_set_once_when_first_published(storage: SqlStorage) -> None:
    draft = await new_post(storage, "Slow", status="draft")
    assert draft.published_at is None
    edited = await storage.update_post(draft.id, {"title": "Slow, edited"}, editor_id=None)
    assert edited.published_at is None

    published = await storage.update_post(draft.id, {"status": "published"}, editor_id=None)
    assert published.status == "published"
    assert published.published_at is not None
    assert published.published_at >= edited.updated_at

    retitled = await storage.update_post(draft.id, {"title": "Slow, again"}, editor_id=None)
    assert retitled.published_at == published.published_at
    unpublished = await storage.update_post(draft.id, {"status": "draft"}, editor_id=None)
    assert unpublished.status == "draft"
    republished = await storage.update_post(draft.id, {"status": "published"}, editor_id=None)
    assert republished.published_at == published.published_at


async def test_stale_version_raises_and_changes_nothing(storage: SqlStorage) -> None:
    post = await new_post(storage, "Contested")
    current = await storage.update_post(post.id, {"title": "First edit"}, editor_id=None)

    with pytest.raises(VersionConflict) as caught:
        await storage.update_post(
            post.id, {"title": "Lost edit", "slug": "lost"}, editor_id=None, expected_version=1
        )
    assert caught.value.current.version == 2
    assert caught.value.current.title == "First edit"
    assert await storage.get_post(post.id) == current

    with pytest.raises(VersionConflict):
        await storage.delete_post(post.id, expected_version=1)
    assert await storage.get_post(post.id) == current
    assert (await storage.delete_post(post.id, expected_version=2)).id == post.id


async def test_missing_post_raises_post_not_found(storage: SqlStorage) -> None:
    post = await new_post(storage, "Here")
    with pytest.raises(PostNotFound):
        await storage.update_post(post.id + 1000, {"title": "x"}, editor_id=None)
    with pytest.raises(PostNotFound):
        await storage.delete_post(post.id + 1000)
    with pytest.raises(PostNotFound):
        await storage.update_post(
            post.id + 1000, {"title": "x"}, editor_id=None, expected_version=1
        )
    assert await storage.get_post(post.id) == post


async def test_delete_returns_the_post_and_it_is_gone(storage: SqlStorage) -> None:
    post = await new_post(storage, "Doomed")
    keep = await new_post(storage, "Kept")
    deleted = await storage.delete_post(post.id)
    assert deleted == post
    assert await storage.get_post(post.id) is None
    assert await storage.get_post_by_slug("doomed") is None
    assert [p.id for p in await storage.list_posts(order="updated")] == [keep.id]
    with pytest.raises(PostNotFound):
        await storage.delete_post(post.id)
    # Its slug is free again.
    assert (await new_post(storage, "Doomed")).slug == "doomed"


async def test_taken_slug_gets_a_number_on_create(storage: SqlStorage) -> None:
    slugs = [(await new_post(storage, "Same title")).slug for _ in range(4)]
    assert slugs == ["same-title", "same-title-2", "same-title-3", "same-title-4"]
    # A slug that merely starts like another one is not taken.
    assert (await new_post(storage, "Same")).slug == "same"


async def test_taken_slug_gets_a_number_on_update(storage: SqlStorage) -> None:
    hello = await new_post(storage, "Hello")
    other = await new_post(storage, "Other")
    third = await new_post(storage, "Third")

    moved = await storage.update_post(other.id, {"slug": "hello"}, editor_id=None)
    assert moved.slug == "hello-2"
    moved_too = await storage.update_post(third.id, {"slug": "hello"}, editor_id=None)
    assert moved_too.slug == "hello-3"
    # A post keeps its own slug when it saves it again.
    same = await storage.update_post(hello.id, {"slug": "hello", "title": "Hi"}, editor_id=None)
    assert same.slug == "hello"
    assert (
        await storage.update_post(moved.id, {"slug": "hello-2"}, editor_id=None)
    ).slug == "hello-2"
    assert (await storage.get_post_by_slug("hello")) == same


async def test_taken_long_slug_stays_within_the_column(storage: SqlStorage) -> None:
    # The post model allows slugs of 200 characters; the suffix must not push past that.
    long = "a" * 195 + "-bcd"
    assert len(long) == 199
    first = await new_post(storage, "Long", slug=long)
    second = await new_post(storage, "Long", slug=long)
    third = await new_post(storage, "Long", slug=long)
    assert first.slug == long
    for post in (second, third):
        assert len(post.slug) <= 200
        assert post.slug.startswith("a" * 190)
    assert second.slug.endswith("-2") and third.slug.endswith("-3")
    assert len({first.slug, second.slug, third.slug}) == 3


# -- users ---------------------------------------------------------------------------------


async def test_create_user_and_look_it_up(storage: SqlStorage) -> None:
    assert await storage.count_users() == 0
    user = await storage.create_user("Ada", "argon2-hash", "editor")
    assert user is not None
    assert (user.username, user.role, user.password_hash) == ("Ada", "editor", "argon2-hash")
    assert user.is_active is True
    assert user.session_generation == 0
    assert user.created_at is not None and user.created_at.utcoffset() == timedelta(0)
    assert await storage.count_users() == 1
    assert await storage.get_user(user.id) == user
    assert await storage.get_user(user.id + 100) is None
    for spelling in ("Ada", "ada", "ADA", "aDa"):
        assert await storage.get_user_by_username(spelling) == user
    assert await storage.get_user_by_username("bob") is None


async def test_only_if_first_creates_just_the_first_user(storage: SqlStorage) -> None:
    first = await storage.create_user("root", "hash", "admin", only_if_first=True)
    assert first is not None and first.role == "admin"
    assert await storage.create_user("intruder", "hash", "admin", only_if_first=True) is None
    assert await storage.get_user_by_username("intruder") is None
    assert await storage.count_users() == 1
    # Without the flag, more users may be added.
    assert await storage.create_user("second", "hash", "author") is not None


async def test_only_if_first_races_leave_one_admin(storage: SqlStorage) -> None:
    results = await asyncio.gather(
        *(storage.create_user(f"admin{n}", "hash", "admin", only_if_first=True) for n in range(8))
    )
    assert len([user for user in results if user is not None]) == 1
    assert await storage.count_users() == 1


async def test_duplicate_username_in_any_case_is_taken(storage: SqlStorage) -> None:
    user = await storage.create_user("Grace", "hash", "author")
    assert user is not None
    for spelling in ("Grace", "grace", "GRACE"):
        with pytest.raises(UsernameTaken):
            await storage.create_user(spelling, "other", "admin")
    assert await storage.count_users() == 1
    assert await storage.get_user_by_username("grace") == user


async def test_bump_session_generation(storage: SqlStorage) -> None:
    user = await storage.create_user("sam", "hash", "author")
    other = await storage.create_user("kim", "hash", "author")
    assert user is not None and other is not None
    assert await storage.bump_session_generation(user.id) == 1
    assert await storage.bump_session_generation(user.id) == 2
    refreshed = await storage.get_user(user.id)
    assert refreshed is not None and refreshed.session_generation == 2
    untouched = await storage.get_user(other.id)
    assert untouched is not None and untouched.session_generation == 0


# -- schema and plugin fields ----------------------------------------------------------------


async def test_migrate_creates_the_schema_once(open_storage: StorageFactory) -> None:
    storage = await open_storage(migrate=False)
    changes = await storage.migrate()
    assert "created table cms_posts" in changes
    assert "created table cms_users" in changes
    assert await storage.migrate() == []
    again = await open_storage(("fields", FieldsPlugin()), migrate=False)
    assert len(await again.migrate()) == 6
    assert await again.migrate() == []


async def test_check_passes_on_a_reachable_database(storage: SqlStorage) -> None:
    await storage.check()


async def test_plugin_field_values_round_trip(open_storage: StorageFactory) -> None:
    storage = await open_storage(("fields", FieldsPlugin()))
    values: dict[str, Any] = {
        "subtitle": "A subtitle — with ünïcode",
        "summary": "Long\ntext " * 500,
        "rating": 2**40,
        "score": 3.25,
        "pinned": True,
        "event_at": EVENT_TIME,
    }
    post = await new_post(storage, "With fields", **values)
    for found in (
        post,
        await storage.get_post(post.id),
        await storage.get_post_by_slug(post.slug),
        (await storage.list_posts(limit=1))[0],
    ):
        assert found is not None
        assert found.extra == values
        assert found.subtitle == values["subtitle"]
        assert found["rating"] == 2**40
        assert isinstance(found.rating, int) and isinstance(found.score, float)
        assert found.pinned is True
        # The same instant, told in UTC.
        assert found.event_at == EVENT_TIME
        assert found.event_at.utcoffset() == timedelta(0)
        assert found.event_at.hour == 7

    empty = await new_post(storage, "Without fields")
    assert empty.extra == dict.fromkeys(values)

    changed = await storage.update_post(
        post.id, {"pinned": False, "rating": -3, "score": None}, editor_id=None
    )
    assert changed.extra == {**values, "pinned": False, "rating": -3, "score": None}
    assert await storage.get_post(post.id) == changed


async def test_naive_datetime_field_counts_as_utc(open_storage: StorageFactory) -> None:
    storage = await open_storage(("fields", FieldsPlugin()))
    post = await new_post(storage, "Naive", event_at=datetime(2024, 1, 1, 12, 0))
    assert post.event_at == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


async def test_field_added_later_migrates_existing_rows(open_storage: StorageFactory) -> None:
    plain = await open_storage()
    old = await new_post(plain, "Before the plugin")
    await plain.close()

    with_plugin = await open_storage(("subtitle", SubtitlePlugin()), migrate=False)
    assert await with_plugin.migrate() == ["added column cms_posts.subtitle"]
    assert await with_plugin.migrate() == []
    kept = await with_plugin.get_post(old.id)
    assert kept is not None
    assert kept.extra == {"subtitle": None}
    assert (kept.title, kept.body, kept.slug, kept.version) == (
        old.title,
        old.body,
        old.slug,
        old.version,
    )
    assert kept.created_at == old.created_at and kept.published_at == old.published_at
    await with_plugin.update_post(old.id, {"subtitle": "Added later"}, editor_id=None)
    fresh = await new_post(with_plugin, "After the plugin", subtitle="From the start")
    assert fresh.subtitle == "From the start"
    await with_plugin.close()

    # The plugin is uninstalled: the site still works and the column keeps its data.
    without = await open_storage(migrate=False)
    assert await without.migrate() == []
    again = await without.get_post(old.id)
    assert again is not None and again.extra == {}
    assert again.title == "Before the plugin"
    assert not hasattr(again, "subtitle")
    edited = await without.update_post(old.id, {"title": "Edited without"}, editor_id=None)
    assert edited.version == 3
    third = await new_post(without, "No plugin now")
    assert len(await without.list_posts(order="updated")) == 3

    rows = await raw(without, text("SELECT id, subtitle FROM cms_posts ORDER BY id"))
    assert [tuple(row) for row in rows] == [
        (old.id, "Added later"),
        (fresh.id, "From the start"),
        (third.id, None),
    ]


# -- concurrency and availability ----------------------------------------------------------


async def test_concurrent_writers_all_succeed(storage: SqlStorage) -> None:
    async def writer() -> list[Post]:
        return [await new_post(storage, "Busy day") for _ in range(10)]

    async def reader() -> None:
        for _ in range(20):
            await storage.list_posts(status="published", limit=5)
            await asyncio.sleep(0)

    started = time.perf_counter()
    results = await asyncio.gather(*(writer() for _ in range(20)), reader(), reader())
    elapsed = time.perf_counter() - started
    created = [post for batch in results if batch for post in batch]
    assert len(created) == 200
    slugs = {post.slug for post in created}
    assert len(slugs) == 200
    assert slugs == {"busy-day", *(f"busy-day-{n}" for n in range(2, 201))}
    assert len(await storage.list_posts(limit=500, order="updated")) == 200
    assert elapsed < 30, elapsed


async def test_sqlite_writers_on_separate_connections_wait_for_the_lock(
    site_dir: Path, tmp_path: Path
) -> None:
    """Several storages on one file, as several worker processes would have: every write
    takes the lock with BEGIN IMMEDIATE and waits for it (busy_timeout) instead of failing."""
    settings = {"backend": "sqlite", "options": {"path": str(tmp_path / "shared.db")}}
    storages = [await build_storage(site_dir, settings) for _ in range(4)]
    try:
        for storage in storages:
            await storage.migrate()

        async def writer(storage: SqlStorage) -> list[Post]:
            return [await new_post(storage, "Shared title") for _ in range(10)]

        batches = await asyncio.gather(*(writer(storages[n % 4]) for n in range(20)))
        created = [post for batch in batches for post in batch]
        assert len(created) == 200
        assert len({post.slug for post in created}) == 200
        assert len(await storages[0].list_posts(limit=500, order="updated")) == 200
    finally:
        for storage in storages:
            await storage.close()


async def test_unreachable_postgres_is_dependency_unavailable(site_dir: Path) -> None:
    settings = {
        "backend": "postgres",
        "options": {"url": "postgresql://cms@127.0.0.1:1/cms", "connect_timeout_s": 2},
    }
    storage = await build_storage(site_dir, settings)
    try:
        started = time.perf_counter()
        with pytest.raises(DependencyUnavailable) as caught:
            await storage.check()
        assert caught.value.dependency == "database"
        with pytest.raises(DependencyUnavailable):
            await storage.list_posts()
        with pytest.raises(DependencyUnavailable):
            await storage.create_post(
                {"title": "t", "slug": "t", "body": "", "html": "", "status": "draft"},
                author_id=None,
            )
        assert time.perf_counter() - started < 10
    finally:
        await storage.close()


async def test_a_sql_mistake_is_an_error_not_an_outage(storage: SqlStorage) -> None:
    from sqlalchemy.exc import DBAPIError

    from cms.contracts import DependencyUnavailable

    with pytest.raises(DBAPIError) as raised:
        async with storage._writing() as conn:
            await conn.execute(text("SELECT no_such_column FROM cms_posts"))
    assert not isinstance(raised.value, DependencyUnavailable)


# -- media -----------------------------------------------------------------------------------


def stored_image(content: str, *widths: int, source: str = "") -> Any:
    from cms.contracts import Rendition, StoredImage

    digest = hashlib.sha256(content.encode()).hexdigest()
    renditions = tuple(
        Rendition(f"{digest[:2]}/{digest[:28]}{w:04d}.webp", w, w * 2, "webp", w * 10)
        for w in widths
    )
    return StoredImage(
        content_hash=digest,
        width=max(widths),
        height=max(widths) * 2,
        format="jpeg",
        source=source or f"sources/{digest[:2]}/{digest[:32]}.jpg",
        renditions=renditions,
    )


async def test_media_rows_round_trip_and_dedupe_by_content(storage: SqlStorage) -> None:
    uploader = await storage.create_user("uploader", "x" * 20, "author")
    assert uploader is not None
    image = stored_image("one", 320, 800)
    created = await storage.create_media(
        image, original_name="Ünïcode photo.JPG", uploader_id=uploader.id
    )
    assert created.id > 0 and created.content_hash == image.content_hash
    assert (created.width, created.height, created.format) == (800, 1600, "jpeg")
    assert created.renditions == image.renditions and created.source == image.source
    assert created.original_name == "Ünïcode photo.JPG" and created.uploader == "uploader"
    assert created.created_at.tzinfo is not None
    assert await storage.get_media(created.id) == created
    assert await storage.get_media(created.id + 100) is None
    # The same bytes again: the first row, unchanged (whoever uploads them).
    again = await storage.create_media(
        stored_image("one", 1600), original_name="other.jpg", uploader_id=None
    )
    assert again == created

    other = await storage.create_media(
        stored_image("two", 320), original_name="b", uploader_id=None
    )
    found = await storage.find_media([other.content_hash, created.content_hash, "f" * 64])
    assert sorted(m.id for m in found) == [created.id, other.id]
    assert await storage.find_media([]) == []
    assert [m.id for m in await storage.list_media()] == [created.id, other.id]
    assert [m.id for m in await storage.list_media(after_id=created.id)] == [other.id]
    assert [m.id for m in await storage.list_media(limit=1)] == [created.id]

    rebuilt = stored_image("one", 480, source=created.source)
    updated = await storage.update_media(created.id, rebuilt)
    assert updated.renditions == rebuilt.renditions and updated.width == 480
    assert updated.content_hash == created.content_hash and updated.id == created.id
    with pytest.raises(LookupError):
        await storage.update_media(created.id + 100, rebuilt)


async def test_concurrent_uploads_of_the_same_bytes_make_one_row(storage: SqlStorage) -> None:
    image = stored_image("same", 320)
    rows = await asyncio.gather(
        *(storage.create_media(image, original_name=f"{n}.jpg", uploader_id=None) for n in range(8))
    )
    assert len({row.id for row in rows}) == 1
    assert len(await storage.list_media()) == 1


async def test_media_usage_and_delete_only_when_unused(storage: SqlStorage) -> None:
    from cms.contracts import MediaInUse

    used = await storage.create_media(
        stored_image("used", 320), original_name="a", uploader_id=None
    )
    free = await storage.create_media(
        stored_image("free", 320), original_name="b", uploader_id=None
    )
    first = await new_post(storage, "First", image=used.content_hash)
    second = await new_post(storage, "Second", image=used.content_hash)
    await new_post(storage, "Plain")

    usage = await storage.media_usage([used.content_hash, free.content_hash, "f" * 64])
    assert usage == {used.content_hash: [(first.id, "First"), (second.id, "Second")]}
    assert await storage.media_usage([]) == {}

    with pytest.raises(MediaInUse) as refused:
        await storage.delete_media(used.id)
    assert refused.value.posts == [(first.id, "First"), (second.id, "Second")]
    assert await storage.get_media(used.id) == used

    assert await storage.delete_media(free.id) == free
    assert await storage.get_media(free.id) is None
    assert await storage.delete_media(free.id) is None
    # Newest first, keyset on the id.
    third = await storage.create_media(stored_image("3", 320), original_name="c", uploader_id=None)
    assert [m.id for m in await storage.list_media(newest_first=True)] == [third.id, used.id]
    newest = await storage.list_media(newest_first=True, after_id=third.id)
    assert [m.id for m in newest] == [used.id]


async def test_an_image_in_a_posts_text_counts_as_use(storage: SqlStorage) -> None:
    from cms.contracts import MediaInUse

    inline = await storage.create_media(
        stored_image("in", 320), original_name="a", uploader_id=None
    )
    cover = await storage.create_media(stored_image("co", 320), original_name="b", uploader_id=None)
    text = f"![A door](media:{inline.content_hash})"
    both = await new_post(storage, "Both", image=cover.content_hash, body=text)
    only_text = await new_post(storage, "Text", body=f"Before\n\n{text}")
    await new_post(storage, "Plain", body=f"media:{cover.content_hash[:10]}")

    usage = await storage.media_usage([inline.content_hash, cover.content_hash])
    assert usage == {
        inline.content_hash: [(both.id, "Both"), (only_text.id, "Text")],
        cover.content_hash: [(both.id, "Both")],
    }
    with pytest.raises(MediaInUse) as refused:
        await storage.delete_media(inline.id)
    assert refused.value.posts == [(both.id, "Both"), (only_text.id, "Text")]
    assert await storage.get_media(inline.id) == inline
