"""Hook specifications: the contract between cms and its plugins.

Every hook may be implemented by a plain function or an ``async def``; cms awaits
every result. The argument names below are the contract: an implementation may
accept any subset of them. ``cms`` is always the running :class:`cms.Site`.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("cms")
hookimpl = pluggy.HookimplMarker("cms")


@hookspec
def startup(cms: Any) -> Any:
    """Run once when the site starts, after storage is open (may be async)."""


@hookspec
def prepare_app(app: Any, cms: Any) -> Any:
    """Adjust the aiohttp application before it starts: add middlewares, cleanup contexts."""


@hookspec
def prepare_jinja2_environment(env: Any, cms: Any) -> Any:
    """Adjust the Jinja2 environment: add filters, tests and globals."""


@hookspec
def register_routes(cms: Any) -> Any:
    """Return a list of ``web.view(path, ViewClass, name=...)`` route definitions."""


@hookspec
def register_commands(cli: Any) -> Any:
    """Add click commands to the ``cms`` command group."""


@hookspec
def register_storage_backends() -> Any:
    """Return a list of :class:`cms.contracts.StorageBackend` that settings can name."""


@hookspec
def register_session_stores() -> Any:
    """Return a list of :class:`cms.contracts.SessionStoreBackend` that settings can name."""


@hookspec
def register_image_handlers() -> Any:
    """Return a list of :class:`cms.contracts.ImageHandlerBackend` that settings can name."""


@hookspec
def register_post_fields(cms: Any) -> Any:
    """Return a list of :class:`cms.PostField` to add to every post."""


@hookspec
def extra_template_vars(template: Any, context: Any, request: Any, cms: Any) -> Any:
    """Return a dict of extra variables for the template about to be rendered."""


@hookspec
def prepare_post(post: Any, request: Any, cms: Any) -> Any:
    """Mutate a post's values (a dict) after validation, just before it is saved."""


@hookspec
def render_post_body(body: Any, post: Any, cms: Any) -> Any:
    """Return HTML for a post's Markdown body, or None to leave it to the next plugin."""


@hookspec
def handle_exception(request: Any, exception: Any, cms: Any) -> Any:
    """Return a response for an exception raised by a view, or None to pass."""


@hookspec
def post_saved(post: Any, created: Any, cms: Any) -> Any:
    """React to a post that was just created or updated."""


@hookspec
def post_deleted(post: Any, cms: Any) -> Any:
    """React to a post that was just deleted."""
