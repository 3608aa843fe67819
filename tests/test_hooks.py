"""Every hook in cms/core/hookspecs.py is called with its documented arguments.

``test_every_hook_has_a_test`` fails when a hook is added without a ``test_hook_<name>``
here, and ``test_every_hook_is_documented`` when docs/plugins.md lacks its section.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import click
import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from cms import AdminMenuItem, hookimpl
from cms.core import hookspecs
from cms.core.plugin_host import PluginError, PluginHost
from cms.core.site import Site
from tests.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    ClientFactory,
    create_post,
    make_settings,
    post_form,
    setup_admin,
    site_of,
)
from tests.plugins.every_hook import EveryHook

ROOT = Path(__file__).resolve().parent.parent


def hook_names() -> list[str]:
    return sorted(
        name
        for name, value in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(value, "cms_spec")
    )


def test_every_hook_has_a_test() -> None:
    missing = [name for name in hook_names() if f"test_hook_{name}" not in globals()]
    assert not missing, f"hooks without a test_hook_<name> in {__file__}: {missing}"


def test_every_hook_is_documented() -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    missing = [name for name in hook_names() if not re.search(rf"^### `?{name}\b", docs, re.M)]
    assert not missing, f"hooks without a '### {{name}}' section in docs/plugins.md: {missing}"


def test_every_hook_has_a_one_line_docstring() -> None:
    for name in hook_names():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert doc.strip() and "\n" not in doc.strip(), name


@pytest.fixture
def recorder() -> EveryHook:
    return EveryHook()


@pytest.fixture
async def hooked(make_client: ClientFactory, recorder: EveryHook) -> TestClient[Any, Any]:
    return await make_client(plugins=[("every_hook", recorder)])


async def test_hook_startup(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    (call,) = recorder.called("startup")
    assert call["cms"] is site_of(hooked)
    # startup runs after storage opened: the plugin may use it.
    assert await site_of(hooked).storage.count_users() == 0


async def test_hook_prepare_app(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    (call,) = recorder.called("prepare_app")
    assert call["app"] is hooked.app
    assert call["cms"] is site_of(hooked)


async def test_hook_prepare_jinja2_environment(
    hooked: TestClient[Any, Any], recorder: EveryHook
) -> None:
    (call,) = recorder.called("prepare_jinja2_environment")
    assert call["env"] is aiohttp_jinja2.get_env(hooked.app)
    assert call["env"].from_string("{{ 'hi'|shout }}").render() == "HI!"


async def test_hook_register_routes(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    assert recorder.called("register_routes")[0]["cms"] is site_of(hooked)
    response = await hooked.get("/every-hook/hello")
    assert response.status == 200
    assert await response.text() == "hello from a plugin"


def test_hook_register_commands(recorder: EveryHook) -> None:
    host = PluginHost.load(extra=[("every_hook", recorder)])

    @click.group()
    def group() -> None:
        pass

    host.call_sync("register_commands", cli=group)
    assert recorder.called("register_commands")[0]["cli"] is group
    result = CliRunner().invoke(group, ["every-hook"])
    assert result.exit_code == 0
    assert result.output == "every hook says hi\n"


async def test_hook_register_storage_backends(
    make_client: ClientFactory, recorder: EveryHook
) -> None:
    client = await make_client(
        plugins=[("every_hook", recorder)],
        storage={"backend": "recorded-sqlite", "options": {"path": "other.db"}},
    )
    (created,) = recorder.called("create_storage")
    assert created["options"].path == "other.db"
    await setup_admin(client)
    assert await site_of(client).storage.count_users() == 1
    assert (site_of(client).settings.base_dir / "other.db").exists()


async def test_hook_register_storage_backends_bad_options_name_the_key(
    site_dir: Path, recorder: EveryHook
) -> None:
    from cms.core.settings import SettingsError
    from tests.conftest import make_settings

    settings = make_settings(
        site_dir, storage={"backend": "recorded-sqlite", "options": {"paht": "x.db"}}
    )
    with pytest.raises(SettingsError, match=r"\[storage\] options \(recorded-sqlite\): paht"):
        await Site(settings, extra_plugins=[("every_hook", recorder)]).configure()


async def test_hook_register_session_stores(
    make_client: ClientFactory, recorder: EveryHook
) -> None:
    client = await make_client(
        plugins=[("every_hook", recorder)], sessions={"backend": "recorded-cookie"}
    )
    assert recorder.called("register_session_stores")
    assert site_of(client).sessions.name == "recorded-cookie"
    await setup_admin(client)
    assert "recorded" in {cookie.key for cookie in client.session.cookie_jar}


async def test_hook_register_image_handlers(
    make_client: ClientFactory, recorder: EveryHook
) -> None:
    client = await make_client(plugins=[("every_hook", recorder)], images={"backend": "recording"})
    assert recorder.called("register_image_handlers")
    handler = site_of(client).images
    assert handler is not None and handler.name == "recording"
    assert handler.events == ["open"]  # type: ignore[attr-defined]


async def test_hook_register_media_stores(
    make_client: ClientFactory, recorder: EveryHook, site_dir: Path
) -> None:
    client = await make_client(
        plugins=[("every_hook", recorder)],
        images={"backend": "pillow", "options": {"workers": 1, "widths": [320]}},
        media={"backend": "recorded-local"},
    )
    assert recorder.called("register_media_stores")
    store = site_of(client).media
    assert store is not None and store.name == "recorded-local"
    assert site_of(client).images.store is store  # type: ignore[union-attr]
    await setup_admin(client)
    from tests.image_files import photo
    from tests.test_media_library import upload

    media = await upload(client, photo(400, 300), "hooked.jpg")
    assert all((site_dir / "recorded-media" / key).is_file() for key in media.keys)
    health = await (await client.get("/healthz")).json()
    assert health["backends"]["media"] == "recorded-local"


async def test_hook_register_post_fields(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    assert recorder.called("register_post_fields")[0]["cms"] is site_of(hooked)
    assert [field.name for field in site_of(hooked).fields] == ["mood"]
    assert site_of(hooked).fields[0].plugin == "every_hook"
    await setup_admin(hooked)
    form = await (await hooked.get("/admin/posts/new")).text()
    assert 'name="mood"' in form


async def test_hook_extra_template_vars(
    hooked: TestClient[Any, Any], recorder: EveryHook, site_dir: Path
) -> None:
    await setup_admin(hooked)
    response = await hooked.get("/")
    assert response.status == 200
    call = recorder.called("extra_template_vars")[-1]
    assert call["template"] == "index.html"
    assert call["request"].path == "/"
    assert call["cms"] is site_of(hooked)
    assert "posts" in call["context"]


async def test_hook_extra_template_vars_reach_the_template(
    make_client: ClientFactory, recorder: EveryHook, site_dir: Path
) -> None:
    # A site override that extends the default theme's own template through "default:".
    (site_dir / "templates").mkdir()
    (site_dir / "templates" / "index.html").write_text(
        '{% extends "default:index.html" %}'
        "{% block content %}<p id=banner>{{ every_hook_banner }}</p>{{ super() }}{% endblock %}",
        encoding="utf-8",
    )
    client = await make_client(plugins=[("every_hook", recorder)])
    await setup_admin(client)
    text = await (await client.get("/")).text()
    assert "<p id=banner>banner for index.html</p>" in text


async def test_hook_prepare_post(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    await setup_admin(hooked)
    response = await create_post(hooked, title="Moody", mood="")
    assert response.status == 303
    call = recorder.called("prepare_post")[-1]
    assert call["post"]["title"] == "Moody"
    assert call["request"] is not None
    post = await site_of(hooked).storage.get_post_by_slug("moody")
    assert post is not None and post.extra["mood"] == "calm"


async def test_hook_render_post_body(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    await setup_admin(hooked)
    await create_post(hooked, title="Plain", body="!plain text")
    await create_post(hooked, title="Markdown", body="*text*")
    plain = await site_of(hooked).storage.get_post_by_slug("plain")
    markdown = await site_of(hooked).storage.get_post_by_slug("markdown")
    assert plain is not None and markdown is not None
    # The plugin's HTML is used, and still sanitized.
    assert plain.html == '<p class="plain">text</p>' or plain.html == "<p>text</p>"
    assert "<script" not in plain.html
    assert markdown.html.strip() == "<p><em>text</em></p>"
    assert recorder.called("render_post_body")[0]["body"] == "!plain text"


async def test_hook_handle_exception(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    response = await hooked.get("/every-hook/missing")
    assert response.status == 404
    assert await response.text() == "every hook's own not-found page"
    call = recorder.called("handle_exception")[-1]
    assert call["exception"].status == 404
    assert call["cms"] is site_of(hooked)
    # Other errors still reach the default themed page.
    other = await hooked.get("/no-such-page")
    assert other.status == 404
    assert "<html" in await other.text()


async def test_hook_post_saved(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    await setup_admin(hooked)
    response = await create_post(hooked, title="Saved")
    edit = response.headers["Location"].split("?")[0]
    await post_form(
        hooked, edit, {"title": "Saved again", "slug": "saved", "body": "", "status": "draft"}
    )
    calls = recorder.called("post_saved")
    assert [(call["post"].title, call["created"]) for call in calls] == [
        ("Saved", True),
        ("Saved again", False),
    ]


async def test_hook_post_deleted(hooked: TestClient[Any, Any], recorder: EveryHook) -> None:
    await setup_admin(hooked)
    response = await create_post(hooked, title="Doomed")
    post_id = response.headers["Location"].split("/")[3]
    await post_form(hooked, f"/admin/posts/{post_id}/delete", {}, form_page="/admin/")
    (call,) = recorder.called("post_deleted")
    assert call["post"].title == "Doomed"
    assert call["cms"] is site_of(hooked)


async def test_a_plugin_that_raises_is_named(make_client: ClientFactory) -> None:
    from cms import hookimpl

    class Broken:
        @hookimpl
        def register_post_fields(self, cms: Any) -> Any:
            raise RuntimeError("database of fields is on fire")

    with pytest.raises(PluginError, match="plugin 'broken' raised in register_post_fields"):
        await make_client(plugins=[("broken", Broken())])


async def test_a_failing_post_saved_hook_does_not_undo_or_fail_the_save(
    make_client: ClientFactory,
) -> None:
    from cms import hookimpl

    class Flaky:
        @hookimpl
        def post_saved(self, post: Any) -> None:
            raise RuntimeError("the search index is down")

        @hookimpl
        def post_deleted(self, post: Any) -> None:
            raise RuntimeError("the search index is down")

    client = await make_client(plugins=[("flaky", Flaky())])
    await setup_admin(client)
    response = await create_post(client, title="Kept")
    assert response.status == 303
    posts = await site_of(client).storage.list_posts(order="updated")
    assert [post.slug for post in posts] == ["kept"]
    post_id = response.headers["Location"].split("/")[3]
    deleted = await post_form(client, f"/admin/posts/{post_id}/delete", {}, form_page="/admin/")
    assert deleted.status == 303
    assert await site_of(client).storage.get_post(int(post_id)) is None


async def test_one_failing_event_plugin_does_not_keep_the_event_from_the_others(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def post_saved(self) -> None:
            raise RuntimeError("the webhook endpoint is down")

    class Saved(Recorder):
        @hookimpl
        def post_saved(self, post: Any) -> None:
            self.record("post_saved", post=post)

    before, after = Saved(), Saved()
    # Registered in this order, the broken plugin is called between the other two.
    client = await make_client(plugins=[("before", before), ("broken", Broken()), ("after", after)])
    await setup_admin(client)
    assert (await create_post(client, title="Told")).status == 303
    assert [call["post"].title for call in before.called("post_saved")] == ["Told"]
    assert [call["post"].title for call in after.called("post_saved")] == ["Told"]
    message = "plugin 'broken' raised in post_saved: RuntimeError: the webhook endpoint is down"
    assert message in caplog.text


class HalfAStorage:
    name = "half"

    async def open(self) -> None:
        pass


class OffersHalfAStorage:
    @hookimpl
    def register_storage_backends(self) -> list[Any]:
        from pydantic import BaseModel

        from cms.contracts import StorageBackend

        class NoOptions(BaseModel):
            pass

        return [StorageBackend("half", NoOptions, lambda options, site: HalfAStorage())]


async def test_a_backend_that_does_not_implement_its_protocol_is_refused_by_name(
    site_dir: Path,
) -> None:
    settings = make_settings(site_dir, storage={"backend": "half"})
    site = Site(settings, extra_plugins=[("halfway", OffersHalfAStorage())])
    with pytest.raises(PluginError) as raised:
        await site.configure()
    assert str(raised.value) == (
        "plugin 'halfway' storage backend 'half' made a HalfAStorage, "
        "which does not implement Storage"
    )


# -- the hooks of wave 2: permissions, the admin menu, page assets, HTML filters, events, vetoes


class Recorder:
    """A tiny plugin base: each hook it implements records its arguments by name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def record(self, hook: str, **arguments: Any) -> None:
        self.calls.append((hook, arguments))

    def called(self, hook: str) -> list[dict[str, Any]]:
        return [arguments for name, arguments in self.calls if name == hook]


