"""``/sitemap.xml`` and its child sitemaps (cms.web.views.sitemaps), ``/robots.txt``'s
Sitemap line and ``/favicon.ico``: over HTTP, every document checked against the
sitemaps.org schemas (vendored in tests/data, so no network)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import xmlschema
from aiohttp.test_utils import TestClient

from cms.content.tokens import issue_token
from cms.core.theming import DEFAULT_THEME, bundled_themes_dir
from cms.web.views import sitemaps
from tests.conftest import ClientFactory, create_user, setup_admin, site_of

Client = TestClient[Any, Any]
BASE_URL = "http://example.test"
NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
DATA = Path(__file__).parent / "data"
INDEX_SCHEMA = xmlschema.XMLSchema(DATA / "siteindex.xsd")
URLSET_SCHEMA = xmlschema.XMLSchema(DATA / "sitemap.xsd")
DEFAULT_FAVICON = bundled_themes_dir() / DEFAULT_THEME / "static" / "favicon.ico"


async def make_site(make_client: ClientFactory, **sections: Any) -> tuple[Client, dict[str, str]]:
    """A set-up site at ``BASE_URL`` and the admin's API credentials."""
    client = await make_client(site={"base_url": BASE_URL}, **sections)
    await setup_admin(client)
    issued = await issue_token(site_of(client), "admin")
    return client, {"Authorization": f"Bearer {issued.secret}"}


async def publish(
    client: Client, auth: dict[str, str], path: str = "/api/posts", **values: Any
) -> dict[str, Any]:
    body = {"title": "A post", "body": "Hello", "status": "published", **values}
    response = await client.post(path, json=body, headers=auth)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


def path_of(loc: str) -> str:
    assert loc.startswith(BASE_URL + "/"), loc  # absolute, under [site] base_url
    return loc.removeprefix(BASE_URL)


async def fetch(client: Client, loc: str, schema: xmlschema.XMLSchema) -> ElementTree.Element:
    """GET a sitemap document by its absolute address; check its type and its schema."""
    response = await client.get(path_of(loc))
    text = await response.text()
    assert response.status == 200, (loc, text[:300])
    assert response.content_type == "application/xml" and response.charset == "utf-8"
    schema.validate(text)  # raises, naming the offending element
    return ElementTree.fromstring(text)


async def children(client: Client) -> list[str]:
    """The child sitemaps the index lists, as paths."""
    index = await fetch(client, BASE_URL + "/sitemap.xml", INDEX_SCHEMA)
    return [path_of(loc.text or "") for loc in index.findall("sm:sitemap/sm:loc", NS)]


async def urls(client: Client, child: str) -> list[tuple[str, str | None]]:
    """``(path, lastmod)`` of every ``<url>`` of one child sitemap."""
    document = await fetch(client, BASE_URL + child, URLSET_SCHEMA)
    return [
        (path_of(url.findtext("sm:loc", "", NS)), url.findtext("sm:lastmod", None, NS))
        for url in document.findall("sm:url", NS)
    ]


async def crawl(client: Client) -> dict[str, list[tuple[str, str | None]]]:
    """Every child sitemap's URLs, by the child's path."""
    return {child: await urls(client, child) for child in await children(client)}


