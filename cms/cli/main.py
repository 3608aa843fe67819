"""The ``cms`` command line (click): the command modules of this package, assembled into
a fresh group for each run, plus what plugins add through ``register_commands``.

Nothing here is global: two runs in one process (tests with Click's ``CliRunner``) never
see each other's plugin commands.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from cms import __version__
from cms.cli.client import client as client_group
from cms.cli.media import media as media_group
from cms.cli.scaffold import plugin as plugin_group
from cms.cli.serve import serve
from cms.cli.site import init, plugin_host_for, plugins_command
from cms.cli.storage import export_command, import_command, migrate_command
from cms.cli.themes import themes as themes_group
from cms.cli.tokens import tokens as tokens_group
from cms.cli.trash import trash as trash_group
from cms.cli.users import users
from cms.core import hookspecs
from cms.core.plugin_host import PluginError
from cms.core.settings import SettingsError, load_settings
from cms.web.access_log import CMS_LOG_FORMAT

__all__ = ["main", "make_cli"]

#: The core's commands, in the order ``cms --help`` lists them after click sorts them.
CORE_COMMANDS: tuple[click.Command, ...] = (
    serve,
    init,
    users,
    plugins_command,
    plugin_group,
    migrate_command,
    export_command,
    import_command,
    tokens_group,
    client_group,
    themes_group,
    media_group,
    trash_group,
)


def make_cli(argv: Sequence[str] | None = None, *, plugin_commands: bool = True) -> click.Group:
    """A new ``cms`` group: the core's commands, and the plugin commands of the site whose
    ``--settings`` ``argv`` names (``./settings.toml`` when it names none)."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="cms")
    def cli() -> None:
        """cms: an async, plugin-driven content management system."""
        logging.basicConfig(level=logging.INFO, format=CMS_LOG_FORMAT)

    for command in CORE_COMMANDS:
        cli.add_command(command)
    if plugin_commands:
        _add_plugin_commands(cli, list(argv if argv is not None else sys.argv[1:]))
    return cli


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


def _add_plugin_commands(cli: click.Group, argv: list[str]) -> None:
    """Let plugins add commands; the CLI still works when the site cannot load."""
    try:
        host = plugin_host_for(load_settings(_settings_in_argv(argv)))
        host.call_sync(hookspecs.register_commands, cli=cli)
    except (SettingsError, PluginError) as error:
        logging.getLogger("cms").debug("plugin commands not loaded: %s", error)


def main() -> None:
    """The ``cms`` console script."""
    make_cli(sys.argv[1:])()
