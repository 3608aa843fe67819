"""``cms themes``: list the themes a site can use; ``cms themes check NAME`` checks one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import click
import jinja2

from cms.cli.options import fail, settings_option
from cms.core import hookspecs
from cms.core.plugin_host import PluginError, PluginHost
from cms.core.settings import Settings, SettingsError, load_settings

__all__ = ["themes"]

PROBLEMS_EXIT = 1


def _settings(path: Path | None) -> Settings:
    try:
        return load_settings(path)
    except SettingsError as error:
        fail(str(error))
        raise  # unreachable: fail() exits


@click.group("themes", invoke_without_command=True)
@settings_option
@click.pass_context
def themes(ctx: click.Context, settings_path: Path | None) -> None:
    """List the themes this site can use; `cms themes check NAME` checks one."""
    ctx.obj = settings_path
    if ctx.invoked_subcommand is None:
        _list_themes(_settings(settings_path))


@themes.command("list")
@settings_option
@click.pass_context
def list_command(ctx: click.Context, settings_path: Path | None) -> None:
    """List the themes: name, version, where each comes from and what it extends."""
    _list_themes(_settings(settings_path or ctx.obj))


def _list_themes(settings: Settings) -> None:
    from cms.core.theming import read_manifest, theme_locations

    shown: set[str] = set()
    for name, (path, source) in theme_locations(settings.base_dir):
        where = "bundled" if source == "bundled" else f"{source}: {path}"
        if name in shown:
            click.echo(f"    (also {where}, which the one above shadows)")
            continue
        shown.add(name)
        try:
            manifest = read_manifest(path, name)
        except SettingsError as error:
            click.echo(f"{name}  ({where})  BROKEN: {error}")
            continue
        parent = f", extends {manifest.extends}" if manifest.extends else ""
        current = "  [current]" if name == settings.site.theme else ""
        click.echo(f"{name} {manifest.version}  ({where}{parent}){current}")
        if manifest.description:
            click.echo(f"    {manifest.description}")


@themes.command("check")
@settings_option
@click.argument("name", required=False)
@click.pass_context
def check_command(ctx: click.Context, settings_path: Path | None, name: str | None) -> None:
    """Check theme NAME (default: the site's theme); exit 1 listing its problems."""
    from cms.cli.theme_check import check_theme
    from cms.web.templating import plugin_template_dirs

    settings = _settings(settings_path or ctx.obj)
    name = name or settings.site.theme
    plugins: PluginHost | None = None
    try:
        plugins = PluginHost.load(
            disabled=settings.plugins.disabled,
            plugins_dir=settings.resolve_path(settings.plugins.dir)
            if settings.plugins.dir
            else None,
        )
    except PluginError as error:
        click.echo(f"note: plugins not loaded ({error}); their templates are not checked")
    report = check_theme(
        name,
        settings.base_dir,
        plugin_templates=plugin_template_dirs(plugins) if plugins else None,
        prepare_environment=_plugin_environment(settings, plugins),
    )
    chain = " -> ".join(report.chain) or name
    if report.ok:
        click.echo(
            f"theme {name!r} ({chain}): OK, {report.templates_checked} templates compiled, "
            f"{report.static_references} static references found"
        )
        return
    count = len(report.problems)
    click.echo(f"theme {name!r} ({chain}): {count} problem{'s' if count != 1 else ''}")
    for problem in report.problems:
        click.echo(f"  - {problem}")
    raise SystemExit(PROBLEMS_EXIT)


def _plugin_environment(
    settings: Settings, plugins: PluginHost | None
) -> Callable[[jinja2.Environment], None] | None:
    """Let plugins add their filters and globals (``prepare_jinja2_environment``), so
    templates that use them compile; skipped when the site cannot be configured."""
    if plugins is None or not plugins.implements(hookspecs.prepare_jinja2_environment):
        return None
    from cms.core.site import Site

    site = Site(settings, plugins=plugins)
    try:
        asyncio.run(site.configure())
    except (SettingsError, PluginError) as error:
        click.echo(f"note: the site cannot be configured ({error}); plugin filters not checked")
        return None

    def prepare(env: jinja2.Environment) -> None:
        try:
            asyncio.run(site.plugins.call(hookspecs.prepare_jinja2_environment, env=env, cms=site))
        except PluginError as error:
            click.echo(f"note: {error}")

    return prepare