class EditorsMayNotDelete(Recorder):
    @hookimpl
    def permission_allowed(self, user: Any, action: str, post: Any) -> bool | None:
        self.record("permission_allowed", user=user, action=action, post=post)
        if user is not None and user.role == "editor" and action == "users.manage":
            return True  # editors manage users on this site
        if user is not None and user.role == "admin" and action == "posts.create":
            return False
        return None


async def test_hook_permission_allowed(make_client: ClientFactory) -> None:
    plugin = EditorsMayNotDelete()
    client = await make_client(plugins=[("rules", plugin)])
    await setup_admin(client)
    # The plugin said no: the admin may not write posts here, in the admin or the API.
    assert (await client.get("/admin/posts/new", allow_redirects=False)).status == 403
    assert any(call["action"] == "posts.create" for call in plugin.called("permission_allowed"))
    # ...and yes: an editor reaches the users page the role table keeps from editors.
    from tests.conftest import create_user, login

    await create_user(client, "eddie", "editor")
    client.session.cookie_jar.clear()
    assert (await login(client, "eddie", ADMIN_PASSWORD)).status == 303
    assert (await client.get("/admin/users", allow_redirects=False)).status == 200
    # No opinion: the role table answers (editors may not see the tokens of others? they
    # may use the admin, as before).
    assert (await client.get("/admin/", allow_redirects=False)).status == 200


