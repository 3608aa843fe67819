"""A test plugin package that ships a template: ``/widget`` renders
``widget_plugin/widget.html`` from its own ``templates/widget_plugin/`` folder, so a theme
or the site can override it. Its top-level ``templates/index.html`` must never be used:
plugin templates are found only under the package's own name."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cms import hookimpl
from cms.web.views.base import BaseView


class WidgetView(BaseView):
    """``GET /widget``: the plugin's own page, rendered through the theme chain."""

    async def get(self) -> web.Response:
        return await self.render("widget_plugin/widget.html", {"greeting": "Hello, widget"})


@hookimpl
def register_routes(cms: Any) -> list[web.RouteDef]:
    return [web.view("/widget", WidgetView, name="widget")]
