"""Headers every response gets: no sniffing, no framing, the Content-Security-Policy, HSTS."""

from __future__ import annotations

from aiohttp import web

from cms.web.keys import SITE_KEY
from cms.web.page_assets import CONTENT_SECURITY_POLICY

__all__ = ["add_security_headers", "security_headers"]


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: headers every response gets, errors and static files too."""
    add_security_headers(request.app, response)


def add_security_headers(app: web.Application, response: web.StreamResponse) -> None:
    """The headers of :func:`security_headers`, for an answer no request handler made (a
    request aiohttp could not read: see ``cms.web.bad_requests``)."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if app[SITE_KEY].settings.site.base_url.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
