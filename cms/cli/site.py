"""``cms init`` (a new site folder) and ``cms plugins`` (what a site loads)."""

from __future__ import annotations

from pathlib import Path

import click

from cms.cli.options import (
    fail,
    load_or_fail,
    run_or_fail,
    settings_option,
)
from cms.core.plugin_host import PluginError, PluginHost
from cms.core.settings import Settings

__all__ = ["init", "plugin_host_for", "plugins_command"]

_load = load_or_fail
_run = run_or_fail


@click.command()
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
timezone = "UTC"  # an IANA name (Europe/Paris): the admin's "Publish at" reads it

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
options = {{ widths = [320, 800, 1600] }}

[media]
backend = "local"             # or "s3": a bucket several hosts share (docs/media.md)
options = {{ dir = "media" }}

[plugins]
dir = "plugins"               # site-local plugin modules (*.py)
disabled = []
"""


@click.command("plugins")
@settings_option
def plugins_command(settings_path: Path | None) -> None:
    """List the loaded plugins, their versions and the hooks each implements."""
    settings = _load(settings_path)
    try:
        host = plugin_host_for(settings)
    except PluginError as error:
        fail(str(error))
    for plugin in host.plugins.values():
        version = f" {plugin.version}" if plugin.version else ""
        click.echo(f"{plugin.name}{version}  ({plugin.source})")
        click.echo(f"    hooks: {', '.join(plugin.hooks) or '-'}")


def plugin_host_for(settings: Settings) -> PluginHost:
    return PluginHost.load(
        disabled=settings.plugins.disabled,
        plugins_dir=settings.resolve_path(settings.plugins.dir) if settings.plugins.dir else None,
    )
