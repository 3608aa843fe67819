"""HEAD on every GET route: the GET's status and headers, no body (RFC 9110 §9.3.2).

aiohttp answers HEAD for ``web.get`` routes itself, but a ``web.View`` answers only the
methods it defines, so a class-based view without ``head`` gave 405. Rather than asking
every view (plugins' included) to remember, the routes are given HEAD where they are
added: a view class with ``get`` and no ``head`` is registered as a subclass whose
``head`` is its ``get``. aiohttp drops the body of any answer to a HEAD request and keeps
its headers (Content-Length included).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import hdrs, web

__all__ = ["with_head"]


def with_head(routes: Iterable[web.AbstractRouteDef]) -> list[web.AbstractRouteDef]:
    """``routes`` with HEAD answered wherever GET is."""
    return [_route_with_head(route) for route in routes]


def _route_with_head(route: web.AbstractRouteDef) -> web.AbstractRouteDef:
    if not isinstance(route, web.RouteDef) or route.method != hdrs.METH_ANY:
        return route
    handler = route.handler
    if not (isinstance(handler, type) and issubclass(handler, web.View)):
        return route
    if not hasattr(handler, "get") or hasattr(handler, "head"):
        return route
    view = type(handler.__name__, (handler,), {"head": _head, "__doc__": handler.__doc__})
    view.__module__ = handler.__module__
    view.__qualname__ = handler.__qualname__
    return web.RouteDef(route.method, route.path, view, route.kwargs)


async def _head(self: web.View) -> web.StreamResponse:
    response: web.StreamResponse = await self.get()  # type: ignore[attr-defined]
    return response
