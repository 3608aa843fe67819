"""The ``cms`` command line (click). Plugins add commands through ``register_commands``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import cast

import click
from aiohttp import web
from aiohttp.log import access_logger

from cms import __version__
from cms.cli.client import client as client_group
from cms.cli.options import (
    fail,
    load_or_fail,
    run_or_fail,
    settings_option,
)
from cms.cli.scaffold import plugin as plugin_group
from cms.cli.storage import export_command, import_command, migrate_command
from cms.cli.themes import themes as themes_group
from cms.cli.tokens import tokens as tokens_group
from cms.contracts import ROLES, DependencyUnavailable, Role, SchemaOutOfDate, UsernameTaken
from cms.core import hookspecs
from cms.core.plugin_host import PluginError, PluginHost
from cms.core.settings import Settings, SettingsError, load_settings

__all__ = ["cli", "main"]

_load = load_or_fail
_run = run_or_fail


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cms")
def cli() -> None:
    """cms: an async, plugin-driven content management system."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@settings_option
@click.option("--host", default=None, help="Interface to listen on [default: [server] host]")
@click.option("--port", type=int, default=None, help="Port [default: [server] port]")
@click.option("--theme", default=None, help="Theme to use [default: [site] theme]")
@click.option(
    "--reload",
    is_flag=True,
    help="Development: reload templates and static files on change; restart on changes "
    "to settings, plugins or Python code",
)
@click.option("--reload-child", is_flag=True, hidden=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Processes serving the port, each with its own event loop [default: [server] workers, 1]",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request (to stderr); off saves a write per request",
)
@click.option("--worker-ready-fd", type=int, default=None, hidden=True)
@click.option("--worker-lifeline-fd", type=int, default=None, hidden=True)
def serve(
    settings_path: Path | None,
    host: str | None,
    port: int | None,
    theme: str | None,
    reload: bool,
    reload_child: bool,
    workers: int | None,
    access_log: bool,
    worker_ready_fd: int | None,
    worker_lifeline_fd: int | None,
) -> None:
    """Serve the site (creates or extends the database schema first)."""
    from cms.cli.workers import SHUTDOWN_TIMEOUT, new_event_loop, signal_ready, watch_lifeline
    from cms.core.site import Site
    from cms.web.app import create_app
    from cms.web.live_reload import serve_args

    if reload and (workers or 1) > 1:
        fail("--reload runs one process: leave out --workers")
    settings = _load(settings_path, server={"host": host, "port": port, "workers": workers})
    # A worker is one process; so is --reload (its child serves), whatever [server] says.
    workers = 1 if reload or worker_ready_fd is not None else settings.server.workers
    if reload and not reload_child:
        from cms.web.live_reload import serve_with_reload

        try:  # bad settings stop here, not in a restart loop
            _run(Site(settings, theme=theme).configure())
        except PluginError as error:
            fail(str(error))
        serve_with_reload(settings, serve_args(settings_path, host, port, theme))
        return
    if reload_child:
        from cms.cli.workers import die_with_parent

        die_with_parent()
    try:
        site = Site(settings, theme=theme)
        app = _run(create_app(site, auto_reload_templates=reload_child))
    except PluginError as error:
        fail(str(error))
    processes = f" in {workers} worker processes" if workers > 1 else ""
    ready = (
        f"cms {__version__}: serving {settings.site.title!r} with theme {site.theme_name!r} "
        f"on http://{settings.server.host}:{settings.server.port}/{processes} (Ctrl+C to stop)"
    )
    try:
        if workers > 1:
            from cms.cli.workers import WorkerFailed, check_port_free, migrate_once, supervise

            check_port_free(settings.server.host, settings.server.port)
            _run(migrate_once(site))
            args = serve_args(settings_path, host, port, theme)
            args += [] if access_log else ["--no-access-log"]
            try:
                sys.exit(supervise(args, workers, ready))
            except WorkerFailed as error:
                fail(str(error), code=1)
        worker = worker_ready_fd is not None
        loop = new_event_loop()
        if worker_lifeline_fd is not None:
            watch_lifeline(loop, worker_lifeline_fd)

        def listening(_: str) -> None:
            # Runs once the server listens, after start-up hooks succeeded.
            if worker_ready_fd is not None:
                signal_ready(worker_ready_fd)
            else:
                click.echo(ready, err=True)

        web.run_app(
            app,
            host=settings.server.host,
            port=settings.server.port,
            # Workers share the port; the kernel spreads connections over them.
            reuse_port=True if worker else None,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            access_log=access_logger if access_log else None,
            loop=loop,
            print=listening,
        )
    except (SettingsError, PluginError) as error:  # raised while starting (startup hooks)
        fail(str(error))
    except DependencyUnavailable as error:
        fail(f"cannot start: {error}", code=1)
    except SchemaOutOfDate as error:
        where = f" --settings {settings_path}" if settings_path else ""
        fail(f"cannot start: {error}; run: cms migrate{where}", code=1)
    except OSError as error:  # e.g. the port is taken
        fail(f"cannot listen on {settings.server.host}:{settings.server.port}: {error}", code=1)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> None:
    """Make DIRECTORY a new site: settings.toml plus folders for plugins, themes, templates."""
    settings_file = directory / "settings.toml"
    if settings_file.exists():
        fail(f"{settings_file} exists already; nothing was changed")
    directory.mkdir(parents=True, exist_ok=True)
    for folder in ("plugins", "themes", "templates"):
        (directory / folder).mkdir(exist_ok=True)
    settings_file.write_text(SITE_TEMPLATE.format(title=directory.resolve().name), encoding="utf-8")
    click.echo(f"Created a site in {directory}. Next: cd {directory} && cms serve")


