"""Hook specifications: the contract between cms and its plugins.

Every hook may be implemented by a plain function or an ``async def``; cms awaits
every result. The argument names below are the contract: an implementation may
accept any subset of them. ``cms`` is always the running :class:`cms.Site`.

The annotations say what cms passes and what it expects back (``None`` means "nothing to
add"); the core calls hooks through :meth:`cms.core.plugin_host.PluginHost.call` with
these functions, so mypy checks every call the core makes against them.

Name families (as Datasette's): ``register_*`` returns a list of things, ``extra_*`` adds to
a page, ``prepare_*`` changes what it is given, ``filter_*`` returns its input changed, and
``post_*``/``media_*``/``user_*`` are events told after the fact.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    import jinja2
    from aiohttp import web

    from cms.contracts import (
        AdminMenuItem,
        ImageHandlerBackend,
        Media,
        MediaStoreBackend,
        Post,
        PostField,
        SessionStoreBackend,
        StorageBackend,
        User,
    )
    from cms.core.site import Site

hookspec = pluggy.HookspecMarker("cms")
hookimpl = pluggy.HookimplMarker("cms")


@hookspec
def startup(cms: Site) -> None:
    """Run once when the site starts, after storage is open (may be async)."""


@hookspec
def prepare_app(app: web.Application, cms: Site) -> None:
    """Adjust the aiohttp application before it starts: add middlewares, cleanup contexts."""


@hookspec
def prepare_jinja2_environment(env: jinja2.Environment, cms: Site) -> None:
    """Adjust the Jinja2 environment: add filters, tests and globals."""


@hookspec
def register_routes(cms: Site) -> list[web.AbstractRouteDef] | None:
    """Return a list of ``web.view(path, ViewClass, name=...)`` route definitions."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to the ``cms`` command group."""


@hookspec
def register_storage_backends() -> list[StorageBackend] | None:
    """Return a list of :class:`cms.contracts.StorageBackend` that settings can name."""


@hookspec
def register_session_stores() -> list[SessionStoreBackend] | None:
    """Return a list of :class:`cms.contracts.SessionStoreBackend` that settings can name."""


@hookspec
def register_image_handlers() -> list[ImageHandlerBackend] | None:
    """Return a list of :class:`cms.contracts.ImageHandlerBackend` that settings can name."""


@hookspec
def register_media_stores() -> list[MediaStoreBackend] | None:
    """Return a list of :class:`cms.contracts.MediaStoreBackend` that ``[media]`` can name."""


@hookspec
def register_post_fields(cms: Site) -> list[PostField] | None:
    """Return a list of :class:`cms.PostField` to add to every post."""


@hookspec
def register_admin_menu_items(user: User, cms: Site) -> list[AdminMenuItem] | None:
    """Return :class:`cms.AdminMenuItem` entries for the admin's menu, as seen by ``user``."""


@hookspec
def permission_allowed(user: User | None, action: str, post: Post | None, cms: Site) -> bool | None:
    """Return True or False to decide whether ``user`` may do ``action``, or None for no opinion."""


@hookspec
def extra_template_vars(
    template: str | None, context: Mapping[str, Any], request: web.Request, cms: Site
) -> dict[str, Any] | None:
    """Return a dict of extra variables for the template about to be rendered."""


@hookspec
def extra_css_urls(template: str | None, request: web.Request, cms: Site) -> list[str] | None:
    """Return stylesheet URLs for the page about to be rendered (CSP allows their origins)."""


@hookspec
def extra_js_urls(template: str | None, request: web.Request, cms: Site) -> list[str] | None:
    """Return script URLs, loaded with ``defer``, for the page (CSP allows their origins)."""


@hookspec
def extra_head_html(template: str | None, request: web.Request, cms: Site) -> str | None:
    """Return HTML (meta and link tags; inline scripts are refused by the CSP) for ``<head>``."""


@hookspec
def prepare_post(post: MutableMapping[str, Any], request: web.Request | None, cms: Site) -> None:
    """Mutate a post's values (a dict) after validation, just before it is saved."""


@hookspec
def render_post_body(body: str, post: Mapping[str, Any], cms: Site) -> str | None:
    """Return HTML for a post's Markdown body, or None to leave it to the next plugin."""


@hookspec
def filter_post_html(html: str, post: Mapping[str, Any], cms: Site) -> str | None:
    """Return a post's rendered HTML changed (each plugin gets the previous one's), or None."""


@hookspec
def handle_exception(
    request: web.Request, exception: BaseException, cms: Site
) -> web.StreamResponse | None:
    """Return a response for an exception raised by a view, or None to pass."""


@hookspec
def post_saved(post: Post, created: bool, cms: Site) -> None:
    """React to a post that was just created or updated."""


@hookspec
def post_deleted(post: Post, cms: Site) -> None:
    """React to a post that was just deleted."""


@hookspec
def post_published(post: Post, cms: Site) -> None:
    """React to a post that has just become visible to readers."""


@hookspec
def post_unpublished(post: Post, cms: Site) -> None:
    """React to a post that readers can no longer see (back to draft, or deleted)."""


@hookspec
def veto_post_delete(post: Post, user: User | None, cms: Site) -> str | None:
    """Return a message to refuse deleting ``post`` (nothing is deleted), or None to allow it."""


@hookspec
def media_saved(media: Media, cms: Site) -> None:
    """React to an image just added to the media library."""


@hookspec
def media_deleted(media: Media, cms: Site) -> None:
    """React to an image just removed from the media library (its files are gone too)."""


@hookspec
def user_created(user: User, cms: Site) -> None:
    """React to a user account that was just created."""


@hookspec
def user_updated(user: User, cms: Site) -> None:
    """React to a user whose role, activity or password just changed."""
