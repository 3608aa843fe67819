"""RSS, Atom and JSON feeds of the site, of each tag and of each author, read by feedparser
as a feed reader reads them: valid, exactly the published posts they should hold, newest
first, full content with absolute links, covers as enclosures; never a draft, a scheduled
post or a page."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import pytest
from aiohttp.test_utils import TestClient

from cms.content.tokens import issue_token
from tests.conftest import ClientFactory, setup_admin, site_of
from tests.image_files import photo
from tests.test_media_library import upload

Client = TestClient[Any, Any]
BASE = "http://127.0.0.1:8080"
FORMATS = ("xml", "atom", "json")


@pytest.fixture
async def site(make_client: ClientFactory, storage_settings: dict[str, Any]) -> Client:
    client = await make_client(
        storage=storage_settings, images={"backend": "pillow", "options": {"workers": 1}}
    )
    await setup_admin(client)
    cover = await upload(client, photo(1200, 800), "cover.jpg")
    issued = await issue_token(site_of(client), "admin")
    auth = {"Authorization": f"Bearer {issued.secret}"}
    await site_of(client).storage.create_user("bea", "x" * 30, "author")
    bea = await issue_token(site_of(client), "bea")
    posts: list[tuple[dict[str, str], dict[str, Any]]] = [
        (auth, {"title": "Oldest", "body": "See [the index](/tags/sea).", "tags": ["Sea"]}),
        (auth, {"title": "Middle", "body": "![A gull](/media/gull.jpg)",
                "image": cover.content_hash}),
        ({"Authorization": f"Bearer {bea.secret}"}, {"title": "By Bea", "tags": ["Sea", "Sky"]}),
        (auth, {"title": "Newest", "body": "*Fresh*", "tags": ["Sky"]}),
        (auth, {"title": "A draft", "status": "draft", "tags": ["Sea"]}),
        (auth, {"title": "Soon", "status": "scheduled", "tags": ["Sea"],
                "published_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()}),
    ]  # fmt: skip
    for headers, values in posts:
        made = await client.post(
            "/api/posts", json={"status": "published", "body": "x", **values}, headers=headers
        )
        assert made.status == 201, await made.text()
        await asyncio.sleep(0.01)
    await client.post("/api/pages", json={"title": "About", "status": "published"}, headers=auth)
    return client


async def parsed(client: Client, path: str) -> Any:
    response = await client.get(path)
    body = await response.read()
    assert response.status == 200, (path, body[:300])
    expected = {
        "xml": "application/rss+xml",
        "atom": "application/atom+xml",
        "json": "application/feed+json",
    }[path.rsplit(".", 1)[1]]
    assert response.content_type == expected
    if path.endswith(".json"):
        return json.loads(body)
    feed = feedparser.parse(body)
    assert feed.bozo == 0, (path, feed.bozo_exception)
    return feed


def titles(feed: Any) -> list[str]:
    if isinstance(feed, dict):
        return [item["title"] for item in feed["items"]]
    return [entry.title for entry in feed.entries]


@pytest.mark.parametrize("kind", FORMATS)
async def test_every_feed_holds_exactly_its_published_posts_newest_first(
    site: Client, kind: str
) -> None:
    expected = {
        f"/feed.{kind}": ["Newest", "By Bea", "Middle", "Oldest"],
        f"/tags/sea/feed.{kind}": ["By Bea", "Oldest"],
        f"/tags/sky/feed.{kind}": ["Newest", "By Bea"],
        f"/authors/bea/feed.{kind}": ["By Bea"],
        f"/authors/admin/feed.{kind}": ["Newest", "Middle", "Oldest"],
    }
    for path, wanted in expected.items():
        assert titles(await parsed(site, path)) == wanted, path


async def test_entries_carry_full_absolute_content_authors_tags_and_covers(site: Client) -> None:
    rss = await parsed(site, "/feed.xml")
    assert rss.feed.link == f"{BASE}/"
    by_title = {entry.title: entry for entry in rss.entries}
    oldest = by_title["Oldest"]
    assert oldest.link == f"{BASE}/posts/oldest"
    assert f'href="{BASE}/tags/sea"' in oldest.content[0].value
    assert [tag.term for tag in oldest.tags] == ["Sea"]
    middle = by_title["Middle"]
    assert f'src="{BASE}/media/gull.jpg"' in middle.content[0].value
    (enclosure,) = middle.enclosures
    assert enclosure.href.startswith(f"{BASE}/media/") and enclosure.type == "image/jpeg"
    assert int(enclosure.length) > 0
    atom = await parsed(site, "/feed.atom")
    entry = next(e for e in atom.entries if e.title == "By Bea")
    assert entry.author == "bea" and entry.id == f"{BASE}/posts/by-bea"
    assert [tag.term for tag in entry.tags] == ["Sea", "Sky"]
    assert any(link.rel == "enclosure" for link in next(
        e for e in atom.entries if e.title == "Middle").links)  # fmt: skip
    feed = await parsed(site, "/feed.json")
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == f"{BASE}/feed.json"
    item = next(i for i in feed["items"] if i["title"] == "Middle")
    assert item["image"].startswith(f"{BASE}/media/")
    assert item["authors"] == [{"name": "admin", "url": f"{BASE}/authors/admin"}]


async def test_feeds_answer_304_move_with_a_tag_and_404_where_nothing_is(site: Client) -> None:
    first = await site.get("/feed.xml")
    etag = first.headers["ETag"]
    again = await site.get("/feed.xml", headers={"If-None-Match": etag})
    assert again.status == 304
    storage = site_of(site).storage
    sky = await storage.get_tag("sky")
    assert sky is not None
    await storage.rename_tag(sky.id, "Heavens", "heavens")
    moved = await site.get("/tags/sky/feed.atom", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (301, "/tags/heavens/feed.atom")
    changed = await site.get("/feed.xml", headers={"If-None-Match": etag})
    assert changed.status == 200  # a tag of a post in it changed
    for path in ("/tags/nothing/feed.xml", "/authors/nobody/feed.json"):
        assert (await site.get(path)).status == 404, path


async def test_pages_link_their_feeds(site: Client) -> None:
    home = await (await site.get("/")).text()
    rss = f'type="application/rss+xml" title="My site (RSS)" href="{BASE}/feed.xml"'
    assert f'<link rel="alternate" {rss}>' in home
    tag = await (await site.get("/tags/sea")).text()
    json_feed = f'title="Sea · My site (JSON Feed)" href="{BASE}/tags/sea/feed.json"'
    assert f'type="application/feed+json" {json_feed}' in tag
    author = await (await site.get("/authors/bea")).text()
    assert f'href="{BASE}/authors/bea/feed.atom"' in author
