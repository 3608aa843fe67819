"""``cms client``: list, get, create, update and delete posts of a running site over its
JSON API (:mod:`cms.cli.rest_client`).

Exit status: 0 done, 1 an error (the API's message is shown), 3 the post changed since
it was read (``update``/``delete`` with its ETag): nothing was changed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from cms.cli.options import fail
from cms.cli.rest_client import ApiError, Client, Post, PostChanged
from cms.contracts import MAX_ID

__all__ = ["client"]

DEFAULT_URL = "http://127.0.0.1:8080"
CONFLICT_EXIT = 3
T = TypeVar("T")


@dataclass
class _Options:
    url: str | None = None
    token: str | None = None
    as_json: bool = False


def _common_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--url``, ``--token`` and ``--json``, on the group and on every command."""
    function = click.option(
        "--json", "as_json", is_flag=True, default=None, help="Print JSON instead of text."
    )(function)
    function = click.option(
        "--token",
        envvar="CMS_TOKEN",
        default=None,
        help="API token (env CMS_TOKEN); needed for writes and drafts.",
    )(function)
    return click.option(
        "--url",
        envvar="CMS_URL",
        default=None,
        help="The site [default: env CMS_URL, else [site] base_url of ./settings.toml, "
        f"else {DEFAULT_URL}]",
    )(function)


def _default_url() -> str:
    """The base URL of the site in this folder, when there is one that loads."""
    from cms.core.settings import SettingsError, load_settings

    try:
        return load_settings(None).site.base_url
    except (SettingsError, OSError):
        return DEFAULT_URL


@click.group("client")
@_common_options
@click.pass_context
def client(ctx: click.Context, url: str | None, token: str | None, as_json: bool | None) -> None:
    """Work with the posts of a running cms site over its JSON API."""
    ctx.obj = _Options(url=url, token=token, as_json=bool(as_json))


def _options(url: str | None, token: str | None, as_json: bool | None) -> _Options:
    group = click.get_current_context().find_object(_Options) or _Options()
    return _Options(
        url=url or group.url or _default_url(),
        token=token or group.token,
        as_json=group.as_json if as_json is None else as_json,
    )


def _fail(message: str, code: int = 1) -> NoReturn:
    fail(message, code)


