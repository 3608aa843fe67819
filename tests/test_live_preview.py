"""The editor's live preview over real HTTP (``POST /admin/preview``): who may use it, the
CSRF token, limits and bad input, and that it renders as saving does (plugins included);
and what the post form and post pages show of it (word count, reading time, the notice)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cms import hookimpl
from tests.conftest import (
    ClientFactory,
    create_post,
    create_user,
    csrf_from,
    login,
    setup_admin,
    site_of,
)

PREVIEW = "/admin/preview"


async def preview(
    client: TestClient[Any, Any], payload: Any, *, token: str | None = None, **headers: str
) -> Any:
    """POST ``payload`` as JSON, with the session's token unless ``token`` says otherwise."""
    if token is None:
        token = await csrf_from(client, "/admin/posts/new")
    data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return await client.post(
        PREVIEW,
        data=data,
        headers={"Content-Type": "application/json", "X-CSRF-Token": token, **headers},
    )


async def test_the_preview_renders_markdown_as_saving_does(
    admin_client: TestClient[Any, Any],
) -> None:
    body = "Some *text*[^1].\n\n- [ ] to do\n- [x] done\n\n[^1]: A note."
    response = await preview(admin_client, {"body": body, "slug": "my-post"})
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    answer = await response.json()
    assert "<em>text</em>" in answer["html"]
    assert 'id="fn-my-post-1"' in answer["html"]
    assert answer["html"].count('disabled="disabled" type="checkbox"') == 2
    # Footnote markers and the back link are not words; reading time rounds up.
    assert answer["words"] == 7
    assert answer["reading_time"] == 1
    # The same HTML saving stores.
    assert (await create_post(admin_client, body=body, slug="my-post")).status == 303
    [post] = await site_of(admin_client).storage.list_posts(limit=5)
    assert post.html == answer["html"]
    assert (post.word_count, post.reading_time) == (7, 1)


async def test_an_empty_body_has_no_words(admin_client: TestClient[Any, Any]) -> None:
    answer = await (await preview(admin_client, {"body": ""})).json()
    assert answer == {"html": "", "words": 0, "reading_time": 0}


class ShoutPlugin:
    """Renders bodies that start with ``!`` itself, in capitals, with a script to drop."""

    @hookimpl
    def render_post_body(self, body: str, post: Any) -> str | None:
        if not body.startswith("!"):
            return None
        return f"<p>{body[1:].upper()} {post.get('title')}</p><script>alert(1)</script>"


async def test_render_post_body_plugins_render_the_preview_sanitized(
    make_client: ClientFactory,
) -> None:
    client = await make_client(plugins=[("shout", ShoutPlugin())])
    await setup_admin(client)
    answer = await (await preview(client, {"body": "!quiet", "title": "Mine"})).json()
    assert answer["html"] == "<p>QUIET Mine</p>"
    plain = await (await preview(client, {"body": "quiet"})).json()
    assert plain["html"] == "<p>quiet</p>\n"


async def test_a_visitor_gets_401_in_json(client: TestClient[Any, Any]) -> None:
    await setup_admin(client)
    # A session (and its token) without a user: signed out, then back on the login form.
    await client.post(
        "/logout", data={"csrf_token": await csrf_from(client, "/admin/")}, allow_redirects=False
    )
    token = await csrf_from(client, "/login")
    response = await preview(client, {"body": "x"}, token=token)
    assert response.status == 401
    answer = await response.json()
    assert answer["error"]["code"] == "unauthorized"
    assert "Sign in" in answer["error"]["message"]


async def test_a_role_that_may_not_write_gets_403(make_client: ClientFactory) -> None:
    class NoWriting:
        @hookimpl
        def permission_allowed(self, user: Any, action: str) -> bool | None:
            if user is not None and user.username == "guest" and action == "posts.create":
                return False
            return None

    client = await make_client(plugins=[("no-writing", NoWriting())])
    await setup_admin(client)
    await create_user(client, "guest", "author")
    client.session.cookie_jar.clear()
    assert (await login(client, "guest", "correct horse battery")).status == 303
    token = await csrf_from(client, "/admin/account")
    response = await preview(client, {"body": "x"}, token=token)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"


async def test_without_the_csrf_token_it_is_refused(admin_client: TestClient[Any, Any]) -> None:
    response = await preview(admin_client, {"body": "x"}, token="wrong")
    assert response.status == 403
    response = await admin_client.post(
        PREVIEW, data=json.dumps({"body": "x"}), headers={"Content-Type": "application/json"}
    )
    assert response.status == 403
    # Nor from another site, token or not.
    response = await preview(admin_client, {"body": "x"}, Origin="https://evil.example")
    assert response.status == 403


async def test_bad_input_is_a_4xx_that_says_why(admin_client: TestClient[Any, Any]) -> None:
    token = await csrf_from(admin_client, "/admin/posts/new")
    cases: list[tuple[Any, int]] = [
        ("{not json", 400),
        (b"\xff\xfe", 400),
        ([1, 2], 400),
        ({"title": "no body"}, 400),
        ({"body": 12}, 400),
        ({"body": "nul \x00 here"}, 400),
        ({"body": "x" * 500_001}, 413),
    ]
    for payload, status in cases:
        response = await preview(admin_client, payload, token=token)
        assert response.status == status, (payload if len(str(payload)) < 50 else "long", status)
        answer = await response.json()
        assert answer["error"]["message"], answer
    response = await admin_client.post(
        PREVIEW, data={"body": "x", "csrf_token": token}, allow_redirects=False
    )
    assert response.status == 415
    # A request past the byte limit is refused from its Content-Length, unread.
    response = await preview(admin_client, "x" * (5 * 1024 * 1024), token=token)
    assert response.status == 413
    # The longest body a post may have still previews.
    response = await preview(admin_client, {"body": "word " * 100_000}, token=token)
    assert response.status == 200
    assert (await response.json())["words"] == 100_000


async def test_the_form_shows_the_preview_words_and_the_saved_notice(
    admin_client: TestClient[Any, Any],
) -> None:
    response = await create_post(admin_client, body="one two three four five", title="Counted")
    assert response.status == 303
    location = response.headers["Location"]
    assert location.endswith("?notice=saved")
    html = await (await admin_client.get(location)).text()
    status = re.search(r'<div class="notice-area" role="status">(.*?)</div>', html, re.DOTALL)
    assert status and "The post was saved." in status.group(1)
    assert '<span class="editor__words">5 words</span>' in html
    assert "1 min read" in html
    assert re.search(r'id="post-preview"[^>]*>\s*<p>one two three four five</p>', html)
    assert re.search(r'<script src="/static/default/editor\.[0-9a-f]+\.js" defer>', html)
    # Without the notice, the status area is there and empty.
    plain = await (await admin_client.get(location.split("?")[0])).text()
    assert re.search(r'<div class="notice-area" role="status">\s*</div>', plain)
    # A new post's form counts nothing yet.
    new = await (await admin_client.get("/admin/posts/new")).text()
    assert '<span class="editor__words">0 words</span>' in new


@pytest.mark.parametrize("theme", ["default", "journal"])
async def test_post_pages_show_the_reading_time(make_client: ClientFactory, theme: str) -> None:
    client = await make_client(theme=theme)
    await setup_admin(client)
    words = " ".join(["word"] * 461)  # 461 words at 230 a minute: 3 minutes
    assert (await create_post(client, title="Long read", body=words)).status == 303
    html = await (await client.get("/posts/long-read")).text()
    assert "3 min read" in html
    assert re.search(r'"wordCount": ?461', html)