class Analytics(Recorder):
    @hookimpl
    def register_admin_menu_items(self, user: Any, cms: Any) -> list[AdminMenuItem]:
        self.record("register_admin_menu_items", user=user, cms=cms)
        return [
            AdminMenuItem("Analytics", url="/analytics", permission="users.manage"),
            AdminMenuItem("Help", url="https://example.com/help"),
        ]


async def test_hook_register_admin_menu_items(make_client: ClientFactory) -> None:
    plugin = Analytics()
    client = await make_client(plugins=[("analytics", plugin)])
    await setup_admin(client)
    page = await (await client.get("/admin/")).text()
    nav = page.split('aria-label="Admin"')[1].split("</nav>")[0]
    labels = re.findall(r'class="site-nav__link" href="[^"]*"[^>]*>([^<]+)</a>', nav)
    # The core's entries first, then the plugin's, then the link to the site.
    assert labels == [
        "Posts",
        "New post",
        "Pages",
        "Tags",
        "Navigation",
        "Redirects",
        "Media",
        "Trash",
        "Users",
        "API tokens",
        "Account",
        "Analytics",
        "Help",
        "View site",
    ]
    assert plugin.called("register_admin_menu_items")[-1]["user"].username == ADMIN_NAME
    # An author sees neither Users nor the entry that needs users.manage.
    from tests.conftest import create_user, login

    await create_user(client, "ann", "author")
    client.session.cookie_jar.clear()
    await login(client, "ann", ADMIN_PASSWORD)
    nav = (await (await client.get("/admin/")).text()).split('aria-label="Admin"')[1]
    assert "Analytics" not in nav and ">Users<" not in nav and "Help" in nav
    assert ">Pages<" not in nav and ">Tags<" not in nav and ">Navigation<" not in nav


