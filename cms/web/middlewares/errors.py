"""Errors to themed pages, or JSON for the API: never a traceback to a visitor."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from cms.contracts import DependencyUnavailable
from cms.core import hookspecs
from cms.core.plugin_host import PluginError
from cms.web.keys import SITE_KEY

__all__ = ["RETRY_AFTER_SECONDS", "error_middleware", "is_api_request"]

log = logging.getLogger("cms")

RETRY_AFTER_SECONDS = "5"
_READS = frozenset({"GET", "HEAD"})


async def _redirected(request: web.Request) -> None:
    """A redirect added in the admin (Admin > Redirects) or by an import for an address
    nothing answers at: raise its 301. Only asked on a 404, so it costs the pages that
    exist nothing. A path with its trailing slash added or removed counts too (old sites
    wrote ``/2013/01/hello/``; readers and links drop the slash, and the other way round)."""
    site = request.app[SITE_KEY]
    path = request.path
    try:
        redirect = await site.storage.find_redirect(path)
        if redirect is None and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            redirect = await site.storage.find_redirect(other)
    except DependencyUnavailable:
        return  # the 404 it was: nothing more to say while the database is away
    if redirect is not None:
        location = redirect.target
        if request.query_string and "?" not in location and location.startswith("/"):
            location += "?" + request.query_string
        raise web.HTTPMovedPermanently(location=location)


def is_api_request(request: web.Request) -> bool:
    """Whether the request is for the JSON API (errors answer in JSON)."""
    return request.path == "/api" or request.path.startswith("/api/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into a themed page (or JSON for the API); never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404 and request.method in _READS and not is_api_request(request):
            await _redirected(request)
        return await _handle(request, exc)
    except asyncio.CancelledError:
        raise
    except DependencyUnavailable as exc:
        log.warning("%s %s: %s", request.method, request.path, exc)
        return await _handle(request, exc)
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return await _handle(request, exc)


async def _handle(request: web.Request, exc: BaseException) -> web.StreamResponse:
    site = request.app[SITE_KEY]
    try:
        response = await site.plugins.first(
            hookspecs.handle_exception, request=request, exception=exc, cms=site
        )
    except PluginError:
        log.exception("handle_exception failed for %s %s", request.method, request.path)
        response = None
    if isinstance(response, web.StreamResponse):
        return response
    status = exc.status if isinstance(exc, web.HTTPException) else 500
    return web.Response(status=status, text=f"{status}: something went wrong.\n")
