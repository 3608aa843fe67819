"""The ``cms`` command, run for real: init, users, migrate, plugins, themes, and a real
server that keeps its posts and its signed-in visitors across a restart."""

from __future__ import annotations

import stat
from pathlib import Path

import aiohttp
import pytest

from cms.core.settings import load_settings
from tests.cli_support import (
    Server,
    cms_env,
    free_port,
    output_of,
    plugin_listing,
    run_cms,
    submit_form,
)
from tests.conftest import ClientFactory, login

PASSWORD = "a long enough password"


# --- cms init -------------------------------------------------------------------------


def test_init_creates_a_site_and_refuses_to_overwrite(tmp_path: Path) -> None:
    site = tmp_path / "blog"
    result = run_cms("init", site, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    settings_file = site / "settings.toml"
    assert settings_file.is_file()
    for folder in ("plugins", "themes", "templates"):
        assert (site / folder).is_dir(), folder
    settings = load_settings(settings_file)  # what init writes is valid
    assert settings.site.title == "blog"
    assert settings.site.theme == "default"
    assert settings.storage.backend == "sqlite"

    settings_file.write_text(settings_file.read_text("utf-8") + "# my edits\n", "utf-8")
    before = settings_file.read_text("utf-8")
    again = run_cms("init", site, cwd=tmp_path)
    assert again.returncode != 0, output_of(again)
    assert "exists" in again.stderr, output_of(again)
    assert "Traceback" not in again.stdout + again.stderr
    assert settings_file.read_text("utf-8") == before


def test_init_then_migrate_in_the_new_site(tmp_path: Path) -> None:
    assert run_cms("init", "site", cwd=tmp_path).returncode == 0
    result = run_cms("migrate", cwd=tmp_path / "site")  # ./settings.toml by default
    assert result.returncode == 0, output_of(result)
    assert (tmp_path / "site" / "cms.db").is_file()


# --- cms users create -----------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("", encoding="utf-8")
    result = run_cms(
        "users", "create", "alice", "--role", "editor", "--settings", settings,
        cwd=tmp_path, input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, output_of(result)
    assert "alice" in result.stdout
    assert "editor" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


async def test_a_user_created_by_the_cli_can_sign_in(
    site_dir: Path, make_client: ClientFactory
) -> None:
    # make_client's site lives in site_dir with an empty settings.toml and SQLite cms.db.
    (site_dir / "settings.toml").write_text("", encoding="utf-8")
    result = run_cms(
        "users", "create", "alice", "--role", "editor",
        "--settings", site_dir / "settings.toml", cwd=site_dir, input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, output_of(result)

    client = await make_client()
    wrong = await login(client, "alice", "not the password")
    assert wrong.status == 401
    response = await login(client, "alice", PASSWORD)
    assert response.status == 303, await response.text()
    admin = await client.get("/admin/", allow_redirects=False)
    assert admin.status == 200, await admin.text()
    assert "alice" in await admin.text()
    # The site is set up: /setup is closed now that a user exists.
    setup = await client.get("/setup", allow_redirects=False)
    assert setup.status != 200


def test_users_create_rejects_a_short_password(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("", encoding="utf-8")
    result = run_cms(
        "users", "create", "bob", "--role", "editor", "--settings", settings,
        cwd=tmp_path, input="short\n",
    )  # fmt: skip
    shown = output_of(result)
    assert result.returncode == 1, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    assert "password" in lines[0].lower(), shown
    assert "8 characters" in lines[0], shown
    assert "short" not in lines[0], "the password itself must not be echoed"
    # Nothing was created: the same name works with a good password.
    retry = run_cms(
        "users", "create", "bob", "--role", "editor", "--settings", settings,
        cwd=tmp_path, input=PASSWORD + "\n",
    )  # fmt: skip
    assert retry.returncode == 0, output_of(retry)


def test_users_create_rejects_a_duplicate(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("", encoding="utf-8")
    args = ("users", "create", "carol", "--role", "author", "--settings", settings)
    first = run_cms(*args, cwd=tmp_path, input=PASSWORD + "\n")
    assert first.returncode == 0, output_of(first)
    second = run_cms(*args, cwd=tmp_path, input="another long password\n")
    shown = output_of(second)
    assert second.returncode == 1, shown
    assert "Traceback" not in second.stdout + second.stderr, shown
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    assert "carol" in lines[0], shown
    assert "exists" in lines[0], shown


def test_users_create_rejects_a_bad_name_and_role(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("", encoding="utf-8")
    bad_name = run_cms(
        "users", "create", "no spaces please", "--settings", settings,
        cwd=tmp_path, input=PASSWORD + "\n",
    )  # fmt: skip
    assert bad_name.returncode == 1, output_of(bad_name)
    assert "no spaces please" in bad_name.stderr
    assert "Traceback" not in bad_name.stderr
    bad_role = run_cms(
        "users", "create", "dave", "--role", "overlord", "--settings", settings,
        cwd=tmp_path, input=PASSWORD + "\n",
    )  # fmt: skip
    assert bad_role.returncode == 2, output_of(bad_role)  # click's usage error
    assert "overlord" in bad_role.stderr
    assert "editor" in bad_role.stderr


# --- cms migrate, plugins, themes -----------------------------------------------------


def test_migrate_creates_the_schema_once(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("", encoding="utf-8")
    first = run_cms("migrate", "--settings", settings, cwd=tmp_path)
    assert first.returncode == 0, output_of(first)
    assert "cms_posts" in first.stdout, output_of(first)
    assert "cms_users" in first.stdout, output_of(first)
    assert "up to date" not in first.stdout
    assert (tmp_path / "cms.db").is_file()

    second = run_cms("migrate", "--settings", settings, cwd=tmp_path)
    assert second.returncode == 0, output_of(second)
    assert "up to date" in second.stdout, output_of(second)
    assert "created" not in second.stdout


def test_plugins_lists_builtins_and_the_default_plugin_with_hooks(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("", encoding="utf-8")
    result = run_cms("plugins", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    listed = plugin_listing(result.stdout)
    assert "register_storage_backends" in listed["sql_storage"], result.stdout
    assert "register_session_stores" in listed["cookie_sessions"], result.stdout
    assert "register_routes" in listed["cms.default_plugin"], result.stdout
    assert "handle_exception" in listed["cms.default_plugin"], result.stdout


def test_plugins_leaves_out_disabled_ones(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('[plugins]\ndisabled = ["cookie_sessions"]\n', encoding="utf-8")
    result = run_cms("plugins", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    listed = plugin_listing(result.stdout)
    assert "cookie_sessions" not in listed
    assert "sql_storage" in listed


def test_themes_lists_the_default_theme(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("", encoding="utf-8")
    result = run_cms("themes", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    names = [line.split()[0] for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert "default" in names, result.stdout
    default_line = next(line for line in result.stdout.splitlines() if line.startswith("default"))
    assert "[current]" in default_line


def test_themes_finds_a_site_theme(tmp_path: Path) -> None:
    theme = tmp_path / "themes" / "midnight"
    theme.mkdir(parents=True)
    (theme / "theme.toml").write_text(
        'name = "midnight"\nversion = "2.0.0"\nextends = "default"\n', encoding="utf-8"
    )
    settings = tmp_path / "settings.toml"
    settings.write_text('[site]\ntheme = "midnight"\n', encoding="utf-8")
    result = run_cms("themes", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    midnight = next(line for line in result.stdout.splitlines() if line.startswith("midnight"))
    assert "2.0.0" in midnight
    assert "extends default" in midnight
    assert "[current]" in midnight


SITE_COMMAND_PLUGIN = """\
import click

from cms import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command()
    @click.option("--settings", default=None)
    def greet(settings):
        \"\"\"Say hello from a site plugin.\"\"\"
        click.echo("hello from the site plugin")
"""


@pytest.mark.parametrize("how", ["--settings PATH", "--settings=PATH", "CMS_SETTINGS"])
def test_a_site_plugin_adds_a_command(tmp_path: Path, how: str) -> None:
    site = tmp_path / "site"
    (site / "plugins").mkdir(parents=True)
    (site / "plugins" / "greeter.py").write_text(SITE_COMMAND_PLUGIN, encoding="utf-8")
    settings = site / "settings.toml"
    settings.write_text('[plugins]\ndir = "plugins"\n', encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"  # not the site folder: ./settings.toml is absent
    elsewhere.mkdir()
    if how == "CMS_SETTINGS":
        result = run_cms("greet", cwd=elsewhere, env=cms_env(CMS_SETTINGS=str(settings)))
    elif how == "--settings=PATH":
        result = run_cms("greet", f"--settings={settings}", cwd=elsewhere)
    else:
        result = run_cms("greet", "--settings", settings, cwd=elsewhere)
    assert result.returncode == 0, output_of(result)
    assert result.stdout.strip() == "hello from the site plugin"
    listing = run_cms("--help", cwd=elsewhere, env=cms_env(CMS_SETTINGS=str(settings)))
    assert "greet" in listing.stdout, output_of(listing)


# --- a real server, stopped and started again ------------------------------------------


@pytest.mark.parametrize("key_source", ["environment", "generated file"])
async def test_posts_and_sign_in_survive_a_restart(tmp_path: Path, key_source: str) -> None:
    port = free_port()
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[site]\ntitle = "Restart test"\nbase_url = "http://127.0.0.1:{port}"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
        '[storage]\nbackend = "sqlite"\noptions = { path = "cms.db" }\n',
        encoding="utf-8",
    )
    env = cms_env(secret_key=key_source == "environment")
    server = Server(settings=settings, port=port, env=env, log=tmp_path / "server.log")
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    try:
        await server.start()
        base = server.url
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{base}/admin/") as response:
                # A fresh site leads its first visitor to /setup.
                assert response.url.path == "/setup", response.url
            status, location, body = await submit_form(
                http,
                f"{base}/setup",
                {"username": "admin", "password": PASSWORD, "password_confirm": PASSWORD},
            )
            assert status == 303, body
            assert location.endswith("/admin/"), location  # signed in by setup
            status, _, body = await submit_form(
                http,
                f"{base}/admin/posts/new",
                {
                    "title": "Still here after a restart",
                    "slug": "still-here",
                    "body": "Stored on *disk*.",
                    "status": "published",
                },
            )
            assert status == 303, body
            async with http.get(f"{base}/posts/still-here") as response:
                assert response.status == 200
                assert "Still here after a restart" in await response.text()

        assert await server.stop() == 0, server.log_text()
        if key_source == "generated file":
            key_file = tmp_path / ".cms-secret-key"
            assert key_file.is_file()
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        await server.start()
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{base}/posts/still-here") as response:
                assert response.status == 200, server.log_text()
                page = await response.text()
                assert "Still here after a restart" in page
                assert "<em>disk</em>" in page
            async with http.get(f"{base}/admin/", allow_redirects=False) as response:
                assert response.status == 200, f"signed out by the restart: {response.status}"
                assert "Still here after a restart" in await response.text()
            async with http.get(f"{base}/setup", allow_redirects=False) as response:
                assert response.status != 200, "setup must stay closed after a restart"
        assert await server.stop() == 0, server.log_text()
        assert "Traceback" not in server.log_text()
    finally:
        await server.kill()


def test_a_short_or_damaged_secret_key_stops_start_up_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("", encoding="utf-8")
    short = run_cms(
        "serve",
        "--settings",
        "settings.toml",
        cwd=tmp_path,
        env={**cms_env(), "CMS_SECRET_KEY": "short"},
    )
    assert short.returncode == 2
    assert short.stderr.strip().splitlines() == [
        "Error: CMS_SECRET_KEY is 5 characters; use at least 16 random characters "
        "(or unset it to use a generated key)"
    ]
    env = cms_env()
    env.pop("CMS_SECRET_KEY", None)
    (tmp_path / ".cms-secret-key").write_text("not base64 at all!\n", encoding="ascii")
    damaged = run_cms("serve", "--settings", "settings.toml", cwd=tmp_path, env=env)
    assert damaged.returncode == 2
    assert len(damaged.stderr.strip().splitlines()) == 1
    assert ".cms-secret-key" in damaged.stderr and "Traceback" not in damaged.stderr
