"""Security over real HTTP: XSS, template injection, CSRF, session cookies, headers,
open redirects and login parity. Storage and sessions are the real ones."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    create_post,
    csrf_from,
    login,
    post_form,
    setup_admin,
    site_of,
)

COOKIE = "cms_session"
EVIL_ORIGIN = "https://evil.example"


class _Elements(HTMLParser):
    """Every start tag and its attributes, for checking what a page would execute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.tags


_STRUCTURED_DATA = re.compile(
    r'<script type="application/ld\+json">(.*?)</script>', re.IGNORECASE | re.DOTALL
)


#: A theme's own script file (the editor's editor.js), linked by its hashed static name.
_THEME_SCRIPT = re.compile(r'<script src="/static/[a-z0-9_-]+/[a-z0-9_-]+\.[0-9a-f]+\.js" defer>')


def without_structured_data(html: str) -> str:
    """``html`` without its JSON-LD blocks, each checked first: valid JSON, and nothing in
    it that HTML would read as markup (so no text can end the element early); and without
    the theme's own script files (no text of the page is in them)."""
    for block in _STRUCTURED_DATA.findall(html):
        assert "<" not in block and ">" not in block and "&" not in block, block
        json.loads(block)
    return _THEME_SCRIPT.sub("", _STRUCTURED_DATA.sub("", html))


def executable_parts(html: str) -> list[str]:
    """What in ``html`` a browser would run: script elements (a JSON-LD data block is not
    run: it is checked and left out), event handlers, script URLs."""
    html = without_structured_data(html)
    found: list[str] = []
    for tag, attrs in elements(html):
        if tag in ("script", "iframe", "object", "embed"):
            found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"<{tag} {name}>")
            compact = re.sub(r"[\s\x00-\x1f]", "", value or "").lower()
            if compact.startswith(("javascript:", "vbscript:", "data:text/html")):
                found.append(f"<{tag} {name}={value}>")
    return found


