"""Anonymous pages answered from memory while nothing stored has changed.

The page cache (:mod:`cms.web.page_cache`) skips the render of a page whose entity tag was
rendered before, but every request still reads what the page shows (one query), so an
edit shows on the very next request to any worker or host. With a storage backend that
can tell without a query whether anything changed (:class:`~cms.contracts.ChangeStamps`:
SQLite's data version, which any commit by any process changes), this goes one step
further: an address answered to an anonymous visitor from the page cache is answered
again from memory, before any middleware, view or query, for as long as

- the storage's change stamp is the one seen before the page was read, and still was
  after it was rendered (any commit since, by any process, and the page is read again);
- the time is before the next moment public reads change by time alone: the publication
  time of the next scheduled post (asked of storage once per change stamp);
- the request is a GET from an anonymous visitor: no cookie, no ``Authorization``;
- no plugin adds to pages per request (``extra_template_vars``, ``extra_css_urls``,
  ``extra_js_urls``, ``extra_head_html``) besides cms's own image helper, which reads
  storage only: such a plugin's additions could change with no commit, so a site that
  has one keeps the page cache without this.

The answer is the page cache's own (the same bytes, the same gzip form, the same
``ETag``, ``Last-Modified`` and caching headers; a matching ``If-None-Match`` gets its
304). Nothing here expires by time or has to be told about changes; a backend without
change stamps (PostgreSQL) has every request read, as before. ``--reload`` turns it off
with the page cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from cms.contracts import ChangeStamps
from cms.core import hookspecs
from cms.core.site import Site
from cms.web.conditional_get import PageValidators
from cms.web.page_cache import CachedPage, PageCache

__all__ = [
    "FAST_PAGES_KEY",
    "FastPages",
    "fast_page_middleware",
    "fast_pages_for",
    "request_stamp",
]

#: Per-request hooks whose implementations could change a page without a commit.
_PAGE_HOOKS = (
    hookspecs.extra_template_vars,
    hookspecs.extra_css_urls,
    hookspecs.extra_js_urls,
    hookspecs.extra_head_html,
)
#: cms's own implementations of those hooks, which read storage only.
_OWN_PLUGINS = frozenset({"cms.media"})
#: The change stamp a request saw before anything was read for it.
_STAMP = "cms_fast_pages_stamp"
_NEVER = float("inf")


def request_stamp(request: web.Request) -> object | None:
    """The change stamp this request saw before anything was read for it, when the fast
    path asked (an anonymous GET on a storage with stamps), else None. What is read for
    the request after it is at least as new as the stamp says, so a cache kept by stamp
    (the menus) may take it instead of asking storage again: asking costs little alone,
    but it lets the reading threads have the interpreter lock, and the event loop waits
    for it back (a third of a page's time at 100,000 posts went to three such asks)."""
    stamp: object | None = request.get(_STAMP)
    return stamp


@dataclass(slots=True)
class _Answer:
    page: CachedPage
    validators: PageValidators


class FastPages:
    """Answers kept for the current change stamp, by address; all dropped when it changes
    or when the time of the next scheduled publication comes."""

    def __init__(self, storage: ChangeStamps, cache: PageCache) -> None:
        self._storage = storage
        #: The page cache whose pages these are (its budget; a kept answer is its hit).
        self._cache = cache
        self.max_bytes = cache.max_bytes
        self.size = 0
        self.hits = 0
        self._stamp: object | None = None
        #: Answers are good before this (``time.time()``); None until asked of storage.
        self._until: float | None = None
        self._answers: dict[tuple[str, str, str], _Answer] = {}

    def __len__(self) -> int:
        return len(self._answers)

    @staticmethod
    def _key(request: web.Request) -> tuple[str, str, str]:
        return (request.scheme, request.host, request.path_qs)

    def _reset(self, stamp: object | None) -> None:
        self._stamp, self._until = stamp, None
        self._answers.clear()
        self.size = 0

    def answer(self, request: web.Request) -> web.StreamResponse | None:
        """The kept answer to ``request`` (an anonymous GET), or None: then the request
        goes the usual way, with the stamp it saw noted for :meth:`keep`."""
        stamp = self._storage.change_stamp()
        request[_STAMP] = stamp
        if stamp is None:
            return None
        if stamp != self._stamp:
            self._reset(stamp)
            return None
        if self._until is None:
            return None
        if time.time() >= self._until:
            self._reset(stamp)  # a scheduled post is visible now: read everything again
            return None
        found = self._answers.get(self._key(request))
        if found is None:
            return None
        self.hits += 1
        self._cache.hits += 1
        not_modified = found.validators.not_modified(request)
        if not_modified is not None:
            return not_modified
        return found.page.response(request, found.validators.headers)

    async def keep(
        self, request: web.Request, page: CachedPage, validators: PageValidators
    ) -> None:
        """Keep the page just answered from the page cache to an anonymous ``request``,
        if nothing was committed since the request began."""
        stamp = request.get(_STAMP)
        if stamp is None or stamp != self._stamp:
            return
        key = self._key(request)
        if key in self._answers or self.size + page.size > self.max_bytes:
            return  # before asking storage: a long tail of pages soon fills the budget
        if self._until is None:
            until = await self._storage.next_visibility_change()
            if self._stamp != stamp:
                return
            self._until = _NEVER if until is None else until.timestamp()
        # What the page was read and rendered from is what this stamp says only if no
        # commit came in between: ask again.
        if self._storage.change_stamp() != stamp:
            self._reset(None)
            return
        if key in self._answers or self.size + page.size > self.max_bytes:
            return  # another request kept it (or filled the budget) while this one waited
        self._answers[key] = _Answer(page, validators)
        self.size += page.size


def fast_pages_for(site: Site, cache: PageCache) -> FastPages | None:
    """The site's fast pages, or None when its storage has no change stamps or a plugin
    adds to pages per request (see the module's notes)."""
    storage: Any = site.storage
    if not isinstance(storage, ChangeStamps):
        return None
    for hook in _PAGE_HOOKS:
        for name in site.plugins.implementers(hook):
            if name not in _OWN_PLUGINS:
                return None
    return FastPages(storage, cache)


FAST_PAGES_KEY: web.AppKey[FastPages] = web.AppKey("cms_fast_pages")


@web.middleware
async def fast_page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The first middleware: a kept answer for an anonymous GET, else the usual way."""
    fast = request.app.get(FAST_PAGES_KEY)
    if (
        fast is not None
        and request.method == "GET"
        and "Cookie" not in request.headers
        and "Authorization" not in request.headers
    ):
        answer = fast.answer(request)
        if answer is not None:
            return answer
    return await handler(request)
