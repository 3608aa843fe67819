"""The content model of 0.3 as readers, editors and API clients meet it: tags, pages,
authors, navigation menus, scheduled publishing, featured posts and hand-written excerpts.
Through HTTP, on both storage backends where storage decides."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cms import hookimpl
from cms.content.tokens import issue_token
from tests.conftest import (
    ClientFactory,
    create_user,
    post_form,
    setup_admin,
    site_of,
)

Client = TestClient[Any, Any]


class Announcements:
    """A plugin that writes down every ``post_published`` it is told of."""

    def __init__(self) -> None:
        self.published: list[str] = []

    @hookimpl
    def post_published(self, post: Any, cms: Any) -> None:
        self.published.append(post.slug)


@pytest.fixture
async def site(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> tuple[Client, dict[str, str], Announcements]:
    """A signed-in admin's client on each backend, an API token for them, and a plugin
    that counts announcements."""
    announcements = Announcements()
    client = await make_client(storage=storage_settings, plugins=[("announcements", announcements)])
    await setup_admin(client)
    issued = await issue_token(site_of(client), "admin")
    return client, {"Authorization": f"Bearer {issued.secret}"}, announcements


async def api_create(
    client: Client, auth: dict[str, str], path: str = "/api/posts", **values: Any
) -> dict[str, Any]:
    body = {"title": "A post", "body": "Hello", "status": "published", **values}
    response = await client.post(path, json=body, headers=auth)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def text_of(client: Any, path: str, status: int = 200) -> str:
    response = await client.get(path, allow_redirects=False)
    text = await response.text()
    assert response.status == status, f"{path}: {response.status} {text[:500]}"
    return text


async def anonymous(client: Client) -> Any:
    """A reader of the same server, signed out (a session of its own, without cookies)."""
    return aiohttp.ClientSession(base_url=str(client.make_url("/")))


# -- tags --------------------------------------------------------------------------------


async def test_tags_are_made_as_typed_listed_counted_and_filtered(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, auth, _ = site
    first = await api_create(client, auth, title="Snakes", tags=["Python", "Web  dev"])
    assert first["tags"] == ["Python", "Web dev"]
    await api_create(client, auth, title="More snakes", tags=["python"])  # same slug: same tag
    await api_create(client, auth, title="Secret", status="draft", tags=["Python", "Hidden"])

    index = await text_of(client, "/tags")
    assert re.search(r'href="/tags/python">Python</a>\s*<span[^>]*>2 posts', index)
    assert re.search(r'href="/tags/web-dev">Web dev</a>\s*<span[^>]*>1 post<', index)
    assert "Hidden" not in index  # a tag with no published post is not listed

    page = await text_of(client, "/tags/python")
    assert page.index("More snakes") < page.index("Snakes</a>")  # newest first
    assert "Secret" not in page
    assert '<a class="tag-link" href="/tags/web-dev" rel="tag">Web dev</a>' in page

    listed = await (await client.get("/api/tags")).json()
    assert [(t["name"], t["slug"], t["count"]) for t in listed["data"]] == [
        ("Python", "python", 2),
        ("Web dev", "web-dev", 1),
    ]
    tagged = await (await client.get("/api/posts?tag=web-dev")).json()
    assert [post["title"] for post in tagged["data"]] == ["Snakes"]
    nothing = await (await client.get("/api/posts?tag=no-such-tag")).json()
    assert nothing["data"] == []
    await text_of(client, "/tags/no-such-tag", 404)


async def test_a_renamed_or_merged_tag_leaves_its_old_address_behind(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, auth, _ = site
    await api_create(client, auth, title="One", tags=["Pyhton"])
    await api_create(client, auth, title="Two", tags=["Python"])
    storage = site_of(client).storage
    typo = await storage.get_tag("pyhton")
    kept = await storage.get_tag("python")
    assert typo is not None and kept is not None

    renamed = await post_form(
        client,
        f"/admin/tags/{typo.id}",
        {"action": "rename", "name": "Snakes", "slug": ""},
        form_page="/admin/tags",
    )
    assert renamed.status == 303, await renamed.text()
    moved = await client.get("/tags/pyhton?after=x", allow_redirects=False)
    assert moved.status == 301 and moved.headers["Location"] == "/tags/snakes?after=x"

    taken = await post_form(
        client,
        f"/admin/tags/{typo.id}",
        {"action": "rename", "name": "Snakes", "slug": "python"},
        form_page="/admin/tags",
    )
    assert taken.status == 409
    assert "merge into it instead" in await taken.text()

    merged = await post_form(
        client,
        f"/admin/tags/{typo.id}",
        {"action": "merge", "into": str(kept.id)},
        form_page="/admin/tags",
    )
    assert merged.status == 303
    for old in ("/tags/pyhton", "/tags/snakes"):
        response = await client.get(old, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (301, "/tags/python")
    merged_page = await text_of(client, "/tags/python")
    assert "One" in merged_page and "Two" in merged_page

    deleted = await post_form(
        client, f"/admin/tags/{kept.id}", {"action": "delete"}, form_page="/admin/tags"
    )
    assert deleted.status == 303
    await text_of(client, "/tags/python", 404)
    await text_of(client, "/tags/snakes", 404)  # its old addresses went with it
    one = await (await client.get("/api/posts")).json()
    assert all(post["tags"] == [] for post in one["data"])


async def test_a_tag_name_without_letters_is_refused_and_nothing_saved(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, auth, _ = site
    response = await client.post(
        "/api/posts", json={"title": "T", "tags": ["ok", "!!!"]}, headers=auth
    )
    body = await response.json()
    assert response.status == 422, body
    assert "needs a letter or a digit" in body["error"]["fields"]["tags"]
    assert (await (await client.get("/api/tags")).json())["data"] == []
    assert await site_of(client).storage.list_posts(limit=5, order="updated") == []


# -- pages -------------------------------------------------------------------------------


async def test_a_page_lives_at_its_slug_and_is_never_listed(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, auth, _ = site
    post = await api_create(client, auth, title="A post", tags=["News"])
    page = await api_create(client, auth, "/api/pages", title="About", body="We *write*.")
    assert (page["kind"], page["url"], page["slug"]) == ("page", "/about", "about")

    about = await text_of(client, "/about")
    assert "<title>About · My site</title>" in about and "<em>write</em>" in about
    reader = await anonymous(client)
    try:
        assert "About" not in await text_of(reader, "/")
        assert "About" not in await text_of(reader, "/tags/news")
        assert "About" not in await text_of(reader, "/authors/admin")
        posts = await (await reader.get("/api/posts")).json()
        assert [p["title"] for p in posts["data"]] == ["A post"]
        pages = await (await reader.get("/api/pages")).json()
        assert [p["title"] for p in pages["data"]] == ["About"]
        # Each kind at its own address only.
        await text_of(reader, "/posts/about", 404)
        await text_of(reader, f"/{post['slug']}", 404)
        await text_of(reader, f"/api/pages/{post['id']}", 404)
    finally:
        await reader.close()
    admin_pages = await text_of(client, "/admin/pages")
    assert "About" in admin_pages and "A post" not in admin_pages


@pytest.mark.parametrize("slug", ["admin", "tags", "api", "login", "healthz", "authors"])
async def test_a_page_at_an_address_of_the_site_is_refused(
    site: tuple[Client, dict[str, str], Announcements], slug: str
) -> None:
    client, auth, _ = site
    response = await client.post(
        "/api/pages", json={"title": "Mine", "slug": slug, "status": "published"}, headers=auth
    )
    body = await response.json()
    assert response.status == 422, body
    assert body["error"]["fields"]["slug"] == (
        f"/{slug} is an address the site itself uses; choose another slug for this page."
    )
    # From the admin form too, where the title alone would make that slug.
    form = await post_form(
        client,
        "/admin/pages/new",
        {"title": slug.capitalize(), "slug": "", "body": "x", "status": "published"},
    )
    assert form.status == 422
    assert f"/{slug} is an address the site itself uses" in await form.text()
    assert await site_of(client).storage.list_posts(limit=5, order="updated", kind="page") == []
    # A post may have that slug: it lives under /posts/.
    await api_create(client, auth, title="Mine", slug=slug)


async def test_a_plugins_route_is_reserved_too(make_client: ClientFactory) -> None:
    from aiohttp import web

    class Shop:
        @hookimpl
        def register_routes(self, cms: Any) -> list[web.RouteDef]:
            async def shop(request: web.Request) -> web.Response:
                return web.Response(text="the shop")

            return [web.get("/shop", shop, name="shop")]

    client = await make_client(plugins=[("shop", Shop())])
    await setup_admin(client)
    form = await post_form(
        client, "/admin/pages/new", {"title": "Shop", "slug": "", "body": "x", "status": "draft"}
    )
    assert form.status == 422 and "/shop is an address the site itself uses" in await form.text()
    assert await text_of(client, "/shop") == "the shop"
    # A single-segment address with a folder route still finds its folder.
    moved = await client.get("/admin", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (301, "/admin/")


# -- scheduled publishing ----------------------------------------------------------------


async def test_a_scheduled_post_appears_by_itself_and_is_announced_once(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, auth, announcements = site
    when = datetime.now(UTC) + timedelta(seconds=2)
    post = await api_create(
        client,
        auth,
        title="Soon",
        status="scheduled",
        published_at=when.isoformat(),
        tags=["Later"],
    )
    assert post["status"] == "scheduled"
    assert announcements.published == []
    reader = await anonymous(client)
    try:
        assert "Soon" not in await text_of(reader, "/")
        await text_of(reader, "/posts/soon", 404)
        await text_of(reader, "/tags/later", 404)  # no published post: not a listed tag yet
        assert (await (await reader.get("/api/posts")).json())["data"] == []
        hidden = await reader.get(f"/api/posts/{post['id']}")
        assert hidden.status == 404
        # Its author sees it, as scheduled.
        mine = await (await client.get("/api/posts?status=scheduled", headers=auth)).json()
        assert [p["title"] for p in mine["data"]] == ["Soon"]

        await asyncio.sleep((when - datetime.now(UTC)).total_seconds() + 1.2)
        assert "Soon" in await text_of(reader, "/")
        assert "Soon" in await text_of(reader, "/posts/soon")
        assert "Soon" in await text_of(reader, "/tags/later")
        visible = await (await reader.get("/api/posts")).json()
        assert [(p["title"], p["status"]) for p in visible["data"]] == [("Soon", "published")]
        assert announcements.published == ["soon"]
        await asyncio.sleep(1.5)  # more rounds of the announcer: still once
        assert announcements.published == ["soon"]
    finally:
        await reader.close()


async def test_scheduling_needs_a_time_to_come_and_reads_the_sites_time_zone(
    make_client: ClientFactory,
) -> None:
    client = await make_client(site={"timezone": "Asia/Tokyo"})
    await setup_admin(client)
    issued = await issue_token(site_of(client), "admin")
    auth = {"Authorization": f"Bearer {issued.secret}"}
    past = await client.post(
        "/api/posts",
        json={"title": "Late", "status": "scheduled", "published_at": "2020-01-01T09:00:00Z"},
        headers=auth,
    )
    body = await past.json()
    assert past.status == 422 and "time to come" in body["error"]["fields"]["published_at"]
    # A time without an offset is Tokyo's (UTC+9).
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    naive = tomorrow.astimezone(site_of(client).settings.site.zone).replace(tzinfo=None)
    made = await api_create(
        client, auth, title="Tokyo", status="scheduled", published_at=naive.isoformat()
    )
    stored = datetime.fromisoformat(made["published_at"])
    assert abs((stored - tomorrow).total_seconds()) < 1
    # The admin form shows it in Tokyo's time, and publishing without a time publishes now.
    form = await text_of(client, f"/admin/posts/{made['id']}/edit")
    assert f'value="{naive.strftime("%Y-%m-%dT%H:%M")}"' in form
    assert "(Asia/Tokyo)" in form
    now = await client.patch(f"/api/posts/{made['id']}", json={"status": "published"}, headers=auth)
    assert (await now.json())["data"]["status"] == "published"
    assert "Tokyo" in await text_of(client, "/")


# -- authors, featured posts, excerpts ----------------------------------------------------


async def test_an_author_page_shows_the_profile_and_bylines_link_there(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, auth, _ = site
    await api_create(client, auth, title="By me")
    saved = await post_form(
        client,
        "/admin/account/profile",
        {"display_name": "Ada  Lovelace", "bio": "Writes about engines."},
        form_page="/admin/account",
    )
    assert saved.status == 303, await saved.text()
    page = await text_of(client, "/authors/admin")
    assert '<h1 class="page-title">Ada Lovelace</h1>' in page
    assert "Writes about engines." in page and "By me" in page
    post = await text_of(client, "/posts/by-me")
    assert '<a href="/authors/admin" rel="author">Ada Lovelace</a>' in post
    assert 'href="/authors/admin">Ada Lovelace</a>' in await text_of(client, "/")
    # One address per author, and none for nobody.
    moved = await client.get("/authors/ADMIN", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (301, "/authors/admin")
    await text_of(client, "/authors/nobody", 404)
    too_long = await post_form(
        client,
        "/admin/account/profile",
        {"display_name": "x" * 151, "bio": ""},
        form_page="/admin/account",
    )
    assert too_long.status == 422 and "at most 150 characters" in await too_long.text()
    user = await site_of(client).storage.get_user_by_username("admin")
    assert user is not None and user.display_name == "Ada Lovelace"


async def test_featured_posts_lead_the_journal_and_custom_excerpts_replace_the_automatic(
    make_client: ClientFactory,
) -> None:
    client = await make_client(theme="journal")
    await setup_admin(client)
    issued = await issue_token(site_of(client), "admin")
    auth = {"Authorization": f"Bearer {issued.secret}"}
    await api_create(client, auth, title="Old but featured", featured=True, body="Long text")
    await api_create(client, auth, title="Newest", custom_excerpt="Written by hand.")
    home = await text_of(client, "/")
    lead = home[home.index('class="lead-story"') : home.index("</article>")]
    assert "Old but featured" in lead and "Featured" in lead
    assert "Written by hand." in home
    data = (await (await client.get("/api/posts")).json())["data"]
    assert {p["title"]: (p["featured"], p["excerpt"]) for p in data} == {
        "Newest": (False, "Written by hand."),
        "Old but featured": (True, "Long text"),
    }


# -- navigation --------------------------------------------------------------------------


async def test_menus_start_with_home_and_every_page_shows_an_edit(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, auth, _ = site
    await api_create(client, auth, title="Hello")
    home = await text_of(client, "/")
    assert re.search(r'<a class="site-nav__link" href="/" aria-current="page">Home</a>', home)
    before = (await client.get("/posts/hello")).headers["ETag"]

    bad = await post_form(
        client,
        "/admin/navigation",
        {"primary-label": "Evil", "primary-url": "javascript:alert(1)"},
    )
    assert bad.status == 422 and "Use a path on this site" in await bad.text()
    assert (await site_of(client).storage.get_menus())["primary"][0].label == "Home"

    token_page = await text_of(client, "/admin/navigation")
    token = re.search(r'name="csrf_token" value="([^"]+)"', token_page)
    assert token is not None
    form = [
        ("csrf_token", token.group(1)),
        ("primary-label", "Home"),
        ("primary-url", "/"),
        ("primary-label", "About us"),
        ("primary-url", "/about"),
        ("primary-label", ""),
        ("primary-url", ""),
        ("secondary-label", "Source"),
        ("secondary-url", "https://example.org/src"),
    ]
    saved = await client.post("/admin/navigation", data=form, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    post = await client.get("/posts/hello")
    html = await post.text()
    assert post.headers["ETag"] != before  # the menus are part of every page
    assert '<a class="site-nav__link" href="/about">About us</a>' in html
    assert '<a href="https://example.org/src">Source</a>' in html
    reader = await anonymous(client)
    try:
        assert "About us" in await text_of(reader, "/tags")
    finally:
        await reader.close()


async def test_authors_cannot_manage_pages_tags_or_menus(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, _, _ = site
    await create_user(client, "writer", "author")
    issued = await issue_token(site_of(client), "writer")
    auth = {"Authorization": f"Bearer {issued.secret}"}
    refused = await client.post("/api/pages", json={"title": "Mine"}, headers=auth)
    assert refused.status == 403
    assert (await refused.json())["error"]["message"] == "Your role does not allow writing pages"


async def test_journal_shows_the_menus_as_sections_and_in_its_colophon(
    make_client: ClientFactory,
) -> None:
    from cms.contracts import MenuItem

    client = await make_client(theme="journal")
    await setup_admin(client)
    storage = site_of(client).storage
    await storage.set_menu("primary", [MenuItem("Home", "/"), MenuItem("Essays", "/tags/essays")])
    await storage.set_menu("secondary", [MenuItem("Imprint", "/imprint")])
    await asyncio.sleep(1.1)  # what another process saved shows within a second
    home = await text_of(client, "/")
    sections = home[home.index('aria-label="Sections"') :].split("</nav>")[0]
    assert re.findall(r'class="masthead__section" href="([^"]+)"', sections) == [
        "/",
        "/tags/essays",
    ]
    colophon = home[home.index('class="colophon"') :]
    assert '<a href="/imprint">Imprint</a>' in colophon


async def test_a_post_links_its_neighbours_and_knows_when_they_change(
    site: tuple[Client, dict[str, str], Announcements],
) -> None:
    client, auth, _ = site
    for title in ("First", "Second", "Third"):
        await api_create(client, auth, title=title)
        await asyncio.sleep(0.01)  # distinct publication times
    await api_create(client, auth, title="Draft", status="draft")
    await api_create(
        client,
        auth,
        title="Tomorrow",
        status="scheduled",
        published_at=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    await api_create(client, auth, "/api/pages", title="A page")

    def links(html: str) -> list[tuple[str, str]]:
        nav = (
            html.split('class="post-neighbours"')[1].split("</nav>")[0]
            if "neighbours" in html
            else ""
        )
        return re.findall(r'href="(/posts/[^"]+)" rel="(prev|next)"', nav)

    assert links(await text_of(client, "/posts/second")) == [
        ("/posts/first", "prev"),
        ("/posts/third", "next"),
    ]
    assert links(await text_of(client, "/posts/first")) == [("/posts/second", "next")]
    # Neither the draft, the scheduled post nor the page is a neighbour.
    third = await client.get("/posts/third")
    assert links(await third.text()) == [("/posts/second", "prev")]
    await api_create(client, auth, title="Fourth")
    again = await client.get("/posts/third")
    assert links(await again.text()) == [("/posts/second", "prev"), ("/posts/fourth", "next")]
    assert again.headers["ETag"] != third.headers["ETag"]


async def test_an_avatar_goes_through_the_image_handler_to_the_author_page(
    make_client: ClientFactory,
) -> None:
    from tests.conftest import csrf_from
    from tests.image_files import photo

    client = await make_client(images={"backend": "pillow", "options": {"workers": 1}})
    await setup_admin(client)
    token = await csrf_from(client, "/admin/account")
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("csrf_token", token)
    form.add_field("display_name", "Ada")
    form.add_field("bio", "")
    form.add_field("avatar", photo(400, 400), filename="me.jpg", content_type="image/jpeg")
    saved = await client.post("/admin/account/profile", data=form, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    user = await site_of(client).storage.get_user_by_username("admin")
    assert user is not None and user.avatar is not None
    page = await text_of(client, "/authors/admin")
    assert re.search(r'<picture><source type="image/webp" srcset="/media/', page)
    assert 'class="author-card__avatar"' in page
    # Not an image: refused with the handler's reason, nothing changed.
    token = await csrf_from(client, "/admin/account")
    bad = aiohttp.FormData(quote_fields=False)
    bad.add_field("csrf_token", token)
    bad.add_field("display_name", "Ada")
    bad.add_field("avatar", b"not an image", filename="me.jpg", content_type="image/jpeg")
    refused = await client.post("/admin/account/profile", data=bad, allow_redirects=False)
    assert refused.status == 422
    again = await site_of(client).storage.get_user_by_username("admin")
    assert again is not None and again.avatar == user.avatar