async def post_id_from(response: Any) -> int:
    """The id of the post a successful admin form submission redirected to."""
    assert response.status == 303, await response.text()
    match = re.search(r"/admin/posts/(\d+)/edit", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def session_cookie(response: Any) -> str:
    """The ``Set-Cookie`` header that sets the session cookie."""
    headers = [h for h in response.headers.getall("Set-Cookie", []) if h.startswith(f"{COOKIE}=")]
    assert len(headers) == 1, response.headers.getall("Set-Cookie", [])
    return str(headers[0])


def cookie_value(client: TestClient[Any, Any]) -> str:
    values = [c.value for c in client.session.cookie_jar if c.key == COOKIE]
    assert len(values) == 1, "expected exactly one session cookie in the jar"
    return str(values[0])


def forget_cookies(client: TestClient[Any, Any]) -> None:
    """Make the client a fresh browser: an empty cookie jar."""
    client.session.cookie_jar.clear()


# --- Output escaping -------------------------------------------------------------------


XSS_BODY = """Before.

<script>alert(1)</script>

<img src=x onerror=alert(1)>

[x](javascript:alert(1))

<a href="javascript:alert(2)">link</a> <a href=" JaVaScRiPt:alert(3)">two</a>

<svg onload=alert(4)></svg> <iframe src="https://evil.example"></iframe>

<p style="x" onclick="alert(5)">After.</p>
"""


async def test_body_markup_renders_without_anything_executable(
    admin_client: TestClient[Any, Any],
) -> None:
    response = await create_post(admin_client, title="XSS", slug="xss", body=XSS_BODY)
    assert response.status == 303, await response.text()
    page = await admin_client.get("/posts/xss")
    html = await page.text()
    assert page.status == 200
    assert "Before." in html and "After." in html  # the harmless text is kept
    assert "<script" not in without_structured_data(html).lower()
    assert "onerror" not in html.lower()
    assert "onload" not in html.lower()
    assert "onclick" not in html.lower()
    assert "<iframe" not in html.lower()
    assert executable_parts(html) == []
    # Markdown refuses the javascript: link, so it never becomes a link: only the literal
    # text the author typed remains, as text (in the paragraph and the description).
    assert not re.search(r"""(href|src)\s*=\s*["']?\s*javascript:""", html, re.IGNORECASE)
    content = html.split('class="post-content"', 1)[1].split("</div>", 1)[0]
    assert "<p>[x](javascript:alert(1))</p>" in content
    assert "javascript:alert(2)" not in content and "alert(3)" not in content
    # The same holds for the index excerpt and the API-free admin form (escaped source).
    index = await (await admin_client.get("/")).text()
    assert "<script" not in without_structured_data(index).lower()
    assert executable_parts(index) == []
    form = await (await admin_client.get("/admin/")).text()
    assert executable_parts(form) == []


async def test_template_syntax_in_a_title_is_shown_as_typed(
    admin_client: TestClient[Any, Any],
) -> None:
    response = await create_post(admin_client, title="{{7*7}} and {% raw %}", slug="ssti")
    post_id = await post_id_from(response)
    for path in ("/", "/posts/ssti", "/admin/", f"/admin/posts/{post_id}/edit"):
        html = await (await admin_client.get(path)).text()
        assert "{{7*7}} and {% raw %}" in html, path
        assert "49 and" not in html, path  # (a bare "49" may be a time of day)


TAG_TITLE = "<b>bold</b>"
ESCAPED_TITLE = "&lt;b&gt;bold&lt;/b&gt;"


def assert_escaped(html: str, where: str, *, times: int = 1) -> None:
    assert "<b>bold" not in html, f"raw title markup on {where}"
    assert html.count(ESCAPED_TITLE) >= times, f"escaped title missing on {where}"


async def test_a_title_with_markup_is_escaped_everywhere(
    admin_client: TestClient[Any, Any],
) -> None:
    post_id = await post_id_from(await create_post(admin_client, title=TAG_TITLE, slug="tags"))

    assert_escaped(await (await admin_client.get("/")).text(), "the index")

    page = await (await admin_client.get("/posts/tags")).text()
    assert_escaped(page, "the post page", times=2)
    title = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    assert title and ESCAPED_TITLE in title.group(1)
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.DOTALL)
    assert heading and heading.group(1).strip() == ESCAPED_TITLE

    assert_escaped(await (await admin_client.get("/admin/")).text(), "the admin list")

    edit_url = f"/admin/posts/{post_id}/edit"
    form = await (await admin_client.get(edit_url)).text()
    assert_escaped(form, "the edit form", times=2)
    assert f'value="{ESCAPED_TITLE}"' in form

    # The error re-render of the form shows the typed title escaped too.
    for path in ("/admin/posts/new", edit_url):
        response = await post_form(
            admin_client,
            path,
            {
                "title": TAG_TITLE,
                "slug": "Not A Slug!",
                "body": "",
                "status": "draft",
                "version": "1",
            },
        )
        assert response.status == 422
        html = await response.text()
        assert_escaped(html, f"the error re-render of {path}")
        assert f'value="{ESCAPED_TITLE}"' in html


async def test_an_attribute_breaking_title_stays_inside_its_attribute(
    admin_client: TestClient[Any, Any],
) -> None:
    title = '"><script>alert(1)</script>'
    post_id = await post_id_from(await create_post(admin_client, title=title, slug="quote"))
    for path in ("/", "/posts/quote", "/admin/", f"/admin/posts/{post_id}/edit"):
        html = await (await admin_client.get(path)).text()
        assert "<script" not in without_structured_data(html).lower(), path
        assert executable_parts(html) == [], path


# --- CSRF ------------------------------------------------------------------------------


async def _state(client: TestClient[Any, Any]) -> tuple[Any, ...]:
    """Everything a forged admin POST could change."""
    storage = site_of(client).storage
    posts = await storage.list_posts(limit=100, order="updated")
    admin = await storage.get_user_by_username(ADMIN_NAME)
    assert admin is not None
    return (
        tuple((p.id, p.slug, p.title, p.body, p.status, p.version) for p in posts),
        admin.session_generation,
    )


