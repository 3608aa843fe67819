"""The admin over real HTTP: validation, edit conflicts, slugs, drafts, roles, errors,
the health check and plugin fields in the post form."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from cms import PostField, hookimpl
from tests.conftest import (
    ADMIN_PASSWORD,
    ClientFactory,
    create_post,
    create_user,
    csrf_from,
    login,
    post_form,
    setup_admin,
    site_of,
)


async def post_id_from(response: Any) -> int:
    """The id of the post a successful admin form submission redirected to."""
    assert response.status == 303, await response.text()
    match = re.search(r"/admin/posts/(\d+)/edit", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def input_value(html: str, name: str) -> str | None:
    """The ``value`` of the ``<input name=...>`` in ``html`` (unescaped)."""
    for tag in re.findall(r"<input\b[^>]*>", html):
        if re.search(rf'\bname="{re.escape(name)}"', tag):
            value = re.search(r'\bvalue="([^"]*)"', tag)
            return unescape(value.group(1)) if value else ""
    return None


def textarea_value(html: str, name: str) -> str | None:
    match = re.search(
        rf'<textarea\b[^>]*\bname="{re.escape(name)}"[^>]*>\n?(.*?)</textarea>', html, re.DOTALL
    )
    return unescape(match.group(1)) if match else None


def field_block(html: str, input_id: str) -> str:
    """The ``form-field`` block that holds the input with ``input_id``."""
    blocks = re.split(r'(?=<div class="form-field)', html)
    for block in blocks:
        if f'id="{input_id}"' in block:
            return block
    raise AssertionError(f"no form field with id {input_id}")


async def switch_user(client: TestClient[Any, Any], username: str) -> None:
    """Sign the client out of whatever it was and in as ``username``."""
    client.session.cookie_jar.clear()
    response = await login(client, username, ADMIN_PASSWORD)
    assert response.status == 303, await response.text()


async def all_posts(client: TestClient[Any, Any]) -> list[Any]:
    return await site_of(client).storage.list_posts(limit=100, order="updated")


# --- Validation ------------------------------------------------------------------------


async def test_an_empty_title_is_refused_and_the_form_keeps_what_was_typed(
    admin_client: TestClient[Any, Any],
) -> None:
    body = "My long *draft*,\nwith <angle> & ampersands."
    response = await post_form(
        admin_client,
        "/admin/posts/new",
        {"title": "   ", "slug": "kept-slug", "body": body, "status": "published"},
    )
    assert response.status == 422
    html = await response.text()
    title_field = field_block(html, "post-title")
    assert 'id="post-title-error"' in title_field
    assert 'aria-invalid="true"' in title_field
    message = re.search(r'id="post-title-error">(.*?)</p>', title_field, re.DOTALL)
    assert message and message.group(1).strip()
    assert 'id="post-slug-error"' not in html
    assert input_value(html, "slug") == "kept-slug"
    assert textarea_value(html, "body") == body
    assert re.search(r'<option value="published" selected>', html)
    assert input_value(html, "csrf_token")  # the form can be sent again as it is
    assert await all_posts(admin_client) == []


async def test_an_invalid_slug_is_refused_beside_the_slug_input(
    admin_client: TestClient[Any, Any],
) -> None:
    response = await post_form(
        admin_client,
        "/admin/posts/new",
        {"title": "Fine title", "slug": "Not A Slug!", "body": "b", "status": "draft"},
    )
    assert response.status == 422
    html = await response.text()
    slug_field = field_block(html, "post-slug")
    assert 'id="post-slug-error"' in slug_field
    assert 'aria-invalid="true"' in slug_field
    assert 'id="post-title-error"' not in html
    assert input_value(html, "title") == "Fine title"
    assert input_value(html, "slug") == "Not A Slug!"
    assert await all_posts(admin_client) == []


async def test_an_invalid_edit_leaves_the_stored_post_alone(
    admin_client: TestClient[Any, Any],
) -> None:
    post_id = await post_id_from(await create_post(admin_client, title="Original", slug="orig"))
    response = await post_form(
        admin_client,
        f"/admin/posts/{post_id}/edit",
        {"title": "", "slug": "orig", "body": "changed", "status": "published", "version": "1"},
    )
    assert response.status == 422
    stored = await site_of(admin_client).storage.get_post(post_id)
    assert stored is not None
    assert (stored.title, stored.body, stored.version) == ("Original", "Hello", 1)


# --- Edit conflicts --------------------------------------------------------------------


async def test_a_stale_edit_is_a_conflict_that_keeps_the_users_text(
    admin_client: TestClient[Any, Any],
) -> None:
    post_id = await post_id_from(
        await create_post(admin_client, title="Shared", slug="shared", body="v1")
    )
    edit_url = f"/admin/posts/{post_id}/edit"

    first_tab = await (await admin_client.get(edit_url)).text()
    assert input_value(first_tab, "version") == "1"
    first_token = input_value(first_tab, "csrf_token")

    second = await post_form(
        admin_client,
        edit_url,
        {
            "title": "Shared",
            "slug": "shared",
            "body": "second tab text",
            "status": "published",
            "version": "1",
        },
    )
    assert second.status == 303

    response = await admin_client.post(
        edit_url,
        data={
            "title": "Shared, first tab",
            "slug": "shared",
            "body": "first tab text",
            "status": "published",
            "version": input_value(first_tab, "version"),
            "csrf_token": first_token,
        },
        allow_redirects=False,
    )
    assert response.status == 409
    html = await response.text()
    assert "Someone else saved this post" in html
    assert textarea_value(html, "body") == "first tab text"
    assert input_value(html, "title") == "Shared, first tab"
    assert input_value(html, "version") == "2"  # saving again means "replace theirs"

    stored = await site_of(admin_client).storage.get_post(post_id)
    assert stored is not None
    assert (stored.title, stored.body, stored.version) == ("Shared", "second tab text", 2)

    # Submitting the re-shown form (now at version 2) replaces theirs, as it says.
    again = await admin_client.post(
        edit_url,
        data={
            "title": "Shared, first tab",
            "slug": "shared",
            "body": "first tab text",
            "status": "published",
            "version": "2",
            "csrf_token": first_token,
        },
        allow_redirects=False,
    )
    assert again.status == 303
    stored = await site_of(admin_client).storage.get_post(post_id)
    assert stored is not None
    assert (stored.body, stored.version) == ("first tab text", 3)


# --- Slugs -----------------------------------------------------------------------------


async def test_two_posts_with_one_title_get_distinct_slugs(
    admin_client: TestClient[Any, Any],
) -> None:
    first = await post_id_from(await create_post(admin_client, title="Same"))
    second = await post_id_from(await create_post(admin_client, title="Same"))
    storage = site_of(admin_client).storage
    first_post, second_post = await storage.get_post(first), await storage.get_post(second)
    assert first_post is not None and second_post is not None
    assert (first_post.slug, second_post.slug) == ("same", "same-2")
    assert (await admin_client.get("/posts/same")).status == 200
    assert (await admin_client.get("/posts/same-2")).status == 200


# --- Drafts ----------------------------------------------------------------------------


async def test_drafts_are_never_shown_on_the_public_site(
    admin_client: TestClient[Any, Any],
) -> None:
    await create_post(admin_client, title="Secret plan", slug="secret-plan", status="draft")
    await create_post(admin_client, title="Public note", slug="public-note")
    site_title = site_of(admin_client).settings.site.title

    async def check() -> None:
        index = await (await admin_client.get("/")).text()
        assert "Public note" in index
        assert "Secret plan" not in index
        page = await admin_client.get("/posts/secret-plan")
        assert page.status == 404
        assert "text/html" in page.headers["Content-Type"]
        html = await page.text()
        assert "Secret plan" not in html
        assert site_title in html
        assert "Page not found" in html
        assert '<link rel="stylesheet"' in html  # the theme's page, not a bare text error

    # Signed in as the admin: not listed, and its address is a preview only they see
    # (tests/test_previews.py).
    index = await (await admin_client.get("/")).text()
    assert "Secret plan" not in index
    preview = await admin_client.get("/posts/secret-plan")
    assert preview.status == 200 and preview.headers["X-Robots-Tag"] == "noindex"
    admin_client.session.cookie_jar.clear()
    await check()  # a visitor


# --- Roles -----------------------------------------------------------------------------


async def test_an_author_writes_and_sees_only_their_own_posts(
    admin_client: TestClient[Any, Any],
) -> None:
    admins = await post_id_from(
        await create_post(admin_client, title="Admin's post", slug="admins", body="by admin")
    )
    await create_user(admin_client, "ann", "author")
    await switch_user(admin_client, "ann")

    anns = await post_id_from(await create_post(admin_client, title="Ann's post", slug="anns"))
    listing = await (await admin_client.get("/admin/")).text()
    assert "Ann&#39;s post" in listing or "Ann's post" in listing
    assert "Admin&#39;s post" not in listing and "Admin's post" not in listing
    assert f"/admin/posts/{admins}/edit" not in listing
    assert (await admin_client.get(f"/admin/posts/{anns}/edit")).status == 200

    before = await site_of(admin_client).storage.get_post(admins)
    assert (await admin_client.get(f"/admin/posts/{admins}/edit")).status == 403
    edit = await post_form(
        admin_client,
        f"/admin/posts/{admins}/edit",
        {"title": "Hijacked", "slug": "admins", "body": "x", "status": "published", "version": "1"},
        form_page="/admin/posts/new",
    )
    assert edit.status == 403
    delete = await post_form(admin_client, f"/admin/posts/{admins}/delete", {}, form_page="/admin/")
    assert delete.status == 403
    assert await site_of(admin_client).storage.get_post(admins) == before


async def test_an_editor_may_edit_other_peoples_posts(
    admin_client: TestClient[Any, Any],
) -> None:
    admins = await post_id_from(
        await create_post(admin_client, title="Admin's post", slug="admins", body="by admin")
    )
    await create_user(admin_client, "eddie", "editor")
    await switch_user(admin_client, "eddie")
    listing = await (await admin_client.get("/admin/")).text()
    assert f"/admin/posts/{admins}/edit" in listing
    response = await post_form(
        admin_client,
        f"/admin/posts/{admins}/edit",
        {
            "title": "Edited by the editor",
            "slug": "admins",
            "body": "better",
            "status": "published",
            "version": "1",
        },
    )
    assert response.status == 303
    stored = await site_of(admin_client).storage.get_post(admins)
    assert stored is not None
    assert (stored.title, stored.body, stored.version) == ("Edited by the editor", "better", 2)
    assert stored.editor == "eddie"


async def test_a_signed_out_visitor_is_sent_to_sign_in_for_every_admin_page(
    admin_client: TestClient[Any, Any],
) -> None:
    post_id = await post_id_from(await create_post(admin_client))
    admin_client.session.cookie_jar.clear()
    for path in ("/admin/", "/admin/posts/new", f"/admin/posts/{post_id}/edit"):
        response = await admin_client.get(path, allow_redirects=False)
        assert response.status == 302, path
        assert response.headers["Location"].startswith("/login?next=")


# --- Methods and errors ----------------------------------------------------------------


async def test_get_on_delete_asks_and_deletes_nothing(
    admin_client: TestClient[Any, Any],
) -> None:
    post_id = await post_id_from(await create_post(admin_client))
    response = await admin_client.get(f"/admin/posts/{post_id}/delete", allow_redirects=False)
    assert response.status == 200
    assert "Move to the trash" in await response.text()
    assert await site_of(admin_client).storage.get_post(post_id) is not None


async def test_missing_things_are_themed_404s(admin_client: TestClient[Any, Any]) -> None:
    site_title = site_of(admin_client).settings.site.title
    for path in ("/admin/posts/999/edit", "/no/such/page", "/posts/nothing-here"):
        response = await admin_client.get(path)
        assert response.status == 404, path
        assert "text/html" in response.headers["Content-Type"]
        html = await response.text()
        assert site_title in html, path
        assert "Page not found" in html, path
    delete = await post_form(admin_client, "/admin/posts/999/delete", {}, form_page="/admin/")
    assert delete.status == 404


class BoomView(web.View):
    async def get(self) -> web.Response:
        raise RuntimeError("kaboom: secret internal detail")


class BoomPlugin:
    @hookimpl
    def register_routes(self, cms: Any) -> list[web.RouteDef]:
        return [web.view("/boom", BoomView)]


async def test_a_view_that_raises_gets_a_themed_500_without_a_traceback(
    make_client: ClientFactory,
) -> None:
    client = await make_client(plugins=[("boom", BoomPlugin())])
    response = await client.get("/boom")
    assert response.status == 500
    assert "text/html" in response.headers["Content-Type"]
    html = await response.text()
    assert site_of(client).settings.site.title in html
    assert "Something went wrong" in html
    for leak in ("Traceback", "RuntimeError", "kaboom", "secret internal detail", 'File "'):
        assert leak not in html, leak
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    # The site keeps working afterwards.
    assert (await client.get("/")).status == 200


async def test_healthz_reports_each_dependency(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    data = await response.json()
    assert data["checks"]["database"] == "ok"
    assert data["checks"]["sessions"] == "ok"
    assert data["status"] == "ok"


# --- Plugin fields in the form ---------------------------------------------------------


class FieldsPlugin:
    @hookimpl
    def register_post_fields(self, cms: Any) -> list[PostField]:
        return [
            PostField("subtitle", str, max_length=20),
            PostField("rating", int, min=1, max=5),
            PostField("pinned", bool),
        ]


async def test_plugin_fields_are_edited_validated_and_shown(
    make_client: ClientFactory,
) -> None:
    client = await make_client(plugins=[("fields", FieldsPlugin())])
    await setup_admin(client)

    form = await (await client.get("/admin/posts/new")).text()
    assert input_value(form, "subtitle") == ""
    assert input_value(form, "rating") == ""
    assert re.search(r'<input type="checkbox"[^>]*name="pinned"', form)
    assert re.search(r'<input[^>]*type="number"[^>]*name="rating"[^>]*min="1"[^>]*max="5"', form)

    response = await create_post(
        client,
        title="With fields",
        slug="with-fields",
        subtitle="A fine day",
        rating="4",
        pinned="on",
    )
    post_id = await post_id_from(response)
    stored = await site_of(client).storage.get_post(post_id)
    assert stored is not None
    assert stored.extra == {"subtitle": "A fine day", "rating": 4, "pinned": True}

    page = await (await client.get("/posts/with-fields")).text()
    assert re.search(r"<dt>Subtitle</dt>\s*<dd>A fine day</dd>", page)
    assert re.search(r"<dt>Rating</dt>\s*<dd>4</dd>", page)
    assert re.search(r"<dt>Pinned</dt>\s*<dd>Yes</dd>", page)

    edit = await (await client.get(f"/admin/posts/{post_id}/edit")).text()
    assert input_value(edit, "subtitle") == "A fine day"
    assert input_value(edit, "rating") == "4"
    assert re.search(r'<input type="checkbox"[^>]*name="pinned"[^>]*checked', edit)

    bad = await create_post(
        client,
        title="Bad rating",
        slug="bad-rating",
        body="keep me",
        subtitle="Still here",
        rating="9",
        pinned="on",
    )
    assert bad.status == 422
    html = await bad.text()
    rating_field = field_block(html, "field-rating")
    assert 'id="field-rating-error"' in rating_field
    assert 'aria-invalid="true"' in rating_field
    message = re.search(r'id="field-rating-error">(.*?)</p>', rating_field, re.DOTALL)
    assert message and "5" in message.group(1)  # says what the limit is
    assert input_value(html, "rating") == "9"
    assert input_value(html, "subtitle") == "Still here"
    assert input_value(html, "title") == "Bad rating"
    assert textarea_value(html, "body") == "keep me"
    assert re.search(r'<input type="checkbox"[^>]*name="pinned"[^>]*checked', html)
    assert await site_of(client).storage.get_post_by_slug("bad-rating") is None

    too_long = await create_post(client, title="Long", slug="long", subtitle="x" * 21)
    assert too_long.status == 422
    assert 'id="field-subtitle-error"' in await too_long.text()


async def test_a_new_post_form_needs_a_signed_in_user_with_a_token(
    admin_client: TestClient[Any, Any],
) -> None:
    """The form pages carry the token the POST needs (the happy path of the CSRF rule)."""
    token = await csrf_from(admin_client, "/admin/posts/new")
    assert token == await csrf_from(admin_client, "/admin/")