def w3c(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


# -- what is listed ----------------------------------------------------------------------


async def test_sitemaps_list_what_readers_can_see_and_nothing_else(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    client, auth = await make_site(make_client, storage=storage_settings)
    first = await publish(client, auth, title="First", tags=["News"])
    second = await publish(client, auth, title="Second", tags=["News", "Fish & Chips"])
    await publish(client, auth, title="Hidden", status="draft", tags=["Secret"])
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    await publish(client, auth, title="Soon", status="scheduled", published_at=soon, tags=["Later"])
    await publish(client, auth, "/api/pages", title="About")
    await publish(client, auth, "/api/pages", title="Unfinished", status="draft")
    await create_user(client, "writer", "author")
    await create_user(client, "drafter", "author")
    writer = await issue_token(site_of(client), "writer")
    drafter = await issue_token(site_of(client), "drafter")
    third = await publish(
        client, {"Authorization": f"Bearer {writer.secret}"}, title="By the writer"
    )
    await publish(
        client, {"Authorization": f"Bearer {drafter.secret}"}, title="Not yet", status="draft"
    )

    client.session.cookie_jar.clear()  # what a crawler gets
    now = datetime.now(UTC)
    month = f"/sitemaps/posts-{now:%Y-%m}.xml"
    assert await children(client) == [
        "/sitemaps/pages.xml",
        "/sitemaps/tags.xml",
        "/sitemaps/authors.xml",
        month,
    ]
    found = await crawl(client)
    posts = dict(found[month])
    assert list(posts) == [f"/posts/{p['slug']}" for p in (third, second, first)]
    for post in (first, second, third):
        # lastmod: the post's last change, as a W3C datetime.
        assert w3c(posts[f"/posts/{post['slug']}"] or "") == datetime.fromisoformat(
            post["updated_at"]
        ).replace(microsecond=0)
    assert [path for path, _ in found["/sitemaps/pages.xml"]] == ["/", "/about"]
    assert all(lastmod for _, lastmod in found["/sitemaps/pages.xml"])
    assert [path for path, _ in found["/sitemaps/tags.xml"]] == [
        "/tags",
        "/tags/fish-chips",
        "/tags/news",
    ]
    assert [path for path, _ in found["/sitemaps/authors.xml"]] == [
        "/authors/admin",
        "/authors/writer",
    ]
    everything = [path for listed in found.values() for path, _ in listed]
    assert len(everything) == len(set(everything))  # each address once
    for path in everything:  # and each one a page readers get
        assert (await client.get(path, allow_redirects=False)).status == 200, path


async def test_an_empty_site_still_has_a_valid_index(make_client: ClientFactory) -> None:
    client, _ = await make_site(make_client)
    assert await children(client) == ["/sitemaps/pages.xml", "/sitemaps/tags.xml"]
    assert [path for path, _ in await urls(client, "/sitemaps/pages.xml")] == ["/"]
    assert await urls(client, "/sitemaps/tags.xml") == [("/tags", None)]
    # Nothing to list is no document (a urlset needs a <url>): 404, and not in the index.
    assert (await client.get("/sitemaps/authors.xml")).status == 404


async def test_lastmod_is_the_later_of_the_last_edit_and_becoming_visible(
    make_client: ClientFactory,
) -> None:
    client, auth = await make_site(make_client)
    post = await publish(client, auth, title="Old news", published_at="2020-05-04T03:02:01Z")
    [(path, lastmod)] = await urls(client, "/sitemaps/posts-2020-05.xml")
    # Saved after its publication time: lastmod is the save.
    assert path == f"/posts/{post['slug']}"
    assert w3c(lastmod or "") == datetime.fromisoformat(post["updated_at"]).replace(microsecond=0)
    stored = await site_of(client).storage.get_post(post["id"])
    assert stored is not None
    # A scheduled post saved before its time: lastmod is when it became visible.
    stored.published_at = stored.updated_at + timedelta(hours=1)
    assert sitemaps.changed_at(stored) == stored.published_at


# -- chunks ------------------------------------------------------------------------------


async def test_posts_are_cut_by_month_and_listed_once_over_many_reads(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sitemaps, "READ_BATCH", 2)  # several keyset reads per child
    client, auth = await make_site(make_client)
    times = [
        "2023-02-28T23:59:59Z",  # the last second of a month
        "2024-01-01T00:00:00Z",  # the first second of one
        "2024-01-10T10:00:00Z",
        "2024-01-10T10:00:00Z",  # two posts at one instant: told apart by id
        "2024-01-31T12:00:00Z",
        "2024-03-05T08:00:00Z",
        "2024-03-06T08:00:00Z",
        "2024-03-07T08:00:00Z",
    ]
    made = [
        await publish(client, auth, title=f"Post {n}", published_at=when)
        for n, when in enumerate(times)
    ]
    await publish(client, auth, title="Draft", status="draft", published_at="2024-03-08T08:00:00Z")
    listed = [child for child in await children(client) if "/posts-" in child]
    assert listed == [
        "/sitemaps/posts-2024-03.xml",
        "/sitemaps/posts-2024-01.xml",
        "/sitemaps/posts-2023-02.xml",
    ]
    by_child = {child: [path for path, _ in await urls(client, child)] for child in listed}
    assert [len(paths) for paths in by_child.values()] == [3, 4, 1]
    every = [path for paths in by_child.values() for path in paths]
    assert sorted(every) == sorted(f"/posts/{post['slug']}" for post in made)
    assert len(every) == len(set(every))
    # Months without posts, and no months at all, are not sitemaps.
    for missing in ("posts-2024-02", "posts-2024-13", "posts-2024-00", "posts-0000-01"):
        assert (await client.get(f"/sitemaps/{missing}.xml")).status == 404, missing


async def test_a_month_beyond_the_limit_lists_its_newest_and_says_so(
    make_client: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(sitemaps, "READ_BATCH", 2)
    monkeypatch.setattr(sitemaps, "MAX_URLS", 3)
    client, auth = await make_site(make_client)
    made = [
        await publish(client, auth, title=f"Busy {n}", published_at=f"2024-06-0{n}T08:00:00Z")
        for n in range(1, 6)
    ]
    with caplog.at_level(logging.WARNING, logger="cms"):
        listed = [path for path, _ in await urls(client, "/sitemaps/posts-2024-06.xml")]
    assert listed == [f"/posts/{post['slug']}" for post in reversed(made[2:])]
    assert "more than 3 posts in one month" in caplog.text


# -- HTTP --------------------------------------------------------------------------------


async def test_whole_documents_answer_304_and_change_with_the_content(
    make_client: ClientFactory,
) -> None:
    client, auth = await make_site(make_client)
    await publish(client, auth, title="One", published_at="2024-01-10T10:00:00Z")
    for path in ("/sitemap.xml", "/sitemaps/pages.xml", "/sitemaps/authors.xml"):
        first = await client.get(path)
        etag = first.headers["ETag"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status == 304, path
        assert again.headers["ETag"] == etag
    before = (await client.get("/sitemap.xml")).headers["ETag"]
    await publish(client, auth, title="Two", published_at="2024-02-10T10:00:00Z")
    changed = await client.get("/sitemap.xml", headers={"If-None-Match": before})
    assert changed.status == 200
    assert "/sitemaps/posts-2024-02.xml" in await changed.text()


async def test_a_month_is_streamed_and_head_reads_no_posts(
    make_client: ClientFactory,
) -> None:
    client, auth = await make_site(make_client)
    for n in range(3):
        await publish(client, auth, title=f"Post {n}", published_at="2024-01-10T10:00:00Z")
    got = await client.get("/sitemaps/posts-2024-01.xml")
    body = await got.read()
    assert got.status == 200 and body.count(b"<url>") == 3
    assert got.headers["Transfer-Encoding"] == "chunked"  # streamed as read
    assert got.headers["Cache-Control"].startswith("public, max-age=")
    head = await client.head("/sitemaps/posts-2024-01.xml")
    assert head.status == 200 and await head.read() == b""
    assert head.headers["Content-Type"] == got.headers["Content-Type"]
    assert (await client.head("/sitemaps/posts-2024-02.xml")).status == 404
    # gzip when asked for it, plain otherwise.
    assert got.headers.get("Content-Encoding") == "gzip"
    plain = await client.get("/sitemaps/posts-2024-01.xml", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert (await plain.read()).count(b"<url>") == 3


# -- robots.txt and the favicon ----------------------------------------------------------


async def test_robots_txt_names_the_sitemap_and_keeps_the_admin_out(
    make_client: ClientFactory,
) -> None:
    client, _ = await make_site(make_client)
    text = await (await client.get("/robots.txt")).text()
    lines = text.splitlines()
    assert f"Sitemap: {BASE_URL}/sitemap.xml" in lines
    assert {"User-agent: *", "Disallow: /admin/", "Disallow: /api/", "Disallow: /login"} <= set(
        lines
    )


async def test_the_favicon_is_the_default_themes_and_pages_link_it(
    make_client: ClientFactory,
) -> None:
    client, _ = await make_site(make_client)
    response = await client.get("/favicon.ico")
    assert response.status == 200
    assert response.content_type in ("image/x-icon", "image/vnd.microsoft.icon")
    body = await response.read()
    assert body == DEFAULT_FAVICON.read_bytes() and body[:4] == b"\0\0\1\0"  # an ICO
    assert response.headers["Cache-Control"] == "public, max-age=604800"
    page = await (await client.get("/")).text()
    assert '<link rel="icon" href="/favicon.ico">' in page


@pytest.mark.parametrize(
    ("manifest", "own"),
    [('extends = "default"\n', True), ("", True), ('extends = "default"\n', False), ("", False)],
)
async def test_a_themes_own_favicon_wins(
    make_client: ClientFactory, site_dir: Path, manifest: str, own: bool
) -> None:
    folder = site_dir / "themes" / "mine"
    (folder / "static").mkdir(parents=True)
    (folder / "theme.toml").write_text(manifest, encoding="utf-8")
    if own:
        (folder / "static" / "favicon.ico").write_bytes(b"\0\0\1\0 mine")
    client = await make_client(site={"theme": "mine"})
    response = await client.get("/favicon.ico")
    assert response.status == 200
    expected = b"\0\0\1\0 mine" if own else DEFAULT_FAVICON.read_bytes()
    assert await response.read() == expected