ACTIONS = {
    "new": ("/admin/posts/new", {"title": "Forged", "body": "x", "status": "published"}),
    "edit": (
        "/admin/posts/{id}/edit",
        {"title": "Forged", "slug": "victim", "body": "x", "status": "published", "version": "1"},
    ),
    "delete": ("/admin/posts/{id}/delete", {}),
    "logout": ("/logout", {}),
}


@pytest.mark.parametrize(
    "attack", ["no-token", "wrong-token", "foreign-origin", "foreign-referer", "null-origin"]
)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_admin_posts_without_a_valid_same_site_token_are_refused(
    admin_client: TestClient[Any, Any], action: str, attack: str
) -> None:
    post_id = await post_id_from(
        await create_post(admin_client, title="Victim", slug="victim", body="Original")
    )
    token = await csrf_from(admin_client, "/admin/")
    before = await _state(admin_client)
    path_template, data = ACTIONS[action]
    path = path_template.format(id=post_id)

    headers: dict[str, str] = {}
    form = dict(data)
    if attack == "wrong-token":
        form["csrf_token"] = "A" * len(token)
    elif attack != "no-token":
        form["csrf_token"] = token  # a valid token does not make a foreign request good
        headers = {
            "foreign-origin": {"Origin": EVIL_ORIGIN},
            "foreign-referer": {"Referer": f"{EVIL_ORIGIN}/page"},
            "null-origin": {"Origin": "null"},
        }[attack]
    response = await admin_client.post(path, data=form, headers=headers, allow_redirects=False)

    assert response.status == 403, await response.text()
    assert "text/html" in response.headers["Content-Type"]
    assert await _state(admin_client) == before
    still_signed_in = await admin_client.get("/admin/", allow_redirects=False)
    assert still_signed_in.status == 200


