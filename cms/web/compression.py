"""gzip for HTML and JSON answers large enough to gain from it."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["COMPRESS_MIN_BYTES", "accepts_gzip", "add_vary", "compression_middleware"]

#: Below this, gzip's header and the CPU cost outweigh the bytes saved.
COMPRESS_MIN_BYTES = 1024
_COMPRESSIBLE = frozenset({"text/html", "application/json", "application/problem+json"})


def accepts_gzip(request: web.Request) -> bool:
    """Whether the client takes gzip-coded answers."""
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


def add_vary(response: web.StreamResponse, header: str) -> None:
    """Name ``header`` in the response's ``Vary`` (once)."""
    vary = response.headers.get("Vary")
    if vary is None:
        response.headers["Vary"] = header
    elif header.lower() not in vary.lower():
        response.headers["Vary"] = f"{vary}, {header}"


@web.middleware
async def compression_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Compress a whole-body ``Response`` of an HTML or JSON type past the threshold, when
    the client accepts gzip (aiohttp negotiates the coding and sets Content-Encoding).
    An answer that comes coded already (a cached page's gzip form) goes as it is."""
    response = await handler(request)
    if (
        isinstance(response, web.Response)
        and "Content-Encoding" not in response.headers
        and response.content_type in _COMPRESSIBLE
        and response.body is not None
        and isinstance(response.body, bytes)
        and len(response.body) >= COMPRESS_MIN_BYTES
    ):
        # The representation depends on Accept-Encoding, compressed or not.
        add_vary(response, "Accept-Encoding")
        if accepts_gzip(request):
            response.enable_compression(web.ContentCoding.gzip)
    return response