def _call(options: _Options, work: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``work`` with a client; API errors become one clear message and an exit status."""

    async def run() -> T:
        async with Client(options.url or DEFAULT_URL, options.token) as api:
            return await work(api)

    try:
        return asyncio.run(run())
    except PostChanged as error:
        _fail(
            error.message or "the post changed since it was read; nothing was changed",
            CONFLICT_EXIT,
        )
    except ApiError as error:
        lines = [
            f"{error.message} ({error.status} {error.code})" if error.status else error.message
        ]
        lines += [f"  {name}: {problem}" for name, problem in error.fields.items()]
        _fail("\n".join(lines))


def _print_post(post: Post, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(post.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"#{post.id} {post.title}")
    click.echo(f"  status:    {post.status}, version {post.version} (ETag {post.etag})")
    click.echo(f"  address:   /posts/{post.slug}")
    click.echo(f"  author:    {post.author or '-'}; last edited by {post.editor or '-'}")
    published = f"{post.published_at:%Y-%m-%d %H:%M} UTC" if post.published_at else "never"
    click.echo(f"  published: {published}; updated {post.updated_at:%Y-%m-%d %H:%M} UTC")
    for name, value in post.fields.items():
        click.echo(f"  {name}: {'-' if value is None else value}")
    if post.body:
        click.echo("")
        click.echo(post.body)


def _values(
    title: str | None,
    body: str | None,
    body_file: Path | None,
    slug: str | None,
    status: str | None,
    fields: tuple[str, ...],
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if body is not None and body_file is not None:
        raise click.UsageError("use --body or --body-file, not both")
    if body_file is not None:
        body = sys.stdin.read() if str(body_file) == "-" else body_file.read_text("utf-8")
    for name, value in (("title", title), ("body", body), ("slug", slug), ("status", status)):
        if value is not None:
            values[name] = value
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--field")
        # Sent as text: the server converts it to the field's type (numbers, true/false,
        # dates); an empty value clears the field.
        values[name.strip()] = value if value != "" else None
    return values


def _post_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(
        [
            click.option("--title", default=None, help="Title."),
            click.option("--body", default=None, help="Markdown body."),
            click.option(
                "--body-file",
                type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                default=None,
                help="Read the Markdown body from a file ('-': stdin).",
            ),
            click.option("--slug", default=None, help="Address: /posts/SLUG."),
            click.option("--status", type=click.Choice(["draft", "published"]), default=None),
            click.option(
                "--field",
                "fields",
                multiple=True,
                metavar="NAME=VALUE",
                help="A plugin field (repeatable).",
            ),
        ]
    ):
        function = decorator(function)
    return function


def _if_match(if_match: str | None, version: int | None, post_id: int) -> str | None:
    if if_match is not None and version is not None:
        raise click.UsageError("use --if-match or --version, not both")
    if version is not None:
        return f'"{post_id}-{version}"'
    return if_match


_ID = click.argument("post_id", type=click.IntRange(1, MAX_ID), metavar="ID")
_IF_MATCH = click.option(
    "--if-match", default=None, help="The ETag you read (from `get`); refuse if it changed."
)
_VERSION = click.option(
    "--version", type=int, default=None, help="The version you read; refuse if it changed."
)


@client.command("list")
@click.option("--status", type=click.Choice(["draft", "published"]), default=None)
@click.option("--author", default=None, help="Only posts by this username.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--after", default=None, help="Cursor of the page to show (from a previous list).")
@click.option("--all", "every", is_flag=True, help="Follow every page.")
@_common_options
def list_command(
    status: str | None,
    author: str | None,
    limit: int,
    after: str | None,
    every: bool,
    url: str | None,
    token: str | None,
    as_json: bool | None,
) -> None:
    """List posts, newest first."""
    options = _options(url, token, as_json)

    async def work(api: Client) -> tuple[list[Post], str | None]:
        if every:
            return [post async for post in api.iterate(status=status, author=author)], None
        page = await api.list(status=status, author=author, limit=limit, after=after)
        return page.posts, page.next

    posts, cursor = _call(options, work)
    if options.as_json:
        payload = {"data": [post.to_json() for post in posts], "meta": {"next": cursor}}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    if not posts:
        click.echo("No posts.")
    for post in posts:
        click.echo(
            f"#{post.id:<5} {post.status:<9} v{post.version:<3} "
            f"{post.updated_at:%Y-%m-%d %H:%M}  {post.slug}  {post.title}"
        )
    if cursor:
        click.echo(f"More: cms client list --after {cursor}")


@client.command("get")
@_ID
@_common_options
def get_command(post_id: int, url: str | None, token: str | None, as_json: bool | None) -> None:
    """Show post ID."""
    options = _options(url, token, as_json)
    post = _call(options, lambda api: api.get(post_id))
    _print_post(post, options.as_json)


@client.command("create")
@_post_options
@_common_options
def create_command(
    title: str | None,
    body: str | None,
    body_file: Path | None,
    slug: str | None,
    status: str | None,
    fields: tuple[str, ...],
    url: str | None,
    token: str | None,
    as_json: bool | None,
) -> None:
    """Create a post (--title is required)."""
    options = _options(url, token, as_json)
    if title is None:
        raise click.UsageError("--title is required")
    values = _values(title, body, body_file, slug, status, fields)
    post = _call(options, lambda api: api.create(**values))
    if options.as_json:
        _print_post(post, True)
    else:
        click.echo(f"Created post #{post.id} {post.title!r} ({post.status}, /posts/{post.slug}).")


@client.command("update")
@_ID
@_post_options
@_IF_MATCH
@_VERSION
@_common_options
def update_command(
    post_id: int,
    title: str | None,
    body: str | None,
    body_file: Path | None,
    slug: str | None,
    status: str | None,
    fields: tuple[str, ...],
    if_match: str | None,
    version: int | None,
    url: str | None,
    token: str | None,
    as_json: bool | None,
) -> None:
    """Change some fields of post ID.

    The change is sent with If-Match: the version given by --if-match/--version, else the
    one read just before. If the post changed since, nothing changes and the exit status is 3.
    """
    options = _options(url, token, as_json)
    values = _values(title, body, body_file, slug, status, fields)
    if not values:
        raise click.UsageError("nothing to change: give --title, --body, --status, --field...")
    expected = _if_match(if_match, version, post_id)

    async def work(api: Client) -> Post:
        etag = expected or (await api.get(post_id)).etag
        return await api.update(post_id, if_match=etag, **values)

    post = _call(options, work)
    if options.as_json:
        _print_post(post, True)
    else:
        click.echo(f"Updated post #{post.id} {post.title!r}: now version {post.version}.")


@client.command("delete")
@_ID
@_IF_MATCH
@_VERSION
@_common_options
def delete_command(
    post_id: int,
    if_match: str | None,
    version: int | None,
    url: str | None,
    token: str | None,
    as_json: bool | None,
) -> None:
    """Delete post ID (refused, exit status 3, if --if-match/--version is no longer current)."""
    options = _options(url, token, as_json)
    expected = _if_match(if_match, version, post_id)
    _call(options, lambda api: api.delete(post_id, if_match=expected))
    if options.as_json:
        click.echo(json.dumps({"deleted": post_id}))
    else:
        click.echo(f"Deleted post #{post_id}.")