async def test_a_same_origin_post_with_the_token_is_accepted(
    admin_client: TestClient[Any, Any],
) -> None:
    """The control for the test above: the browser's own form passes."""
    token = await csrf_from(admin_client, "/admin/posts/new")
    origin = f"http://{admin_client.host}:{admin_client.port}"
    response = await admin_client.post(
        "/admin/posts/new",
        data={"title": "Mine", "body": "", "status": "draft", "csrf_token": token},
        headers={"Origin": origin},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()


async def test_a_token_in_a_header_works_too_but_only_the_right_one(
    admin_client: TestClient[Any, Any],
) -> None:
    token = await csrf_from(admin_client, "/admin/")
    data = {"title": "By header", "body": "", "status": "draft"}
    bad = await admin_client.post(
        "/admin/posts/new",
        data=data,
        headers={"X-CSRF-Token": token[::-1]},
        allow_redirects=False,
    )
    assert bad.status == 403
    good = await admin_client.post(
        "/admin/posts/new", data=data, headers={"X-CSRF-Token": token}, allow_redirects=False
    )
    assert good.status == 303


# --- The session cookie ----------------------------------------------------------------


async def test_session_cookie_is_opaque_httponly_and_samesite(
    client: TestClient[Any, Any],
) -> None:
    username = "zaphod.beeblebrox42"
    response = await post_form(
        client,
        "/setup",
        {"username": username, "password": ADMIN_PASSWORD, "password_confirm": ADMIN_PASSWORD},
    )
    assert response.status == 303
    header = session_cookie(response)
    value = header.split(";", 1)[0].split("=", 1)[1].strip('"')
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert username not in value
    assert "zaphod" not in value.lower()
    padded = value + "=" * (-len(value) % 4)
    try:
        decoded = base64.urlsafe_b64decode(padded)
    except ValueError:
        decoded = b""
    assert b"zaphod" not in decoded  # encrypted, not just encoded
    assert b'"uid"' not in decoded


async def test_visitors_reading_public_pages_get_no_session_cookie(
    admin_client: TestClient[Any, Any],
) -> None:
    await create_post(admin_client, title="Public", slug="public")
    forget_cookies(admin_client)
    for path in ("/", "/posts/public"):
        response = await admin_client.get(path)
        assert response.status == 200
        assert not [
            h for h in response.headers.getall("Set-Cookie", []) if h.startswith(f"{COOKIE}=")
        ], path


def _tampered(value: str) -> list[str]:
    def flip(text: str, index: int) -> str:
        char = text[index]
        return text[:index] + ("A" if char != "A" else "B") + text[index + 1 :]

    middle = len(value) // 2
    return [
        flip(value, middle),
        flip(value, len(value) - 3),
        flip(value, 5),
        value[:-4],
        value + "AAAA",
        value[::-1],
        "garbage",
        "",
        "null",
        '"{}"',
        "%00%0a",
        "x" * 3000,
    ]


async def test_a_tampered_session_cookie_means_signed_out_never_an_error(
    admin_client: TestClient[Any, Any],
) -> None:
    await create_post(admin_client, title="Public", slug="public")
    good = cookie_value(admin_client)
    # Sanity: the untampered cookie does sign in when replayed by itself.
    forget_cookies(admin_client)
    replayed = await admin_client.get(
        "/admin/", headers={"Cookie": f"{COOKIE}={good}"}, allow_redirects=False
    )
    assert replayed.status == 200

    for value in _tampered(good):
        forget_cookies(admin_client)
        headers = {"Cookie": f"{COOKIE}={value}"}
        admin = await admin_client.get("/admin/", headers=headers, allow_redirects=False)
        assert admin.status == 302, (value[:40], admin.status)
        assert admin.headers["Location"].startswith("/login")
        for path in ("/", "/posts/public", "/login"):
            response = await admin_client.get(path, headers=headers)
            assert response.status == 200, (value[:40], path, response.status)
        missing = await admin_client.get("/posts/missing", headers=headers)
        assert missing.status == 404
        forged = await admin_client.post(
            "/admin/posts/new",
            data={"title": "Forged", "csrf_token": "x"},
            headers=headers,
            allow_redirects=False,
        )
        assert forged.status in (302, 403), forged.status
    titles = [p.title for p in await site_of(admin_client).storage.list_posts(limit=10)]
    assert titles == ["Public"]


async def test_a_cookie_copied_before_sign_out_is_dead_after_it(
    admin_client: TestClient[Any, Any],
) -> None:
    token = await csrf_from(admin_client, "/admin/")
    stolen = cookie_value(admin_client)

    response = await post_form(admin_client, "/logout", {}, form_page="/admin/")
    assert response.status == 303
    assert (await admin_client.get("/admin/", allow_redirects=False)).status == 302

    forget_cookies(admin_client)  # a fresh browser with the copied cookie
    headers = {"Cookie": f"{COOKIE}={stolen}"}
    response = await admin_client.get("/admin/", headers=headers, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login")
    home = await (await admin_client.get("/", headers=headers)).text()
    assert "Sign out" not in home and "Sign in" in home

    forget_cookies(admin_client)
    forged = await admin_client.post(
        "/admin/posts/new",
        data={"title": "After sign-out", "body": "", "status": "published", "csrf_token": token},
        headers=headers,
        allow_redirects=False,
    )
    assert forged.status in (302, 403)
    assert await site_of(admin_client).storage.list_posts(limit=10) == []


# --- Headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/login", 200),
        ("/no/such/page", 404),
        ("/posts/missing", 404),
        ("/admin/posts/1/delete", 302),
    ],
)
async def test_security_headers_on_pages_and_errors(
    client: TestClient[Any, Any], path: str, status: int
) -> None:
    await setup_admin(client)
    forget_cookies(client)
    response = await client.get(path, allow_redirects=False)
    assert response.status == status
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("Referrer-Policy")
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src" in csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp


# --- Where sign-in sends you -----------------------------------------------------------


