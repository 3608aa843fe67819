"""Old addresses kept alive: a post's or page's changed slug, and redirects added in the
admin, answer 301; ``/posts/{slug}/`` and ``/admin`` reach their canonical addresses."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from cms.content.tokens import issue_token
from tests.conftest import ClientFactory, post_form, setup_admin, site_of

Client = TestClient[Any, Any]


async def admin_with_token(make_client: ClientFactory, **sections: Any) -> tuple[Client, Any]:
    client = await make_client(**sections)
    await setup_admin(client)
    issued = await issue_token(site_of(client), "admin")
    return client, {"Authorization": f"Bearer {issued.secret}"}


async def moved(client: Client, path: str) -> tuple[int, str | None]:
    response = await client.get(path, allow_redirects=False)
    return response.status, response.headers.get("Location")


async def test_a_changed_slug_answers_301_to_the_new_address(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    client, auth = await admin_with_token(make_client, storage=storage_settings)
    made = await client.post(
        "/api/posts", json={"title": "First name", "status": "published"}, headers=auth
    )
    post = (await made.json())["data"]
    for slug in ("second-name", "third-name"):
        changed = await client.patch(f"/api/posts/{post['id']}", json={"slug": slug}, headers=auth)
        assert changed.status == 200, await changed.text()
    # Every former slug leads to the current one, the query kept; the current one answers.
    assert await moved(client, "/posts/first-name?ref=x") == (301, "/posts/third-name?ref=x")
    assert await moved(client, "/posts/second-name") == (301, "/posts/third-name")
    assert (await client.get("/posts/third-name")).status == 200
    assert await moved(client, "/posts/third-name/") == (301, "/posts/third-name")
    # A new post may take a former slug: it wins the address.
    await client.post(
        "/api/posts",
        json={"title": "Newcomer", "slug": "first-name", "status": "published"},
        headers=auth,
    )
    assert (await client.get("/posts/first-name", allow_redirects=False)).status == 200
    # Pages too, at their own addresses; a draft's old slug leads nowhere.
    page = await client.post(
        "/api/pages", json={"title": "Team", "status": "published"}, headers=auth
    )
    page_id = (await page.json())["data"]["id"]
    await client.patch(f"/api/pages/{page_id}", json={"slug": "people"}, headers=auth)
    assert await moved(client, "/team") == (301, "/people")
    await client.patch(f"/api/pages/{page_id}", json={"status": "draft"}, headers=auth)
    assert await moved(client, "/team") == (404, None)


async def test_redirects_added_in_the_admin(make_client: ClientFactory) -> None:
    client, _ = await admin_with_token(make_client)
    added = await post_form(
        client, "/admin/redirects", {"path": "/2019/old-post.html", "target": "/tags/news"}
    )
    assert added.status == 303, await added.text()
    await post_form(
        client, "/admin/redirects", {"path": "/rss", "target": "https://example.org/feed"}
    )
    assert await moved(client, "/2019/old-post.html?x=1") == (301, "/tags/news?x=1")
    assert await moved(client, "/rss") == (301, "https://example.org/feed")
    listing = await (await client.get("/admin/redirects")).text()
    assert "/2019/old-post.html" in listing and "https://example.org/feed" in listing

    for path, target, problem in [
        ("//evil.example", "/", "Use a path on this site"),
        ("/a", "javascript:alert(1)", "Use a path on this site (like /about)"),
        ("/same", "/same", "would never end"),
    ]:
        refused = await post_form(client, "/admin/redirects", {"path": path, "target": target})
        assert refused.status == 422 and problem in await refused.text(), path
    assert len(await site_of(client).storage.list_redirects()) == 2

    removed = await post_form(client, "/admin/redirects", {"action": "delete", "path": "/rss"})
    assert removed.status == 303
    assert (await client.get("/rss", allow_redirects=False)).status == 404
    # An address something answers at is never redirected; the API keeps its JSON 404s.
    await site_of(client).storage.set_redirect("/api/nothing", "/")
    api = await client.get("/api/nothing", allow_redirects=False)
    assert api.status == 404 and api.content_type == "application/json"
