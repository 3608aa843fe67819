"""RSS, Atom and JSON feeds of the site, of each tag and of each author, read by feedparser
as a feed reader reads them (on both storage backends): valid, exactly the published posts
they should hold, newest first, full content with absolute links, authors, tags and covers
(an enclosure whose length is the file's); never a draft, a scheduled post, a deleted post
or a page. Then conditional GET, HEAD, 301s and 404s, and the pages' alternate links."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import feedparser
import lxml.html
import pytest
from aiohttp.test_utils import TestClient

from cms.content.tokens import issue_token
from tests.conftest import ClientFactory, setup_admin, site_of
from tests.image_files import photo

Client = TestClient[Any, Any]
BASE = "http://127.0.0.1:8080"
SUFFIXES = ("xml", "atom", "json")
TYPES = {
    "xml": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
DAY = timedelta(days=1)
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

OLDEST_BODY = """See [the sea](/tags/sea), [next door](other-post) and [the notes](#notes).

![A gull](/media/gull.jpg)

<picture><source srcset="/media/a.webp 320w, /media/b.webp 800w" type="image/webp">\
<img src="/media/a.jpg" alt=""></picture>

[Elsewhere](https://example.org/x) and [mail](mailto:sea@example.org).
"""


async def token_of(client: Client, username: str) -> dict[str, str]:
    issued = await issue_token(site_of(client), username)
    return {"Authorization": f"Bearer {issued.secret}"}


async def api_post(
    client: Client, auth: dict[str, str], path: str = "/api/posts", **values: Any
) -> Any:
    response = await client.post(
        path, json={"status": "published", "body": "x", **values}, headers=auth
    )
    assert response.status == 201, await response.text()
    return (await response.json())["data"]


async def upload_cover(client: Client, auth: dict[str, str]) -> dict[str, Any]:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", photo(1200, 800), filename="cover.jpg", content_type="image/jpeg")
    response = await client.post("/api/media", data=form, headers=auth)
    assert response.status == 201, await response.text()
    media: dict[str, Any] = (await response.json())["data"]
    return media


@pytest.fixture
async def site(make_client: ClientFactory, storage_settings: dict[str, Any]) -> Client:
    """Four published posts by two authors (one with a cover), and what must never be in
    a feed: a draft, a scheduled post, a deleted post and a page, all tagged."""
    client = await make_client(
        storage=storage_settings, images={"backend": "pillow", "options": {"workers": 1}}
    )
    await setup_admin(client)
    storage = site_of(client).storage
    bea = await storage.create_user("bea", "x" * 30, "author")
    assert bea is not None
    await storage.update_profile(bea.id, display_name="Béa Martin", bio=None, avatar=None)
    admin, bea_auth = await token_of(client, "admin"), await token_of(client, "bea")
    cover = await upload_cover(client, admin)

    def at(days: int) -> str:
        return (START + days * DAY).isoformat()

    await api_post(
        client, admin, title="Oldest", body=OLDEST_BODY, tags=["Sea"], published_at=at(0)
    )
    await api_post(
        client,
        admin,
        title="Middle",
        # A form feed (which XML cannot hold), "]]>" (which would end a CDATA section) and
        # markup characters in the text.
        body="Form\x0cfeed, ]]> and 1 < 2 & 3 > 2.",
        image=cover["hash"],
        published_at=at(1),
    )
    await api_post(client, bea_auth, title="By Bea", tags=["Sea", "Sky"], published_at=at(2))
    await api_post(client, admin, title="Newest — déjà vu", tags=["Sky"], published_at=at(3))
    await api_post(client, admin, title="A draft", status="draft", tags=["Sea", "Later"])
    soon = (datetime.now(UTC) + 2 * DAY).isoformat()
    await api_post(
        client, admin, title="Soon", status="scheduled", published_at=soon, tags=["Sea", "Later"]
    )
    gone = await api_post(client, admin, title="Gone", tags=["Sea"], published_at=at(4))
    deleted = await client.delete(f"/api/posts/{gone['id']}", headers=admin)
    assert deleted.status in (200, 204), await deleted.text()
    await api_post(client, admin, "/api/pages", title="About")
    return client


async def fetch(client: Client, path: str, **headers: str) -> tuple[aiohttp.ClientResponse, bytes]:
    response = await client.get(path, headers=headers, allow_redirects=False)
    return response, await response.read()


async def parsed(client: Client, path: str) -> Any:
    """The feed at ``path``: feedparser's reading of RSS and Atom (never bozo), the JSON
    document of a JSON Feed."""
    response, body = await fetch(client, path)
    assert response.status == 200, (path, body[:300])
    assert response.content_type == TYPES[path.rsplit(".", 1)[1]], path
    assert response.charset == "utf-8"
    if path.endswith(".json"):
        document = json.loads(body)
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        assert {"title", "home_page_url", "feed_url", "items"} <= document.keys()
        for item in document["items"]:
            assert {"id", "url", "title", "content_html", "date_published"} <= item.keys()
            assert item["id"] == item["url"] and item["url"].startswith(f"{BASE}/posts/")
        return document
    feed = feedparser.parse(body)
    assert feed.bozo == 0, (path, feed.get("bozo_exception"))
    assert feed.version == ("rss20" if path.endswith(".xml") else "atom10"), path
    return feed


def is_json(feed: Any) -> bool:
    # feedparser's results are dicts too.
    return not isinstance(feed, feedparser.FeedParserDict)


def titles(feed: Any) -> list[str]:
    if is_json(feed):
        return [item["title"] for item in feed["items"]]
    return [entry.title for entry in feed.entries]


def links(feed: Any) -> list[str]:
    if is_json(feed):
        return [item["url"] for item in feed["items"]]
    return [entry.link for entry in feed.entries]


def entry(feed: Any, title: str) -> Any:
    return next(
        e for e in (feed["items"] if is_json(feed) else feed.entries) if e["title"] == title
    )


EXPECTED = {
    "/feed": ["Newest — déjà vu", "By Bea", "Middle", "Oldest"],
    "/tags/sea/feed": ["By Bea", "Oldest"],
    "/tags/sky/feed": ["Newest — déjà vu", "By Bea"],
    "/authors/bea/feed": ["By Bea"],
    "/authors/admin/feed": ["Newest — déjà vu", "Middle", "Oldest"],
}
SLUGS = {
    "Newest — déjà vu": "newest-deja-vu",
    "By Bea": "by-bea",
    "Middle": "middle",
    "Oldest": "oldest",
}


@pytest.mark.parametrize("suffix", SUFFIXES)
async def test_every_feed_holds_exactly_its_published_posts_newest_first(
    site: Client, suffix: str
) -> None:
    for path, wanted in EXPECTED.items():
        feed = await parsed(site, f"{path}.{suffix}")
        assert titles(feed) == wanted, path
        assert links(feed) == [f"{BASE}/posts/{SLUGS[title]}" for title in wanted], path


async def test_entries_carry_full_absolute_content_authors_and_tags(site: Client) -> None:
    rss = await parsed(site, "/feed.xml")
    assert (rss.feed.title, rss.feed.link) == ("My site", f"{BASE}/")
    oldest = entry(rss, "Oldest")
    assert oldest.id == f"{BASE}/posts/oldest"
    raw = (await fetch(site, "/feed.xml"))[1].decode()
    assert f'<guid isPermaLink="true">{BASE}/posts/oldest</guid>' in raw
    addresses = [
        f'href="{BASE}/tags/sea"',
        f'href="{BASE}/posts/other-post"',  # resolved as the post's page resolves it
        f'href="{BASE}/posts/oldest#notes"',
        f'src="{BASE}/media/gull.jpg"',
        'href="https://example.org/x"',
        'href="mailto:sea@example.org"',
    ]
    # feedparser sanitizes what it reads (it drops <picture> and srcset): the JSON Feed
    # shows the HTML as sent.
    json_feed = await parsed(site, "/feed.json")
    sent = entry(json_feed, "Oldest")["content_html"]
    for address in [
        *addresses,
        f'<source srcset="{BASE}/media/a.webp 320w, {BASE}/media/b.webp 800w" type="image/webp">',
        f'<img src="{BASE}/media/a.jpg" alt="">',
    ]:
        assert address in sent, (address, sent)
    assert 'href="/' not in sent and 'src="/' not in sent and 'srcset="/' not in sent
    atom = await parsed(site, "/feed.atom")
    for feed in (rss, atom):
        html = entry(feed, "Oldest").content[0].value
        for address in addresses:
            assert address in html, (address, html)
    assert oldest.summary.startswith("See the sea, next door and the notes.")
    assert [tag.term for tag in oldest.tags] == ["Sea"]
    assert oldest.author == "admin"
    assert oldest.published_parsed[:3] == (2024, 3, 1)
    assert entry(rss, "By Bea").author == "Béa Martin"
    # The characters XML cannot hold are left out; the others arrive as written.
    assert "Form" in entry(rss, "Middle").content[0].value
    assert "]]&gt; and 1 &lt; 2 &amp; 3 &gt; 2." in entry(rss, "Middle").content[0].value

    assert atom.feed.id == f"{BASE}/"
    assert {(link.rel, link.href) for link in atom.feed.links} == {
        ("self", f"{BASE}/feed.atom"),
        ("alternate", f"{BASE}/"),
    }
    by_bea = entry(atom, "By Bea")
    assert by_bea.id == f"{BASE}/posts/by-bea"
    assert (by_bea.author_detail.name, by_bea.author_detail.href) == (
        "Béa Martin",
        f"{BASE}/authors/bea",
    )
    assert [tag.term for tag in by_bea.tags] == ["Sea", "Sky"]
    assert by_bea.content[0].type == "text/html"

    assert json_feed["feed_url"] == f"{BASE}/feed.json"
    assert json_feed["home_page_url"] == f"{BASE}/"
    item = entry(json_feed, "By Bea")
    assert item["authors"] == [{"name": "Béa Martin", "url": f"{BASE}/authors/bea"}]
    assert item["tags"] == ["Sea", "Sky"]
    assert item["date_published"].startswith("2024-03-03T09:00:00")

    author_feed = await parsed(site, "/authors/bea/feed.atom")
    assert author_feed.feed.title == "Béa Martin · My site"
    assert author_feed.feed.link == f"{BASE}/authors/bea"
    tag_feed = await parsed(site, "/tags/sky/feed.json")
    assert (tag_feed["title"], tag_feed["home_page_url"]) == ("Sky · My site", f"{BASE}/tags/sky")


async def test_a_cover_is_an_enclosure_of_the_widest_jpeg_with_its_real_length(
    site: Client,
) -> None:
    (media,) = await site_of(site).storage.list_media(limit=10)
    widest = max((r for r in media.renditions if r.format == "jpeg"), key=lambda r: r.width)
    assert widest.width == 1200

    rss = await parsed(site, "/feed.xml")
    (enclosure,) = entry(rss, "Middle").enclosures
    assert enclosure.href.startswith(f"{BASE}/media/") and enclosure.type == "image/jpeg"
    assert int(enclosure.length) == widest.size
    # What the enclosure names is there, that many bytes long.
    served = await site.get(enclosure.href.removeprefix(BASE))
    assert served.status == 200 and len(await served.read()) == widest.size
    assert entry(rss, "Middle").media_content[0]["url"] == enclosure.href
    assert all(not entry(rss, title).enclosures for title in ("Oldest", "By Bea"))

    atom = await parsed(site, "/feed.atom")
    (atom_enclosure,) = [link for link in entry(atom, "Middle").links if link.rel == "enclosure"]
    assert (atom_enclosure.href, atom_enclosure.type) == (enclosure.href, "image/jpeg")
    assert int(atom_enclosure.length) == widest.size
    assert [link.rel for link in entry(atom, "Oldest").links] == ["alternate"]

    feed = await parsed(site, "/feed.json")
    assert entry(feed, "Middle")["image"] == enclosure.href
    assert "image" not in entry(feed, "Oldest")


async def test_conditional_get_head_and_what_changes_a_feed(site: Client) -> None:
    admin = await token_of(site, "admin")
    for path in ("/feed.xml", "/tags/sea/feed.atom", "/authors/bea/feed.json"):
        first, body = await fetch(site, path)
        etag = first.headers["ETag"]
        assert first.headers["Cache-Control"] == "no-cache"
        assert "Last-Modified" in first.headers
        for held in (etag, etag.removeprefix("W/"), f'"other", {etag}', "*"):
            again, empty = await fetch(site, path, **{"If-None-Match": held})
            assert (again.status, empty) == (304, b""), (path, held)
            assert again.headers["ETag"] == etag
        other, _ = await fetch(site, path, **{"If-None-Match": '"something-else"'})
        assert other.status == 200
        # A deleted post leaves the newest time as it was: only the tag tells, so the
        # time alone never earns a 304.
        since, _ = await fetch(site, path, **{"If-Modified-Since": first.headers["Last-Modified"]})
        assert since.status == 200
        head = await site.head(path)
        assert head.status == 200 and await head.read() == b""
        assert head.headers["ETag"] == etag
        assert head.headers["Content-Type"] == first.headers["Content-Type"]
        # The same feed again (from the page cache): the same bytes.
        assert (await fetch(site, path))[1] == body

    first, _ = await fetch(site, "/feed.xml")
    etag = first.headers["ETag"]
    posts = (await (await site.get("/api/posts?limit=50")).json())["data"]
    middle = next(post for post in posts if post["title"] == "Middle")
    edited = await site.patch(
        f"/api/posts/{middle['id']}", json={"title": "Middle, edited"}, headers=admin
    )
    assert edited.status == 200, await edited.text()
    changed, _ = await fetch(site, "/feed.xml", **{"If-None-Match": etag})
    assert changed.status == 200
    assert "Middle, edited" in titles(await parsed(site, "/feed.xml"))

    etag = changed.headers["ETag"]
    deleted = await site.delete(f"/api/posts/{middle['id']}", headers=admin)
    assert deleted.status in (200, 204)
    after, _ = await fetch(site, "/feed.xml", **{"If-None-Match": etag})
    assert after.status == 200
    assert titles(await parsed(site, "/feed.xml")) == ["Newest — déjà vu", "By Bea", "Oldest"]

    # An author's new name is in their entries of every feed.
    etag = after.headers["ETag"]
    storage = site_of(site).storage
    bea = await storage.get_user_by_username("bea")
    assert bea is not None
    await storage.update_profile(bea.id, display_name="Béa M.", bio=None, avatar=None)
    renamed, _ = await fetch(site, "/feed.xml", **{"If-None-Match": etag})
    assert renamed.status == 200
    assert entry(await parsed(site, "/feed.xml"), "By Bea").author == "Béa M."


async def test_feeds_move_with_their_tag_and_author_and_are_404_where_their_page_is(
    site: Client,
) -> None:
    storage = site_of(site).storage
    sky = await storage.get_tag("sky")
    assert sky is not None
    await storage.rename_tag(sky.id, "Heavens", "heavens")
    for suffix in SUFFIXES:
        moved, _ = await fetch(site, f"/tags/sky/feed.{suffix}?utm=x")
        assert (moved.status, moved.headers["Location"]) == (
            301,
            f"/tags/heavens/feed.{suffix}?utm=x",
        )
        feed = await parsed(site, f"/tags/heavens/feed.{suffix}")
        assert titles(feed) == EXPECTED["/tags/sky/feed"]
        cased, _ = await fetch(site, f"/authors/BEA/feed.{suffix}")
        assert (cased.status, cased.headers["Location"]) == (301, f"/authors/bea/feed.{suffix}")

    # An author who has published nothing yet has a page, and an empty feed to follow.
    await storage.create_user("newcomer", "x" * 30, "author")
    for suffix in SUFFIXES:
        assert titles(await parsed(site, f"/authors/newcomer/feed.{suffix}")) == []
    newcomer = await storage.get_user_by_username("newcomer")
    assert newcomer is not None
    await storage.update_user(newcomer.id, is_active=False)

    for path in (
        "/tags/nothing/feed",
        "/tags/later/feed",  # only on a draft and a scheduled post: not public yet
        "/authors/nobody/feed",
        "/authors/newcomer/feed",  # a former user with nothing published
    ):
        page, _ = await fetch(site, path.removesuffix("/feed"))
        assert page.status == 404, path
        for suffix in SUFFIXES:
            missing, body = await fetch(site, f"{path}.{suffix}")
            assert missing.status == 404, path
            # The themed error page, never a traceback.
            assert missing.content_type == "text/html" and b"Traceback" not in body
            assert (await site.head(f"{path}.{suffix}")).status == 404


async def test_pages_link_their_feeds_and_the_links_lead_to_them(site: Client) -> None:
    pages = {
        "/": ("My site", "/feed"),
        "/posts/oldest": ("My site", "/feed"),
        "/tags/sea": ("Sea · My site", "/tags/sea/feed"),
        "/authors/bea": ("Béa Martin · My site", "/authors/bea/feed"),
    }
    for page, (title, feed) in pages.items():
        response = await site.get(page)
        assert response.status == 200, page
        head = lxml.html.fromstring(await response.text()).find("head")
        found = {
            (link.get("type"), link.get("title"), link.get("href"))
            for link in head.iterfind("link[@rel='alternate']")
        }
        assert found == {
            ("application/rss+xml", f"{title} (RSS)", f"{BASE}{feed}.xml"),
            ("application/atom+xml", f"{title} (Atom)", f"{BASE}{feed}.atom"),
            ("application/feed+json", f"{title} (JSON Feed)", f"{BASE}{feed}.json"),
        }, page
        for _, _, href in found:
            await parsed(site, href.removeprefix(BASE))


async def test_a_feed_holds_the_newest_twenty(make_client: ClientFactory) -> None:
    client = await make_client()
    await setup_admin(client)
    admin = await token_of(client, "admin")
    # Long enough together for the feed to be written off the event loop.
    body = "A [link](/posts/post-0) among words. " * 40
    for number in range(22):
        published_at = (START + number * DAY).isoformat()
        await api_post(client, admin, title=f"Post {number}", body=body, published_at=published_at)
    for suffix in SUFFIXES:
        feed = await parsed(client, f"/feed.{suffix}")
        assert titles(feed) == [f"Post {number}" for number in range(21, 1, -1)]
        if suffix == "json":
            html = feed["items"][0]["content_html"]
        else:
            html = feed.entries[0].content[0].value
        assert html.count(f'href="{BASE}/posts/post-0"') == 40


async def test_a_scheduled_post_joins_the_feed_when_it_becomes_visible(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    await setup_admin(client)
    admin = await token_of(client, "admin")
    await api_post(client, admin, title="Now")
    when = datetime.now(UTC) + timedelta(seconds=1.5)
    await api_post(client, admin, title="Soon", status="scheduled", published_at=when.isoformat())
    before, _ = await fetch(client, "/feed.atom")
    assert titles(await parsed(client, "/feed.atom")) == ["Now"]
    await asyncio.sleep((when - datetime.now(UTC)).total_seconds() + 0.3)
    after, _ = await fetch(client, "/feed.atom", **{"If-None-Match": before.headers["ETag"]})
    assert after.status == 200
    assert after.headers["Last-Modified"] != before.headers["Last-Modified"]
    assert titles(await parsed(client, "/feed.atom")) == ["Soon", "Now"]


async def test_a_post_without_an_author_and_with_a_cover_at_an_address(
    make_client: ClientFactory,
) -> None:
    """As an import may leave them: the entry is the site's, its cover the address."""
    client = await make_client()
    await setup_admin(client)
    await site_of(client).storage.create_post(
        {"title": "Imported", "slug": "imported", "body": "b", "html": "<p>b</p>",
         "status": "published", "image": "https://cdn.example.org/cover.png"},
        author_id=None,
    )  # fmt: skip
    atom = await parsed(client, "/feed.atom")
    assert atom.feed.author_detail.name == "My site" and "author" not in atom.entries[0]
    (enclosure,) = [link for link in atom.entries[0].links if link.rel == "enclosure"]
    assert (enclosure.href, enclosure.type) == ("https://cdn.example.org/cover.png", "image/png")
    rss = await parsed(client, "/feed.xml")
    (rss_enclosure,) = rss.entries[0].enclosures
    assert (rss_enclosure.href, rss_enclosure.length) == ("https://cdn.example.org/cover.png", "0")
    item = (await parsed(client, "/feed.json"))["items"][0]
    assert item["image"] == "https://cdn.example.org/cover.png" and "authors" not in item