UNSAFE_NEXT = [
    "//evil.com",
    "//evil.com/admin/",
    "/\\evil.com",
    "\\\\evil.com",
    "http:///evil.com",
    "https://evil.com",
    "https://evil.com/admin/",
    "HTTPS://evil.com",
    "javascript:alert(1)",
    "\n/admin/",
    "/admin/\r\nSet-Cookie: x=1",
    " //evil.com",
    "/\t/evil.com",
    "evil.com",
]


@pytest.mark.parametrize("next_value", UNSAFE_NEXT)
async def test_sign_in_never_redirects_off_site(
    client: TestClient[Any, Any], next_value: str
) -> None:
    await setup_admin(client)
    forget_cookies(client)
    token = await csrf_from(client, "/login")
    response = await client.post(
        "/login",
        data={
            "username": ADMIN_NAME,
            "password": ADMIN_PASSWORD,
            "next": next_value,
            "csrf_token": token,
        },
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/admin/"
    # Already signed in, ``GET /login?next=`` redirects straight away: the same rule.
    again = await client.get("/login", params={"next": next_value}, allow_redirects=False)
    assert again.status == 303
    assert again.headers["Location"] == "/admin/"


@pytest.mark.parametrize("next_value", ["/posts/x?y=1", "/admin/posts/new"])
async def test_sign_in_keeps_a_local_next_path(
    client: TestClient[Any, Any], next_value: str
) -> None:
    await setup_admin(client)
    forget_cookies(client)
    token = await csrf_from(client, "/login")
    response = await client.post(
        "/login",
        data={
            "username": ADMIN_NAME,
            "password": ADMIN_PASSWORD,
            "next": next_value,
            "csrf_token": token,
        },
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == next_value


async def test_the_login_redirect_from_admin_round_trips(client: TestClient[Any, Any]) -> None:
    await setup_admin(client)
    forget_cookies(client)
    response = await client.get("/admin/posts/new", allow_redirects=False)
    assert response.status == 302
    login_page = await client.get(response.headers["Location"])
    html = await login_page.text()
    assert 'name="next" value="/admin/posts/new"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token
    signed_in = await client.post(
        "/login",
        data={
            "username": ADMIN_NAME,
            "password": ADMIN_PASSWORD,
            "next": "/admin/posts/new",
            "csrf_token": token.group(1),
        },
        allow_redirects=False,
    )
    assert signed_in.headers["Location"] == "/admin/posts/new"


# --- Sign-in does not tell which part was wrong ----------------------------------------


def _normalised(html: str, username: str) -> str:
    html = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)
    return html.replace(f'value="{username}"', 'value=""')


async def test_unknown_user_and_wrong_password_look_the_same(
    client: TestClient[Any, Any],
) -> None:
    await setup_admin(client)
    forget_cookies(client)
    unknown = await login(client, "nobody-here", ADMIN_PASSWORD)
    unknown_body = await unknown.text()
    wrong = await login(client, ADMIN_NAME, "not the password at all")
    wrong_body = await wrong.text()
    assert unknown.status == wrong.status == 401
    assert "do not match" in unknown_body
    assert _normalised(unknown_body, "nobody-here") == _normalised(wrong_body, ADMIN_NAME)
    assert ("Set-Cookie" in unknown.headers) == ("Set-Cookie" in wrong.headers)
    # And neither signs anybody in.
    assert (await client.get("/admin/", allow_redirects=False)).status == 302


async def test_hsts_only_when_the_site_is_https(make_client: Any) -> None:
    plain = await make_client()
    assert "Strict-Transport-Security" not in (await plain.get("/healthz")).headers
    secure = await make_client(site={"base_url": "https://example.org"})
    response = await secure.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_excerpts_show_characters_not_entities(admin_client: TestClient[Any, Any]) -> None:
    response = await create_post(admin_client, title="Ampersands", body="Tom & Jerry <3 *a*")
    assert response.status == 303
    index = await (await admin_client.get("/")).text()
    assert "Tom &amp; Jerry &lt;3" in index  # escaped once by the template
    assert "&amp;amp;" not in index and "&amp;lt;" not in index
