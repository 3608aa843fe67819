"""Plugins that add or replace views through ``register_routes``, site plugin folders,
``[plugins] disabled``, and plugins that fail to load or to start."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cms.core.settings import load_settings
from cms.core.site import Site
from cms.web.app import create_app
from cms.web.views.public import PostDetailView
from tests.cli_support import free_port, output_of, plugin_listing, run_cms
from tests.conftest import ClientFactory, create_post, setup_admin
from tests.plugins import hello_view, replace_post_view

TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"


def make_site(directory: Path, settings_text: str, *plugin_modules: str) -> Path:
    """A site folder whose ``plugins/`` holds copies of the named test plugin modules."""
    (directory / "plugins").mkdir(parents=True, exist_ok=True)
    for name in plugin_modules:
        shutil.copy(TEST_PLUGINS / f"{name}.py", directory / "plugins" / f"{name}.py")
    settings = directory / "settings.toml"
    settings.write_text(settings_text, encoding="utf-8")
    return settings


async def client_for(settings: Path, aiohttp_client: Any) -> TestClient[Any, Any]:
    """An in-process client of the site ``settings`` describes, plugins folder and all."""
    app = await create_app(Site(load_settings(settings)))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


def route_handlers(client: TestClient[Any, Any]) -> list[Any]:
    return [route.handler for route in client.app.router.routes()]


# --- in-process registration ------------------------------------------------------------


async def test_a_plugin_view_is_served(make_client: ClientFactory) -> None:
    client = await make_client(plugins=[("hello_view", hello_view)], site={"title": "Plugged"})
    response = await client.get("/hello")
    assert response.status == 200
    assert await response.text() == "Hello from a plugin on Plugged"
    assert str(client.app.router["hello"].url_for()) == "/hello"
    # The core's own views are still there.
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/")).status == 200


async def test_without_the_plugin_there_is_no_hello(make_client: ClientFactory) -> None:
    client = await make_client()
    assert (await client.get("/hello")).status == 404
    assert "hello" not in client.app.router


async def test_the_core_post_view_without_a_replacement(make_client: ClientFactory) -> None:
    client = await make_client()
    await setup_admin(client)
    assert (await create_post(client, title="Core view", slug="core")).status == 303
    response = await client.get("/posts/core")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert replace_post_view.MARKER not in await response.text()


async def test_a_plugin_replaces_the_core_post_view_by_route_name(
    make_client: ClientFactory,
) -> None:
    client = await make_client(plugins=[("replace_post_view", replace_post_view)])
    handlers = route_handlers(client)
    assert replace_post_view.PlainPostView in handlers
    assert PostDetailView not in handlers, "the core view must be replaced, not shadowed"
    assert client.app.router["post"].url_for(slug="x").path == "/posts/x"

    await setup_admin(client)
    assert (await create_post(client, title="Swapped out", slug="swapped")).status == 303
    response = await client.get("/posts/swapped")
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == f"{replace_post_view.MARKER}: Swapped out"
    missing = await client.get("/posts/nothing-here")
    assert missing.status == 404
    # Pages that link to posts through url('post', ...) still render.
    index = await client.get("/")
    assert index.status == 200
    assert "/posts/swapped" in await index.text()
    assert (await client.get("/admin/")).status == 200


async def test_both_route_plugins_together(make_client: ClientFactory) -> None:
    client = await make_client(
        plugins=[("hello_view", hello_view), ("replace_post_view", replace_post_view)]
    )
    assert (await client.get("/hello")).status == 200
    assert PostDetailView not in route_handlers(client)


# --- site plugin folders ------------------------------------------------------------------


async def test_a_site_plugins_dir_module_loads(site_dir: Path, aiohttp_client: Any) -> None:
    settings = make_site(
        site_dir, '[site]\ntitle = "Folder site"\n[plugins]\ndir = "plugins"\n', "hello_view"
    )
    client = await client_for(settings, aiohttp_client)
    response = await client.get("/hello")
    assert response.status == 200
    assert await response.text() == "Hello from a plugin on Folder site"


async def test_disabled_site_plugin_is_not_loaded(site_dir: Path, aiohttp_client: Any) -> None:
    settings = make_site(
        site_dir,
        '[plugins]\ndir = "plugins"\ndisabled = ["hello_view"]\n',
        "hello_view",
        "replace_post_view",
    )
    client = await client_for(settings, aiohttp_client)
    assert (await client.get("/hello")).status == 404
    # The other plugin of the folder still runs.
    assert replace_post_view.PlainPostView.__name__ in {
        getattr(handler, "__name__", "") for handler in route_handlers(client)
    }


def test_cms_plugins_lists_site_route_plugins(tmp_path: Path) -> None:
    settings = make_site(
        tmp_path, '[plugins]\ndir = "plugins"\n', "hello_view", "replace_post_view"
    )
    result = run_cms("plugins", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    listed = plugin_listing(result.stdout)
    assert listed.get("hello_view") == ["register_routes"], result.stdout
    assert listed.get("replace_post_view") == ["register_routes"], result.stdout
    assert "sql_storage" in listed
    assert "cms.default_plugin" in listed
    hello_line = next(line for line in result.stdout.splitlines() if line.startswith("hello_view"))
    assert "hello_view.py" in hello_line, "the source names the module's file"


def test_cms_plugins_leaves_out_a_disabled_site_plugin(tmp_path: Path) -> None:
    settings = make_site(
        tmp_path,
        '[plugins]\ndir = "plugins"\ndisabled = ["hello_view"]\n',
        "hello_view",
        "replace_post_view",
    )
    result = run_cms("plugins", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    listed = plugin_listing(result.stdout)
    assert "hello_view" not in listed
    assert "replace_post_view" in listed


# --- plugins that fail ----------------------------------------------------------------------

BROKEN_PLUGIN = '''\
"""A site plugin that cannot be imported."""

raise RuntimeError("the flux capacitor is missing")
'''

FAILING_STARTUP_PLUGIN = '''\
"""A site plugin that imports but raises when the site starts."""

from cms import hookimpl


@hookimpl
def startup(cms):
    raise ConnectionError("the search index is not reachable")
'''


def write_site_plugin(directory: Path, name: str, source: str, extra_settings: str = "") -> Path:
    settings = make_site(
        directory,
        f'[server]\nport = {free_port()}\n[plugins]\ndir = "plugins"\n{extra_settings}',
    )
    (directory / "plugins" / f"{name}.py").write_text(source, encoding="utf-8")
    return settings


def test_a_plugin_that_fails_to_import_stops_serve(tmp_path: Path) -> None:
    settings = write_site_plugin(tmp_path, "broken_plugin", BROKEN_PLUGIN)
    result = run_cms("serve", "--settings", settings, cwd=tmp_path, timeout=30)
    shown = output_of(result)
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    assert "broken_plugin" in lines[0], shown
    assert "RuntimeError" in lines[0], shown
    assert "the flux capacitor is missing" in lines[0], shown


def test_other_commands_name_the_broken_plugin_too(tmp_path: Path) -> None:
    settings = write_site_plugin(tmp_path, "broken_plugin", BROKEN_PLUGIN)
    result = run_cms("plugins", "--settings", settings, cwd=tmp_path)
    shown = output_of(result)
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert "broken_plugin" in result.stderr, shown


def test_a_disabled_broken_plugin_is_not_even_imported(tmp_path: Path) -> None:
    settings = write_site_plugin(
        tmp_path, "broken_plugin", BROKEN_PLUGIN, 'disabled = ["broken_plugin"]\n'
    )
    result = run_cms("plugins", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert "broken_plugin" not in result.stdout + result.stderr
    migrate = run_cms("migrate", "--settings", settings, cwd=tmp_path)
    assert migrate.returncode == 0, output_of(migrate)


def test_a_plugin_that_raises_at_startup_stops_serve(tmp_path: Path) -> None:
    settings = write_site_plugin(tmp_path, "failing_startup", FAILING_STARTUP_PLUGIN)
    result = run_cms("serve", "--settings", settings, cwd=tmp_path, timeout=30)
    shown = output_of(result)
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, shown
    assert "failing_startup" in errors[0], shown
    assert "startup" in errors[0], shown
    assert "the search index is not reachable" in errors[0], shown
    assert "serving" not in result.stderr, "it must not claim to serve: " + shown
