"""HEAD on every GET route: the GET's status and headers, no body (RFC 9110 §9.3.2).

aiohttp answers HEAD for ``web.get`` routes itself, but a ``web.View`` answers only the
methods it defines, so a class-based view without ``head`` gave 405. Rather than asking
every view (plugins' included) to remember, routes are added with HEAD where they are
added: a view class with ``get`` and no ``head`` gets a HEAD route of its resource, in
front of the view's own, that runs its ``get``. aiohttp drops the body of any answer to a
HEAD request and keeps its headers (Content-Length included).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

__all__ = ["add_routes_with_head"]


def add_routes_with_head(router: web.UrlDispatcher, routes: Iterable[web.AbstractRouteDef]) -> None:
    """Add ``routes`` to ``router``, with HEAD answered wherever GET is."""
    for route in routes:
        view = _view_without_head(route)
        if view is None:
            route.register(router)
            continue
        assert isinstance(route, web.RouteDef)
        kwargs = dict(route.kwargs)
        resource = router.add_resource(route.path, name=kwargs.pop("name", None))
        resource.add_route(hdrs.METH_HEAD, _head_of(view))
        resource.add_route(hdrs.METH_ANY, view, **kwargs)


def _view_without_head(route: web.AbstractRouteDef) -> type[web.View] | None:
    if not isinstance(route, web.RouteDef) or route.method != hdrs.METH_ANY:
        return None
    handler = route.handler
    if not (isinstance(handler, type) and issubclass(handler, web.View)):
        return None
    if not hasattr(handler, "get") or hasattr(handler, "head"):
        return None
    return handler


def _head_of(view: type[web.View]) -> Handler:
    async def head(request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = await view(request).get()  # type: ignore[attr-defined]
        return response

    head.__qualname__ = head.__name__ = f"{view.__name__}.head"
    # Middlewares read a view's class attributes off the matched handler (``permission``,
    # ``streams_uploads``, a plugin's own): the HEAD handler carries the same ones, so a
    # HEAD is checked exactly as the GET is.
    for klass in reversed(view.__mro__):
        for name, value in vars(klass).items():
            if (
                not name.startswith("_")
                and not callable(value)
                and not isinstance(value, (property, classmethod, staticmethod))
            ):
                setattr(head, name, value)
    return head
