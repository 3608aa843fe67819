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

from cms import hookimpl
from cms.core import hookspecs
from cms.core.plugin_host import PluginError, PluginHost
from cms.core.site import Site
from tests.conftest import (
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
