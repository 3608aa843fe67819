"""The JSON API over real HTTP (aiohttp's test client) on a real database: posts in and
out, tokens and roles, visibility of drafts, pagination, ETags and If-Match, and every
kind of bad input answered with a JSON 4xx that changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cms.content.tokens import issue_token
from tests.conftest import ClientFactory, create_user, csrf_from, setup_admin, site_of
from tests.plugins import api_fields

Client = TestClient[Any, Any]
CORE_KEYS = {
    "id",
    "slug",
    "title",
    "body",
    "html",
    "status",
    "published_at",
    "created_at",
    "updated_at",
    "author",
    "editor",
    "version",
    "image",
    "kind",
    "tags",
    "featured",
    "custom_excerpt",
    "excerpt",
    "url",
}


async def token_for(client: Client, username: str, role: str = "author") -> dict[str, str]:
    """Create ``username`` (if needed) and a token for them; return the auth header."""
    site = site_of(client)
    if await site.storage.get_user_by_username(username) is None:
        await create_user(client, username, role)
    issued = await issue_token(site, username)
    return {"Authorization": f"Bearer {issued.secret}"}


async def create(client: Client, auth: dict[str, str], **values: Any) -> dict[str, Any]:
    body = {"title": "A post", "body": "Hello *world*", "status": "published", **values}
    response = await client.post("/api/posts", json=body, headers=auth)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def error_of(response: Any, status: int) -> dict[str, Any]:
    """Assert a JSON error answer of ``status`` and return its ``error`` object."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/json", text
    assert "Traceback" not in text
    error: dict[str, Any] = json.loads(text)["error"]
    assert set(error) <= {"code", "message", "fields"} and error["code"] and error["message"]
    return error


async def post_count(client: Client) -> int:
    return len(await site_of(client).storage.list_posts(limit=1000, order="updated"))


@pytest.fixture
async def api(client: Client) -> Client:
    return client


@pytest.fixture
async def alice(api: Client) -> dict[str, str]:
    return await token_for(api, "alice", "author")


# --- the round trip --------------------------------------------------------------------


async def test_create_get_list_update_delete(api: Client, alice: dict[str, str]) -> None:
    response = await api.post(
        "/api/posts",
        json={"title": "Hello", "body": "Some *Markdown*", "status": "published"},
        headers=alice,
    )
    assert response.status == 201, await response.text()
    created = (await response.json())["data"]
    assert set(created) == CORE_KEYS
    assert created["html"] == "<p>Some <em>Markdown</em></p>\n"
    assert created["author"] == created["editor"] == "alice"
    assert created["version"] == 1 and created["slug"] == "hello"
    assert response.headers["Location"] == f"/api/posts/{created['id']}"
    assert response.headers["ETag"] == f'"{created["id"]}-1"'

    response = await api.get(f"/api/posts/{created['id']}")
    assert response.status == 200
    assert (await response.json())["data"] == created
    etag = response.headers["ETag"]

    listed = await (await api.get("/api/posts")).json()
    assert [post["id"] for post in listed["data"]] == [created["id"]]
    assert listed["meta"] == {
        "count": 1,
        "limit": 20,
        "order": "published",
        "next": None,
        "next_url": None,
    }

    response = await api.patch(
        f"/api/posts/{created['id']}",
        json={"title": "Hello again"},
        headers={**alice, "If-Match": etag},
    )
    assert response.status == 200, await response.text()
    updated = (await response.json())["data"]
    assert updated["title"] == "Hello again" and updated["version"] == 2
    assert updated["body"] == "Some *Markdown*" and updated["slug"] == "hello"
    assert response.headers["ETag"] == f'"{created["id"]}-2"'

    response = await api.delete(f"/api/posts/{created['id']}", headers=alice)
    assert response.status == 204
    await error_of(await api.get(f"/api/posts/{created['id']}"), 404)
    assert await post_count(api) == 0


