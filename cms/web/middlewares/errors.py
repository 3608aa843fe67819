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
