"""A test plugin: a new page at ``/hello``, added through ``register_routes``.

Written as a site plugin would be (one module, public ``cms`` API only), so tests can
also copy it into a site's ``plugins/`` folder.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cms import hookimpl
from cms.web.views.base import BaseView


class HelloView(BaseView):
    """``GET /hello``: a plain greeting that names the site."""

    async def get(self) -> web.Response:
        return web.Response(text=f"Hello from a plugin on {self.site.settings.site.title}")


@hookimpl
def register_routes(cms: Any) -> list[web.RouteDef]:
    return [web.view("/hello", HelloView, name="hello")]