class Assets(Recorder):
    @hookimpl
    def extra_css_urls(self, template: str | None, request: Any, cms: Any) -> list[str]:
        self.record("extra_css_urls", template=template, request=request, cms=cms)
        return ["https://cdn.example.com/widget.css", "/static-plugin/local.css"]

    @hookimpl
    async def extra_js_urls(self, template: str | None) -> list[str]:
        self.record("extra_js_urls", template=template)
        return ["https://js.example.org:8443/widget.js"]

    @hookimpl
    def extra_head_html(self, template: str | None) -> str:
        self.record("extra_head_html", template=template)
        return '<meta name="generator" content="assets plugin">'


async def _assets_page(make_client: ClientFactory) -> tuple[Assets, str, Any]:
    plugin = Assets()
    client = await make_client(plugins=[("assets", plugin)])
    await setup_admin(client)
    await create_post(client, title="Styled", slug="styled")
    client.session.cookie_jar.clear()
    response = await client.get("/posts/styled")
    return plugin, await response.text(), response


async def test_hook_extra_css_urls(make_client: ClientFactory) -> None:
    plugin, page, response = await _assets_page(make_client)
    head = page.split("</head>")[0]
    assert '<link rel="stylesheet" href="https://cdn.example.com/widget.css">' in head
    assert '<link rel="stylesheet" href="/static-plugin/local.css">' in head
    assert (
        "style-src 'self' https://cdn.example.com;" in response.headers["Content-Security-Policy"]
    )
    assert plugin.called("extra_css_urls")[-1]["template"] == "post.html"


