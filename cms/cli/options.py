"""What every ``cms`` command shares: the ``--settings`` option and one-line failures.

A module of its own so command modules can use it without importing ``cms.cli.main``, which
imports them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from cms.core.plugin_host import PluginError
from cms.core.settings import Settings, SettingsError, load_settings

__all__ = ["CONFIG_ERROR_EXIT", "fail", "load_or_fail", "run_or_fail", "settings_option"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Exit status for settings and plugin problems (click's own usage errors use 2 too).
CONFIG_ERROR_EXIT = 2


def settings_option(function: F) -> F:
    """``--settings PATH`` (default ``./settings.toml``, env ``CMS_SETTINGS``) on every command."""
    return click.option(
        "--settings",
        "settings_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="CMS_SETTINGS",
        help="Settings file [default: ./settings.toml]",
    )(function)


def fail(message: str, code: int = CONFIG_ERROR_EXIT) -> NoReturn:
    """Stop with one line on stderr."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def load_or_fail(settings_path: Path | None, **overrides: Any) -> Settings:
    """Settings, or exit 2 with the one line that says what is wrong."""
    try:
        return load_settings(settings_path, **overrides)
    except SettingsError as error:
        fail(str(error))


def run_or_fail(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; settings and plugin problems exit 2 with one line."""
    try:
        return asyncio.run(coroutine)
    except (SettingsError, PluginError) as error:
        fail(str(error))
