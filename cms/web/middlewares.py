"""Middlewares: errors to themed pages or JSON, CSRF with Origin, permissions, headers."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from cms.contracts import DependencyUnavailable
from cms.core import hookspecs
from cms.core.plugin_host import PluginError
from cms.web.auth import allowed, check_csrf, current_user
from cms.web.client_address import client_scheme
from cms.web.keys import SITE_KEY
from cms.web.page_assets import CONTENT_SECURITY_POLICY
from cms.web.uploads import leading_csrf_token, streams_uploads

__all__ = [
    "csrf_middleware",
    "error_middleware",
    "is_api_request",
    "permission_middleware",
    "security_headers",
]

log = logging.getLogger("cms")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
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


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unsafe requests need a same-origin ``Origin`` (when sent) and the session's token.

    The token comes from the ``X-CSRF-Token`` header or the form's ``csrf_token``; for
    views that stream uploads (``streams_uploads``) it must be the form's first part.

    API calls that carry no ambient credentials are exempt: those with an
    ``Authorization`` header (the API views then judge them by it alone, never by the
    session) and those without a session cookie (nothing to forge; the views answer 401).
    """
    if request.method not in UNSAFE_METHODS or _api_call_without_cookie_auth(request):
        return await handler(request)
    if not _same_origin(request):
        raise web.HTTPForbidden(reason="Cross-site request refused")
    submitted = request.headers.get("X-CSRF-Token")
    if (
        submitted is None
        and request.content_type == "multipart/form-data"
        and streams_uploads(request)
    ):
        # Never the whole form in memory: the token must be the first part (cms.web.uploads).
        submitted = await leading_csrf_token(request)
    elif submitted is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get("csrf_token")
        submitted = value if isinstance(value, str) else None
    if not await check_csrf(request, submitted):
        raise web.HTTPForbidden(reason="Form expired or was not sent from this site")
    return await handler(request)


def _api_call_without_cookie_auth(request: web.Request) -> bool:
    if not is_api_request(request):
        return False
    if "Authorization" in request.headers:
        return True
    return request.app[SITE_KEY].sessions.storage.cookie_name not in request.cookies


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True  # Non-browser clients; the CSRF token still has to match.
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "null":
        return False
    # The scheme the visitor used: a trusted proxy may have ended their https.
    allowed = {f"{client_scheme(request)}://{request.host}".lower()}
    base = urlsplit(request.app[SITE_KEY].settings.site.base_url)
    allowed.add(f"{base.scheme}://{base.netloc}".lower())
    return origin.lower() in allowed


@web.middleware
async def permission_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce a view's ``permission`` class attribute: the one place roles are checked.

    Views check object-level rules (an author's own posts) with ``cms.web.auth.can``.
    """
    view = request.match_info.handler
    permission = getattr(view, "permission", None)
    if permission is None:
        return await handler(request)
    user = await current_user(request)
    if user is None:
        if is_api_request(request):
            raise web.HTTPUnauthorized(reason="Sign in or send a bearer token")
        login = request.app.router["login"].url_for().with_query(next=request.path_qs)
        raise web.HTTPFound(login)
    if not await allowed(request.app[SITE_KEY], user, permission):
        raise web.HTTPForbidden(reason="Your role does not allow this")
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: headers every response gets, errors and static files too."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if request.app[SITE_KEY].settings.site.base_url.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
