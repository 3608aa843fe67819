"""``GET /search?q=``: published posts and pages that say what was asked, best first."""

from __future__ import annotations

from html import escape

from aiohttp import web
from markupsafe import Markup

from cms.contracts import SearchHit, SearchSyntaxError, parse_search
from cms.web.views.base import BaseView

__all__ = ["RESULTS", "SearchView", "marked_snippet"]

#: Results on the page (the best ones; a search is refined rather than paged through).
RESULTS = 20


def marked_snippet(hit: SearchHit) -> Markup:
    """The hit's passage as HTML: its text escaped, the matching words in ``<mark>``."""
    text = escape(hit.snippet, quote=False)
    return Markup(text.replace("\x01", "<mark>").replace("\x02", "</mark>"))  # noqa: S704


class SearchView(BaseView):
    """The search page: the form, then the results (``search.html``). A query that cannot
    be searched (an unclosed quote, no word in it) is a 400 saying why, on the same page."""

    async def get(self) -> web.Response:
        text = self.request.query.get("q", "")
        context: dict[str, object] = {"query": text, "results": None, "error": None}
        status = 200
        if text.strip():
            try:
                query = parse_search(text)
            except SearchSyntaxError as error:
                context["error"] = str(error)
                status = 400
            else:
                hits = await self.site.storage.search_posts(query, limit=RESULTS)
                context["results"] = [
                    {"post": hit.post, "snippet": marked_snippet(hit)} for hit in hits
                ]
        return await self.render("search.html", context, status=status)