SITE_TEMPLATE = """\
# Settings of this site. Environment variables override them: CMS_SECTION__KEY.

[site]
title = "{title}"
theme = "default"
base_url = "http://127.0.0.1:8080"

[server]
host = "127.0.0.1"
port = 8080

[storage]
backend = "sqlite"            # or "postgres" with options = {{ url = "postgresql://user@host/db" }}
options = {{ path = "cms.db" }}

[sessions]
backend = "cookie"            # or "redis" once a Redis session plugin is installed

[images]
backend = "pillow"            # cover images: uploads, renditions, /media/ (docs/images.md)
options = {{ widths = [320, 800, 1600], media_dir = "media" }}

[plugins]
dir = "plugins"               # site-local plugin modules (*.py)
disabled = []
"""


@cli.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@settings_option
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="author", show_default=True)
def users_create(settings_path: Path | None, name: str, role: str) -> None:
    """Create user NAME; the password is prompted for, or read from stdin when piped."""
    from cms.content.users import check_username, create_user
    from cms.core.passwords import check_password_rules
    from cms.core.site import Site

    if problem := check_username(name):
        fail(f"username {name!r} is not allowed: {problem}", code=1)
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if problem := check_password_rules(password):
        fail(f"the password for {name!r} is not allowed: {problem}", code=1)

    async def run() -> None:
        site = Site(_load(settings_path))
        await site.configure()
        await site.storage.open()
        try:
            await site.storage.migrate()
            await create_user(site, name, password, cast(Role, role))
        finally:
            await site.storage.close()

    try:
        _run(run())
    except UsernameTaken:  # a ValueError too: catch it first
        fail(f"a user named {name!r} exists already", code=1)
    except ValueError as error:
        fail(f"cannot create user {name!r}: {error}", code=1)
    click.echo(f"Created {role} {name!r}.")


@cli.command("plugins")
@settings_option
def plugins_command(settings_path: Path | None) -> None:
    """List the loaded plugins, their versions and the hooks each implements."""
    settings = _load(settings_path)
    try:
        host = _host_for(settings)
    except PluginError as error:
        fail(str(error))
    for plugin in host.plugins.values():
        version = f" {plugin.version}" if plugin.version else ""
        click.echo(f"{plugin.name}{version}  ({plugin.source})")
        click.echo(f"    hooks: {', '.join(plugin.hooks) or '-'}")


def _host_for(settings: Settings) -> PluginHost:
    return PluginHost.load(
        disabled=settings.plugins.disabled,
        plugins_dir=settings.resolve_path(settings.plugins.dir) if settings.plugins.dir else None,
    )


def _settings_in_argv(argv: list[str]) -> Path | None:
    """The ``--settings`` value on the command line, read before click parses it, so the
    plugins of that site (not of ``./settings.toml``) can add their commands."""
    for index, argument in enumerate(argv):
        if argument == "--":
            break
        if argument == "--settings" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if argument.startswith("--settings="):
            return Path(argument.partition("=")[2])
    return None


def _add_plugin_commands() -> None:
    """Let plugins add commands; the CLI still works when the site cannot load."""
    try:
        host = _host_for(load_settings(_settings_in_argv(sys.argv[1:])))
        host.call_sync(hookspecs.register_commands, cli=cli)
    except (SettingsError, PluginError) as error:
        logging.getLogger("cms").debug("plugin commands not loaded: %s", error)


cli.add_command(plugin_group)
cli.add_command(migrate_command)
cli.add_command(export_command)
cli.add_command(import_command)
cli.add_command(tokens_group)
cli.add_command(client_group)
cli.add_command(themes_group)


def main() -> None:
    _add_plugin_commands()
    cli()
