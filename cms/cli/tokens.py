"""``cms tokens``: create, list and revoke API tokens.

``cms tokens create NAME`` prints the token (and nothing else) on stdout, once, so
``TOKEN=$(cms tokens create alice)`` works; what it means goes to stderr.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from cms.cli.options import fail, load_or_fail, run_or_fail, settings_option
from cms.contracts import MAX_ID, ApiToken

if TYPE_CHECKING:
    from cms.core.site import Site

__all__ = ["tokens"]

T = TypeVar("T")


_settings_option = settings_option


def _with_storage(settings_path: Path | None, work: Callable[[Site], Awaitable[T]]) -> T:
    """Run ``work`` with the site's storage open (and its schema up to date)."""
    from cms.core.site import Site

    async def run() -> T:
        site = Site(load_or_fail(settings_path))
        await site.configure()
        await site.storage.open()
        try:
            await site.storage.migrate()
            return await work(site)
        finally:
            await site.storage.close()

    return run_or_fail(run())


def _fail(message: str) -> NoReturn:
    fail(message, code=1)


@click.group("tokens")
def tokens() -> None:
    """Manage API tokens (they act as their user, with the user's role)."""


@tokens.command("create")
@_settings_option
@click.argument("name")
@click.option("--label", default="", help="What the token is for, to recognise it later.")
@click.option(
    "--expires",
    default="never",
    show_default=True,
    help="never, a duration (90d, 12h, 2w) or a date (2030-01-31).",
)
def tokens_create(settings_path: Path | None, name: str, label: str, expires: str) -> None:
    """Create a token acting as user NAME and print it (shown only this once)."""
    from cms.content.tokens import issue_token, parse_expiry

    try:
        expires_at = parse_expiry(expires)
    except ValueError as error:
        _fail(f"--expires: {error}")
        return

    async def work(site: Site) -> Any:
        return await issue_token(site, name, label=label.strip(), expires_at=expires_at)

    try:
        issued = _with_storage(settings_path, work)
    except ValueError as error:
        _fail(f"cannot create a token for {name!r}: {error}")
        return
    token = issued.token
    until = f"until {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "no expiry"
    click.echo(
        f"Created token #{token.id} for {token.username} ({until}). "
        "Store it now: it is not shown again.",
        err=True,
    )
    click.echo(issued.secret)


@tokens.command("list")
@_settings_option
@click.argument("name", required=False)
def tokens_list(settings_path: Path | None, name: str | None) -> None:
    """List tokens (of user NAME, or everybody's); secrets are never shown."""

    async def work(site: Site) -> list[ApiToken] | None:
        user_id = None
        if name is not None:
            user = await site.storage.get_user_by_username(name)
            if user is None:
                return None
            user_id = user.id
        return await site.storage.list_tokens(user_id=user_id)

    found = _with_storage(settings_path, work)
    if found is None:
        _fail(f"there is no user named {name!r}")
        return
    if not found:
        click.echo("No tokens.")
        return
    now = datetime.now(UTC)
    for token in found:
        click.echo(
            f"#{token.id}  {token.username}  {token.prefix}…  {_state(token, now)}  "
            f"{token.label or '(no label)'}"
        )


def _state(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return f"revoked {token.revoked_at:%Y-%m-%d}"
    if token.expires_at is not None and token.expires_at <= now:
        return f"expired {token.expires_at:%Y-%m-%d}"
    until = f"until {token.expires_at:%Y-%m-%d}" if token.expires_at else "no expiry"
    used = f"last used {token.last_used_at:%Y-%m-%d}" if token.last_used_at else "never used"
    return f"active, {until}, {used}"


@tokens.command("revoke")
@_settings_option
@click.argument("token_id", type=click.IntRange(1, MAX_ID), metavar="ID")
def tokens_revoke(settings_path: Path | None, token_id: int) -> None:
    """Revoke token ID (see `cms tokens list`): it stops working at once."""

    async def work(site: Site) -> ApiToken | None:
        return await site.storage.revoke_token(token_id)

    token = _with_storage(settings_path, work)
    if token is None:
        _fail(f"there is no token #{token_id}")
        return
    click.echo(f"Revoked token #{token.id} of {token.username}.")