async def test_hook_extra_js_urls(make_client: ClientFactory) -> None:
    _, page, response = await _assets_page(make_client)
    head = page.split("</head>")[0]
    assert '<script src="https://js.example.org:8443/widget.js" defer></script>' in head
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self' https://js.example.org:8443;" in policy
    # Still no inline script anywhere.
    assert "'unsafe-inline'" not in policy


async def test_hook_extra_head_html(make_client: ClientFactory) -> None:
    plugin, page, _ = await _assets_page(make_client)
    assert '<meta name="generator" content="assets plugin">' in page.split("</head>")[0]
    # On every page, the admin's and the error pages too.
    templates = {call["template"] for call in plugin.called("extra_head_html")}
    assert "post.html" in templates and "admin/post_form.html" in templates


async def test_pages_without_plugin_assets_keep_the_site_policy(client: Any) -> None:
    from cms.web.page_assets import CONTENT_SECURITY_POLICY

    response = await client.get("/setup")
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


class Filters(Recorder):
    def __init__(self, mark: str) -> None:
        super().__init__()
        self.mark = mark

    @hookimpl
    def filter_post_html(self, html: str, post: Any, cms: Any) -> str:
        self.record("filter_post_html", html=html, post=post, cms=cms)
        return html + f'<p class="{self.mark}">{self.mark}</p><script>alert(1)</script>'