async def test_plugin_fields_are_validated_stored_and_sent(make_client: ClientFactory) -> None:
    api = await make_client(plugins=[("api_fields", api_fields)])
    auth = await token_for(api, "alice")
    error = await error_of(
        await api.post(
            "/api/posts",
            json={"title": "x", "rating": 9, "mood": "angry", "score": "many"},
            headers=auth,
        ),
        422,
    )
    assert set(error["fields"]) == {"rating", "mood", "score"}
    assert await post_count(api) == 0

    post = await create(
        api,
        auth,
        subtitle="Sub",
        rating=4,
        score=2.5,
        pinned=True,
        event_at="2030-01-02T03:04:05+01:00",
        mood="calm",
    )
    assert set(post) == CORE_KEYS | {
        "subtitle",
        "summary",
        "rating",
        "score",
        "pinned",
        "event_at",
        "mood",
    }
    assert post["rating"] == 4 and post["pinned"] is True and post["summary"] is None
    assert post["event_at"] == "2030-01-02T02:04:05Z"  # stored in UTC

    response = await api.patch(f"/api/posts/{post['id']}", json={"rating": 5}, headers=auth)
    changed = (await response.json())["data"]
    assert changed["rating"] == 5 and changed["subtitle"] == "Sub" and changed["mood"] == "calm"
    # A big number for a BIGINT column is a 422 too, never a database error.
    error = await error_of(
        await api.post("/api/posts", json={"title": "x", "rating": 2**70}, headers=auth), 422
    )
    assert "rating" in error["fields"]


async def test_unknown_fields_and_null_title_are_422(api: Client, alice: dict[str, str]) -> None:
    error = await error_of(
        await api.post("/api/posts", json={"title": "x", "colour": "red"}, headers=alice), 422
    )
    assert error["fields"] == {"colour": "This is not a field of posts."}
    post = await create(api, alice)
    error = await error_of(
        await api.patch(f"/api/posts/{post['id']}", json={"title": None}, headers=alice), 422
    )
    assert "title" in error["fields"]
    assert (await site_of(api).storage.get_post(post["id"])).version == 1  # type: ignore[union-attr]


# --- authentication and roles -----------------------------------------------------------


async def test_writes_without_a_token_are_401(api: Client, alice: dict[str, str]) -> None:
    post = await create(api, alice)
    for method, path, body in (
        ("POST", "/api/posts", {"title": "x"}),
        ("PATCH", f"/api/posts/{post['id']}", {"title": "x"}),
        ("DELETE", f"/api/posts/{post['id']}", None),
    ):
        response = await api.request(method, path, json=body)
        error = await error_of(response, 401)
        assert error["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await post_count(api) == 1
    assert (await site_of(api).storage.get_post(post["id"])).title == "A post"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer cms_" + "A" * 43,  # well-formed, unknown
        "Bearer not-a-cms-token",
        "Bearer ",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Token abc",
    ],
)
async def test_a_wrong_token_is_401(api: Client, alice: dict[str, str], authorization: str) -> None:
    response = await api.post(
        "/api/posts", json={"title": "x"}, headers={"Authorization": authorization}
    )
    await error_of(response, 401)
    # Reads with a wrong token are refused too, rather than served as anonymous.
    await error_of(await api.get("/api/posts", headers={"Authorization": authorization}), 401)
    assert await post_count(api) == 0


