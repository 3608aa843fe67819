"""CSRF: every unsafe request carries the session's token and comes from this site (Origin)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from cms.web.auth import check_csrf
from cms.web.keys import SITE_KEY
from cms.web.middlewares.errors import is_api_request
from cms.web.uploads import leading_csrf_token, streams_uploads
from cms.web.visitor import client_scheme

__all__ = ["UNSAFE_METHODS", "csrf_middleware"]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