async def test_hook_filter_post_html(make_client: ClientFactory) -> None:
    first, second = Filters("first"), Filters("second")
    client = await make_client(plugins=[("first", first), ("second", second)])
    await setup_admin(client)
    await create_post(client, title="Filtered", slug="filtered", body="*Body*")
    post = await site_of(client).storage.get_post_by_slug("filtered")
    assert post is not None
    # Each filter got what the one before returned; the result is sanitized like any body.
    assert post.html.count(">first<") == 1 and post.html.count(">second<") == 1
    assert "<script" not in post.html and "<em>Body</em>" in post.html
    assert "first" in second.called("filter_post_html")[0]["html"] or (
        "second" in first.called("filter_post_html")[0]["html"]
    )


class Visibility(Recorder):
    @hookimpl
    def post_published(self, post: Any, cms: Any) -> None:
        self.record("post_published", post=post, cms=cms)

    @hookimpl
    async def post_unpublished(self, post: Any) -> None:
        self.record("post_unpublished", post=post)


async def _edit(client: Any, post_id: str, status: str) -> None:
    response = await post_form(
        client,
        f"/admin/posts/{post_id}/edit",
        {"title": "Seen", "slug": "seen", "body": "x", "status": status},
    )
    assert response.status == 303, await response.text()


async def test_hook_post_published(make_client: ClientFactory) -> None:
    plugin = Visibility()
    client = await make_client(plugins=[("visibility", plugin)])
    await setup_admin(client)
    response = await create_post(client, title="Seen", slug="seen", status="draft")
    post_id = response.headers["Location"].split("/")[3]
    assert plugin.called("post_published") == []
    await _edit(client, post_id, "published")
    await _edit(client, post_id, "published")  # saved again: still visible, told once
    (call,) = plugin.called("post_published")
    assert call["post"].slug == "seen" and call["post"].is_published


async def test_hook_post_unpublished(make_client: ClientFactory) -> None:
    plugin = Visibility()
    client = await make_client(plugins=[("visibility", plugin)])
    await setup_admin(client)
    response = await create_post(client, title="Seen", slug="seen")
    post_id = response.headers["Location"].split("/")[3]
    await _edit(client, post_id, "draft")
    await _edit(client, post_id, "published")
    await post_form(client, f"/admin/posts/{post_id}/delete", {}, form_page="/admin/")
    # Back to draft, then deleted while published: told twice.
    assert [call["post"].status for call in plugin.called("post_unpublished")] == [
        "draft",
        "published",
    ]
    assert len(plugin.called("post_published")) == 2  # created published, then again


class KeepsPinned(Recorder):
    @hookimpl
    def veto_post_delete(self, post: Any, user: Any, cms: Any) -> str | None:
        self.record("veto_post_delete", post=post, user=user, cms=cms)
        return "it is pinned to the front page" if post.slug == "pinned" else None


async def test_hook_veto_post_delete(make_client: ClientFactory) -> None:
    plugin = KeepsPinned()
    client = await make_client(plugins=[("pins", plugin)])
    await setup_admin(client)
    pinned = (await create_post(client, title="Pinned")).headers["Location"].split("/")[3]
    other = (await create_post(client, title="Other")).headers["Location"].split("/")[3]
    refused = await post_form(client, f"/admin/posts/{pinned}/delete", {}, form_page="/admin/")
    assert refused.status == 409
    assert "This post was not deleted: it is pinned to the front page" in await refused.text()
    storage = site_of(client).storage
    assert await storage.get_post(int(pinned)) is not None  # nothing deleted
    allowed = await post_form(client, f"/admin/posts/{other}/delete", {}, form_page="/admin/")
    assert allowed.status == 303 and await storage.get_post(int(other)) is None
    call = plugin.called("veto_post_delete")[0]
    assert call["user"].username == ADMIN_NAME and call["post"].slug == "pinned"
    # Through the API: 409 with the message, in JSON.
    from cms.content.tokens import issue_token

    secret = (await issue_token(site_of(client), ADMIN_NAME)).secret
    api = await client.delete(f"/api/posts/{pinned}", headers={"Authorization": f"Bearer {secret}"})
    assert api.status == 409
    assert (await api.json())["error"]["message"] == (
        "This post was not deleted: it is pinned to the front page"
    )


