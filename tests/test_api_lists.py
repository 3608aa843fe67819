"""Lists of the JSON API over real HTTP: a listed post leaves out its texts unless
``?include=`` asks for them, and each post's JSON is made once per version
(cms/web/api/fragments.py) yet always says what the post is now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cms.web.api.fragments import PostJson
from cms.web.api.schemas import post_values
from cms.web.api.views import API_MODELS_KEY, POST_JSON_KEY
from cms.web.fast_pages import FAST_PAGES_KEY
from tests.conftest import ClientFactory, build_storage, site_of
from tests.plugins import api_fields
from tests.test_api import CORE_KEYS, create, error_of, token_for
from tests.test_fast_pages import anonymous_get

LISTED_KEYS = CORE_KEYS - {"body", "html"}


async def test_a_list_has_the_texts_it_is_asked_for(make_client: ClientFactory) -> None:
    api = await make_client()
    alice = await token_for(api, "alice")
    created = await create(api, alice, body="Hello *world*", tags=["Garden"])

    listed = (await (await api.get("/api/posts")).json())["data"]
    assert [set(post) for post in listed] == [LISTED_KEYS]
    assert listed[0]["excerpt"] == "Hello world" and listed[0]["tags"] == ["Garden"]
    whole = {key: value for key, value in created.items() if key in LISTED_KEYS}
    assert listed[0] == whole

    for include, texts in (
        ("body", {"body"}),
        ("html", {"html"}),
        ("body,html", {"body", "html"}),
        ("html,body", {"body", "html"}),
    ):
        response = await api.get(f"/api/posts?include={include}")
        assert response.status == 200
        (post,) = (await response.json())["data"]
        assert set(post) == LISTED_KEYS | texts
        assert {name: post[name] for name in texts} == {name: created[name] for name in texts}
    # Searches and pages list the same way; a post read alone has everything.
    found = (await (await api.get("/api/posts?q=world&include=html")).json())["data"]
    assert set(found[0]) == LISTED_KEYS | {"html"}
    alone = (await (await api.get(f"/api/posts/{created['id']}")).json())["data"]
    assert set(alone) == CORE_KEYS


async def test_a_bad_include_is_a_422_naming_it(make_client: ClientFactory) -> None:
    api = await make_client()
    for include in ("title", "body,body,html", "", "html;body", "x" * 30):
        error = await error_of(await api.get(f"/api/posts?include={include}"), 422)
        assert set(error["fields"]) == {"include"}, include
        assert "Choose one of: 'body', 'html', 'body,html'" in error["fields"]["include"]


async def test_the_next_page_keeps_what_was_included(make_client: ClientFactory) -> None:
    api = await make_client()
    alice = await token_for(api, "alice")
    for number in range(3):
        await create(api, alice, title=f"Post {number}")
    first = await (await api.get("/api/posts?limit=2&include=body")).json()
    second = await (await api.get(first["meta"]["next_url"])).json()
    assert [set(post) for post in second["data"]] == [LISTED_KEYS | {"body"}]


async def test_kept_json_is_the_models_own_and_follows_every_change(
    make_client: ClientFactory,
) -> None:
    api = await make_client(plugins=[("api_fields", api_fields)])
    site = site_of(api)
    alice = await token_for(api, "alice")
    created = await create(api, alice, tags=["Garden"], subtitle="A first subtitle")

    async def listed() -> dict[str, Any]:
        data: list[dict[str, Any]] = (await (await api.get("/api/posts")).json())["data"]
        return data[0]

    # The same bytes as the response model makes them, asked twice (the second is kept).
    post = await site.storage.get_post(created["id"])
    assert post is not None
    models = api.app[API_MODELS_KEY]
    fresh = PostJson(models)
    model_json = models.post.model_validate(post_values(post, models.field_names))
    assert fresh.item(post) == model_json.model_dump_json().encode() == fresh.item(post)
    assert len(fresh) == 1

    kept = api.app[POST_JSON_KEY]
    assert (await listed())["subtitle"] == "A first subtitle"
    # A change to the post (a plugin field), a rename of its tag (the post's version stays),
    # and the post leaving the list: each shows on the next request.
    response = await api.patch(
        f"/api/posts/{created['id']}", json={"subtitle": "Another"}, headers=alice
    )
    assert response.status == 200
    assert (await listed())["subtitle"] == "Another"
    tag = await site.storage.get_tag("garden")
    assert tag is not None
    await site.storage.rename_tag(tag.id, "Orchard", "orchard")
    assert (await listed())["tags"] == ["Orchard"]
    assert (await (await api.get(f"/api/posts/{created['id']}")).json())["data"]["tags"] == [
        "Orchard"
    ]
    assert len(kept) >= 3 and kept.size <= kept.max_bytes


async def test_kept_json_stays_within_its_bytes(make_client: ClientFactory) -> None:
    api = await make_client()
    site = site_of(api)
    alice = await token_for(api, "alice")
    for number in range(6):
        await create(api, alice, title=f"Post {number}", body="word " * 200)
    posts = await site.storage.list_posts(limit=6)
    texts = frozenset({"body", "html"})
    one = len(PostJson(api.app[API_MODELS_KEY]).listed(posts[:1], texts)) - 2
    # Room for five of the six: the oldest used goes.
    kept = PostJson(api.app[API_MODELS_KEY], max_bytes=5 * one + 100)
    listed = kept.listed(posts, texts)
    assert listed.count(b'"body"') == 6
    assert 0 < kept.size <= kept.max_bytes and len(kept) == 5


async def test_a_list_has_an_etag_and_anonymous_lists_are_kept_until_a_commit(
    make_client: ClientFactory, site_dir: Path
) -> None:
    api = await make_client()
    alice = await token_for(api, "alice")
    await create(api, alice, title="First")
    fast = api.app[FAST_PAGES_KEY]

    status, first, headers = await anonymous_get(api, "/api/posts")
    assert status == 200 and headers["ETag"].startswith('W/"')
    assert headers["Cache-Control"] == "no-cache" and "Authorization" in headers["Vary"]
    hits = fast.hits
    status, again, again_headers = await anonymous_get(api, "/api/posts")
    assert (status, again, again_headers["ETag"]) == (200, first, headers["ETag"])
    assert again_headers["Content-Type"] == "application/json; charset=utf-8"
    assert fast.hits == hits + 1
    status, _, _ = await anonymous_get(api, "/api/posts", **{"If-None-Match": headers["ETag"]})
    assert status == 304

    # A caller with a token is answered the usual way, its ETag for what it may see.
    response = await api.get("/api/posts", headers=alice)
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert (
        await api.get("/api/posts", headers={**alice, "If-None-Match": response.headers["ETag"]})
    ).status == 304
    assert fast.hits == hits + 2

    # A commit by another process (a worker, a cms command): seen on the next request.
    other = await build_storage(site_dir, {"backend": "sqlite", "options": {"path": "cms.db"}})
    try:
        post = await other.get_post_by_slug("first")
        assert post is not None
        await other.update_post(post.id, {"title": "Renamed"}, editor_id=None)
    finally:
        await other.close()
    status, after, after_headers = await anonymous_get(api, "/api/posts")
    assert [post["title"] for post in json.loads(after)["data"]] == ["Renamed"]
    assert after_headers["ETag"] != headers["ETag"]