async def test_revoked_expired_and_deactivated_tokens_are_401(api: Client) -> None:
    site = site_of(api)
    user = await create_user(api, "carol", "author")
    revoked = await issue_token(site, "carol")
    await site.storage.revoke_token(revoked.token.id)
    expired = await issue_token(site, "carol", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    live = await issue_token(site, "carol")
    for issued in (revoked, expired):
        response = await api.post(
            "/api/posts",
            json={"title": "x"},
            headers={"Authorization": f"Bearer {issued.secret}"},
        )
        assert (await error_of(response, 401))["code"] == "invalid_token"
    live_auth = {"Authorization": f"Bearer {live.secret}"}
    await create(api, live_auth)
    await site.storage.update_user(user.id, is_active=False)
    await error_of(await api.post("/api/posts", json={"title": "y"}, headers=live_auth), 401)
    assert await post_count(api) == 1


async def test_an_author_cannot_touch_another_authors_post(api: Client) -> None:
    alice = await token_for(api, "alice", "author")
    bob = await token_for(api, "bob", "author")
    editor = await token_for(api, "erin", "editor")
    post = await create(api, alice, title="Alice's")
    draft = await create(api, alice, title="Alice's draft", status="draft")

    error = await error_of(
        await api.patch(f"/api/posts/{post['id']}", json={"title": "Bob was here"}, headers=bob),
        403,
    )
    assert error["code"] == "forbidden"
    await error_of(await api.delete(f"/api/posts/{post['id']}", headers=bob), 403)
    # Another author's draft is not even visible.
    await error_of(await api.patch(f"/api/posts/{draft['id']}", json={}, headers=bob), 404)
    stored = await site_of(api).storage.get_post(post["id"])
    assert stored is not None and stored.title == "Alice's" and stored.version == 1

    # An editor may change anybody's post, and is recorded as its editor.
    response = await api.patch(f"/api/posts/{post['id']}", json={"title": "Edited"}, headers=editor)
    assert response.status == 200
    data = (await response.json())["data"]
    assert data["author"] == "alice" and data["editor"] == "erin"
    assert (await api.delete(f"/api/posts/{draft['id']}", headers=editor)).status == 204


async def test_drafts_never_appear_to_anonymous_callers(api: Client) -> None:
    alice = await token_for(api, "alice", "author")
    bob = await token_for(api, "bob", "author")
    admin = await token_for(api, "root", "admin")
    published = await create(api, alice, title="Out")
    draft = await create(api, alice, title="Secret", status="draft")
    bobs_draft = await create(api, bob, title="Bob's secret", status="draft")

    for query in ("", "?status=published", "?author=alice", "?limit=100"):
        listed = await (await api.get(f"/api/posts{query}")).json()
        assert [post["id"] for post in listed["data"]] == [published["id"]], query
    await error_of(await api.get("/api/posts?status=draft"), 401)
    await error_of(await api.get(f"/api/posts/{draft['id']}"), 404)

    # Authors see their own drafts, not other people's; admins see all.
    mine = await (await api.get("/api/posts", headers=alice)).json()
    assert {post["id"] for post in mine["data"]} == {published["id"], draft["id"]}
    assert mine["meta"]["order"] == "updated"
    drafts = await (await api.get("/api/posts?status=draft", headers=alice)).json()
    assert [post["id"] for post in drafts["data"]] == [draft["id"]]
    theirs = await (await api.get("/api/posts?status=draft&author=bob", headers=alice)).json()
    assert theirs["data"] == []
    await error_of(await api.get(f"/api/posts/{bobs_draft['id']}", headers=alice), 404)
    everything = await (await api.get("/api/posts?status=draft", headers=admin)).json()
    assert {post["id"] for post in everything["data"]} == {draft["id"], bobs_draft["id"]}


async def test_list_filters_by_author_and_status(api: Client) -> None:
    alice = await token_for(api, "alice")
    bob = await token_for(api, "bob")
    a1 = await create(api, alice, title="a1")
    b1 = await create(api, bob, title="b1")
    await create(api, bob, title="b2", status="draft")
    by_bob = await (await api.get("/api/posts?author=bob")).json()
    assert [post["id"] for post in by_bob["data"]] == [b1["id"]]
    by_alice = await (await api.get("/api/posts?author=ALICE")).json()  # names ignore case
    assert [post["id"] for post in by_alice["data"]] == [a1["id"]]
    nobody = await (await api.get("/api/posts?author=nobody")).json()
    assert nobody["data"] == [] and nobody["meta"]["next"] is None
    error = await error_of(await api.get("/api/posts?status=secret&limit=1000"), 422)
    assert set(error["fields"]) == {"status", "limit"}


async def test_pages_follow_the_cursor_without_gaps_or_overlap(
    api: Client, alice: dict[str, str]
) -> None:
    created = [(await create(api, alice, title=f"Post {n}"))["id"] for n in range(25)]
    seen: list[int] = []
    url: str | None = "/api/posts?limit=10"
    pages = 0
    while url:
        body = await (await api.get(url)).json()
        seen += [post["id"] for post in body["data"]]
        assert body["meta"]["count"] == len(body["data"]) <= 10
        url = body["meta"]["next_url"]
        pages += 1
        if url:
            assert f"after={body['meta']['next']}" in url
    assert pages == 3
    assert seen == list(reversed(created))
    error = await error_of(await api.get("/api/posts?after=bm90LWEtY3Vyc29y"), 400)
    assert "damaged" in error["message"]


# --- ETags and If-Match -----------------------------------------------------------------


async def test_if_match_of_an_old_version_is_412_and_changes_nothing(
    api: Client, alice: dict[str, str]
) -> None:
    post = await create(api, alice)
    old = (await api.get(f"/api/posts/{post['id']}")).headers["ETag"]
    response = await api.patch(f"/api/posts/{post['id']}", json={"title": "Mine"}, headers=alice)
    assert response.status == 200
    current = response.headers["ETag"]

    for method, body in (("PATCH", {"title": "Stale"}), ("DELETE", None)):
        response = await api.request(
            method, f"/api/posts/{post['id']}", json=body, headers={**alice, "If-Match": old}
        )
        error = await error_of(response, 412)
        assert error["code"] == "precondition_failed"
        assert response.headers["ETag"] == current
    stored = await site_of(api).storage.get_post(post["id"])
    assert stored is not None and stored.title == "Mine" and stored.version == 2

    # The current ETag, a weak form of it, a list holding it, and * all match.
    for form in ("{}", "W/{}", '"999-1", {}', "*"):
        if_match = form.format(current)
        response = await api.patch(
            f"/api/posts/{post['id']}", json={"body": form}, headers={**alice, "If-Match": if_match}
        )
        assert response.status == 200, (if_match, await response.text())
        current = response.headers["ETag"]
    error = await error_of(
        await api.patch(
            f"/api/posts/{post['id']}", json={}, headers={**alice, "If-Match": "version 3"}
        ),
        400,
    )
    assert error["code"] == "bad_if_match"


async def test_patch_without_if_match_keeps_other_writers_fields(
    api: Client, alice: dict[str, str]
) -> None:
    post = await create(api, alice, title="T", body="B")
    first, second = await asyncio.gather(
        api.patch(f"/api/posts/{post['id']}", json={"title": "New title"}, headers=alice),
        api.patch(f"/api/posts/{post['id']}", json={"body": "New body"}, headers=alice),
    )
    assert first.status == second.status == 200
    stored = await site_of(api).storage.get_post(post["id"])
    assert stored is not None
    assert (stored.title, stored.body, stored.version) == ("New title", "New body", 3)


async def test_concurrent_patches_with_the_same_if_match_one_wins(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    """Two writers based on the same version: exactly one 200 and one 412, 100 times over,
    and the stored post is always the winner's, one version up: no lost update."""
    api = await make_client(storage=storage_settings)
    alice = await token_for(api, "alice")
    bob = await token_for(api, "bob", "editor")
    post = await create(api, alice)
    storage = site_of(api).storage
    for trial in range(100):
        etag = (await api.get(f"/api/posts/{post['id']}")).headers["ETag"]
        before = await storage.get_post(post["id"])
        assert before is not None
        responses = await asyncio.gather(
            *(
                api.patch(
                    f"/api/posts/{post['id']}",
                    json={"title": f"{who} {trial}"},
                    headers={**auth, "If-Match": etag},
                )
                for who, auth in (("alice", alice), ("bob", bob))
            )
        )
        statuses = sorted(response.status for response in responses)
        assert statuses == [200, 412], (trial, [await r.text() for r in responses])
        winner = next(r for r in responses if r.status == 200)
        won = (await winner.json())["data"]
        after = await storage.get_post(post["id"])
        assert after is not None
        assert after.version == before.version + 1 == won["version"]
        assert after.title == won["title"]


# --- bad input --------------------------------------------------------------------------


BAD_BODIES = {
    "malformed JSON": b'{"title": "x",',
    "nested 10,000 deep": b"[" * 10_000 + b"]" * 10_000,
    "object nested 10,000 deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "invalid UTF-8": b'{"title": "caf\xe9"}',
    "NaN": b'{"title": "x", "body": NaN}',
    "huge number": b'{"title": "x", "version": 1e999}',
    "too many digits": b'{"title": "x", "status": ' + b"9" * 5000 + b"}",
    "empty": b"",
}
INVALID_VALUES = {
    "10,000-character title": {"title": "x" * 10_000},
    "NUL in the slug": {"title": "x", "slug": "a\x00b"},
    "NUL in the body": {"title": "x", "body": "a\x00b"},
    "control character in the title": {"title": "a\x07b"},
    "lone surrogate": {"title": "\ud800"},
    "unknown status": {"title": "x", "status": "live"},
    "a list": ["title"],
    "a number": 5,
    "nested deep inside a field": {"title": [[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]},
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_undecodable_bodies_are_400_and_change_nothing(
    api: Client, alice: dict[str, str], name: str
) -> None:
    post = await create(api, alice)
    headers = {**alice, "Content-Type": "application/json"}
    for method, path in (("POST", "/api/posts"), ("PATCH", f"/api/posts/{post['id']}")):
        response = await api.request(method, path, data=BAD_BODIES[name], headers=headers)
        await error_of(response, 400)
    assert await post_count(api) == 1
    assert (await site_of(api).storage.get_post(post["id"])).version == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("name", list(INVALID_VALUES))
async def test_invalid_values_are_422_and_change_nothing(
    api: Client, alice: dict[str, str], name: str
) -> None:
    post = await create(api, alice)
    # json.dumps keeps NUL and lone surrogates as \\u escapes: valid JSON, invalid values.
    body = json.dumps(INVALID_VALUES[name]).encode()
    headers = {**alice, "Content-Type": "application/json"}
    for method, path in (("POST", "/api/posts"), ("PATCH", f"/api/posts/{post['id']}")):
        if method == "PATCH" and name == "unknown status":
            body = json.dumps({"status": "live"}).encode()
        error = await error_of(await api.request(method, path, data=body, headers=headers), 422)
        assert error["code"] == "invalid"
        if isinstance(INVALID_VALUES[name], dict):
            assert error["fields"], error
    assert await post_count(api) == 1
    assert (await site_of(api).storage.get_post(post["id"])).version == 1  # type: ignore[union-attr]


async def test_other_content_types_are_415(api: Client, alice: dict[str, str]) -> None:
    for headers, data in (
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"title=x"),
        ({"Content-Type": "text/plain"}, b'{"title": "x"}'),
        ({"Content-Type": "application/json; charset=latin-1"}, b'{"title": "x"}'),
        ({}, b'{"title": "x"}'),
    ):
        response = await api.post("/api/posts", data=data, headers={**alice, **headers})
        assert (await error_of(response, 415))["code"] == "unsupported_media_type"
    response = await api.post(
        "/api/posts",
        data=b'{"title": "ok"}',
        headers={**alice, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 201
    assert await post_count(api) == 1


async def test_a_body_over_the_limit_is_413(api: Client, alice: dict[str, str]) -> None:
    big = json.dumps({"title": "x", "body": "a" * (5 * 1024 * 1024)})
    response = await api.post(
        "/api/posts", data=big, headers={**alice, "Content-Type": "application/json"}
    )
    assert (await error_of(response, 413))["code"] == "too_large"
    assert await post_count(api) == 0


async def test_routing_errors_are_json(api: Client) -> None:
    await error_of(await api.get("/api/nothing-here"), 404)
    await error_of(await api.get(f"/api/posts/{2**40}"), 404)
    await error_of(await api.get("/api/posts/0"), 404)
    response = await api.put("/api/posts", json={})
    await error_of(response, 405)
    assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}


# --- browser sessions -------------------------------------------------------------------


async def test_a_signed_in_session_writes_with_the_csrf_header(client: Client) -> None:
    await setup_admin(client)
    token = await csrf_from(client, "/admin/posts/new")
    response = await client.post(
        "/api/posts",
        json={"title": "From the browser", "status": "published"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["data"]["author"] == "admin"
    # The session alone is not enough: no header, or a wrong one, is a JSON 403.
    await error_of(await client.post("/api/posts", json={"title": "x"}), 403)
    await error_of(
        await client.post("/api/posts", json={"title": "x"}, headers={"X-CSRF-Token": "nope"}),
        403,
    )
    # A request that sends Authorization is judged by it alone, never by the session.
    await error_of(
        await client.post(
            "/api/posts", json={"title": "x"}, headers={"Authorization": "Bearer cms_wrong"}
        ),
        401,
    )
    # Drafts are visible to the signed-in admin through the session, no token needed.
    draft = await client.post(
        "/api/posts", json={"title": "Draft", "status": "draft"}, headers={"X-CSRF-Token": token}
    )
    listed = await (await client.get("/api/posts?status=draft")).json()
    assert [post["id"] for post in listed["data"]] == [(await draft.json())["data"]["id"]]
    assert await post_count(client) == 2