class MediaEvents(Recorder):
    @hookimpl
    def media_saved(self, media: Any, cms: Any) -> None:
        self.record("media_saved", media=media, cms=cms)

    @hookimpl
    def media_deleted(self, media: Any, cms: Any) -> None:
        self.record("media_deleted", media=media, cms=cms)


async def _media_events(make_client: ClientFactory) -> MediaEvents:
    from tests.image_files import png
    from tests.test_media_library import delete, upload

    plugin = MediaEvents()
    client = await make_client(
        plugins=[("media-events", plugin)],
        images={"backend": "pillow", "options": {"workers": 1}},
    )
    await setup_admin(client)
    media = await upload(client, png(40, 30), "dot.png")
    assert (await delete(client, media)).status == 303
    return plugin


async def test_hook_media_saved(make_client: ClientFactory) -> None:
    plugin = await _media_events(make_client)
    (call,) = plugin.called("media_saved")
    assert call["media"].original_name == "dot.png" and call["media"].width == 40


async def test_hook_media_deleted(make_client: ClientFactory) -> None:
    plugin = await _media_events(make_client)
    (saved,) = plugin.called("media_saved")
    (deleted,) = plugin.called("media_deleted")
    assert deleted["media"].id == saved["media"].id


class UserEvents(Recorder):
    @hookimpl
    def user_created(self, user: Any) -> None:
        self.record("user_created", user=user)

    @hookimpl
    def user_updated(self, user: Any) -> None:
        self.record("user_updated", user=user)


async def test_hook_user_created(make_client: ClientFactory) -> None:
    plugin = UserEvents()
    client = await make_client(plugins=[("user-events", plugin)])
    await setup_admin(client)  # the first admin, through /setup
    response = await post_form(
        client,
        "/admin/users",
        {
            "username": "bea",
            "role": "author",
            "password": "long enough",
            "password_confirm": "long enough",
        },
    )
    assert response.status == 303, await response.text()
    assert [call["user"].username for call in plugin.called("user_created")] == [ADMIN_NAME, "bea"]


async def test_hook_user_updated(make_client: ClientFactory) -> None:
    plugin = UserEvents()
    client = await make_client(plugins=[("user-events", plugin)])
    await setup_admin(client)
    from tests.conftest import create_user

    bea = await create_user(client, "bea", "author")
    response = await post_form(
        client, f"/admin/users/{bea.id}", {"role": "editor", "is_active": "on"}
    )
    assert response.status == 303, await response.text()
    (call,) = plugin.called("user_updated")
    assert call["user"].username == "bea" and call["user"].role == "editor"


async def test_a_core_call_with_a_wrong_argument_names_the_core(
    make_client: ClientFactory,
) -> None:
    """Arguments are checked against the specification before any plugin runs: the error
    names the core's call, never a plugin."""
    from cms.core.plugin_host import HookCallError

    recorder = EveryHook()
    client = await make_client(plugins=[("every_hook", recorder)])
    host = site_of(client).plugins
    before = len(recorder.calls)
    with pytest.raises(HookCallError) as missing:
        await host.call(hookspecs.post_saved, post=None, cms=site_of(client))  # type: ignore[call-arg]
    assert str(missing.value) == (
        "cms core called hook 'post_saved' with post, cms: missing created "
        "(its arguments: post, created, cms)"
    )
    with pytest.raises(HookCallError, match=r"'startup' with cms, site: unknown site"):
        await host.call("startup", cms=None, site=None)
    with pytest.raises(HookCallError, match="'no_such_hook', which is not a cms hook"):
        await host.first("no_such_hook")
    assert len(recorder.calls) == before  # no plugin ran
    assert not isinstance(missing.value, PluginError)
