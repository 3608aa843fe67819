"""Rendered public pages, kept by entity tag: a page renders once per version of what it shows.

A page's ``ETag`` (:mod:`cms.web.conditional_get`) is a digest of everything the page is made of:
the site (cms, theme, settings, plugins, template files), the content the view read from
storage on this request, the plugins' template variables and the visitor. Two requests
for the same URL whose tags are equal get the same page, which is what already lets a
browser keep a page and be answered 304. This cache is the same rule on the server's side,
as a shared HTTP cache that revalidates every request would apply it: the view still reads
the content from storage on every request (one query), computes the tag, and only the
template render (and the gzip of the result) is skipped when that tag was rendered before.
An edit changes the tag on the very next request to any worker or host; nothing here
expires by time and nothing has to be told about changes.

Only pages that anyone may be given are kept: anonymous visitors (no user, no CSRF token),
200 answers, and plugin template variables without callables (a function's ``repr`` does
not say what it will return). The budget is ``[server] page_cache_mb`` per process; the
least recently used pages leave first. ``--reload`` turns it off with the tags.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

from cms.web.compression import COMPRESS_MIN_BYTES, accepts_gzip, add_vary

__all__ = ["PAGE_CACHE_KEY", "CachedPage", "PageCache", "cacheable_extras"]

#: Bookkeeping per entry on top of the page's bytes (key, entry, dict slot), roughly.
_ENTRY_OVERHEAD = 400
#: One page may take at most this share of the budget.
_LARGEST_SHARE = 8


@dataclass(slots=True)
class CachedPage:
    """One rendered page (or an API list: ``content_type``), and its gzip form once a
    client asked for it."""

    body: bytes
    gzipped: bytes | None = None
    content_type: str = "text/html"

    @property
    def size(self) -> int:
        # Counted with room for its gzip form (HTML packs to about a quarter) from the start.
        return len(self.body) * 4 // 3 + _ENTRY_OVERHEAD

    def response(self, request: web.Request, headers: Mapping[str, str]) -> web.Response:
        """The page as an answer to ``request``: gzipped when it accepts gzip and the page is
        large enough (what :func:`cms.web.compression.compression_middleware` would do)."""
        response = web.Response(
            body=self.body, content_type=self.content_type, charset="utf-8", headers=headers
        )
        if len(self.body) >= COMPRESS_MIN_BYTES:
            add_vary(response, "Accept-Encoding")
            if accepts_gzip(request):
                if self.gzipped is None:
                    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                    self.gzipped = packer.compress(self.body) + packer.flush()
                response.body = self.gzipped
                response.headers["Content-Encoding"] = "gzip"
        return response


class PageCache:
    """Rendered pages by key, least recently used out first, within ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[tuple[str, ...], CachedPage] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pages)

    @staticmethod
    def key(request: web.Request, etag: str, template: str) -> tuple[str, ...]:
        """A page is its tag and its address (a template may show the URL or host)."""
        return (etag, template, request.scheme, request.host, request.path_qs)

    def get(self, key: tuple[str, ...]) -> CachedPage | None:
        page = self._pages.get(key)
        if page is None:
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return page

    def put(self, key: tuple[str, ...], body: bytes) -> CachedPage:
        """Keep ``body`` under ``key`` (unless it is too large to be worth a share)."""
        page = CachedPage(body)
        if page.size * _LARGEST_SHARE > self.max_bytes:
            return page
        old = self._pages.pop(key, None)
        if old is not None:
            self.size -= old.size
        self._pages[key] = page
        self.size += page.size
        while self.size > self.max_bytes and self._pages:
            _, dropped = self._pages.popitem(last=False)
            self.size -= dropped.size
        return page


def cacheable_extras(extras: Sequence[Mapping[str, object]]) -> bool:
    """Whether plugin template variables say all there is to know about the page by their
    ``repr`` (data), rather than holding functions the template will call."""
    return not any(callable(value) for extra in extras for value in extra.values())


PAGE_CACHE_KEY: web.AppKey[PageCache] = web.AppKey("cms_page_cache")
