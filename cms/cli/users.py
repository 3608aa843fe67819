"""``cms users``: manage users."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click

from cms.cli.options import (
    fail,
    load_or_fail,
    run_or_fail,
    settings_option,
)
from cms.contracts import ROLES, Role, UsernameTaken

__all__ = ["users"]

_load = load_or_fail
_run = run_or_fail


@click.group()
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
