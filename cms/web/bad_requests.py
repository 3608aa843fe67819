"""Requests aiohttp cannot read (a request line over 8,190 bytes, headers too large, bad
syntax) get the theme's 400 page and one line in the log, not a plain-text 400 and a
traceback.

aiohttp answers those before any application code runs: its ``RequestHandler.handle_error``
makes the answer, synchronously, and logs the parser's exception with its traceback.
``cms serve`` gives its server a handler class whose ``handle_error`` renders the theme's
error template instead (``errors/400.html`` or ``error.html``, with the menus as last
read and no visitor: the request could not be read, so nothing of it is trusted), adds
the headers every cms answer has, and logs ``400 for <address>: <what was wrong>`` at
INFO. Other errors (a handler's unexpected exception, 500) are aiohttp's as before; in
cms they never reach it, the error middleware answers them.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from cms.web.menus import MENU_CACHE_KEY
from cms.web.middlewares.security_headers import add_security_headers
from cms.web.templating import TEMPLATE_NAMES_KEY, choose_template

__all__ = ["serve_themed_bad_requests"]

log = logging.getLogger("cms")

_TITLE = "Bad request"
_MESSAGE = "This request could not be read: its address or its headers are too long or malformed."


class _ThemedRequestHandler(RequestHandler):
    """aiohttp's handler, with the theme's page for requests it could not read."""

    cms_app: web.Application

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status != 400 or not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        reason = (exc.message or str(exc)).splitlines()[0][:200]
        log.info("400 for %s: %s", request.remote, reason)
        response = web.Response(
            status=400, text=_page(self.cms_app, request), content_type="text/html"
        )
        add_security_headers(self.cms_app, response)
        response.force_close()
        return response


def _page(app: web.Application, request: web.BaseRequest) -> str:
    """The theme's 400 page; plain text if the theme itself fails."""
    try:
        env = aiohttp_jinja2.get_env(app)
        template = choose_template(
            env, ["errors/400.html", "error.html"], app.get(TEMPLATE_NAMES_KEY)
        )
        return template.render(
            request=request,
            user=None,
            csrf_token="",
            menus=app[MENU_CACHE_KEY].last_read(),
            status=400,
            title=_TITLE,
            message=_MESSAGE,
        )
    except Exception:
        log.exception("the theme's 400 page failed to render")
        return f"400 {_TITLE}\n{_MESSAGE}\n"


def serve_themed_bad_requests(server: web.Server, app: web.Application) -> None:
    """Make ``server`` (an ``AppRunner``'s, before its sites listen) create handlers that
    answer unreadable requests with the theme's 400 (see the module's notes)."""
    server.__class__ = _ThemedServer
    server.cms_app = app  # type: ignore[attr-defined]


class _ThemedServer(web.Server):
    def __call__(self) -> RequestHandler:
        kwargs: Any = self._kwargs
        handler = _ThemedRequestHandler(self, loop=self._loop, **kwargs)
        handler.cms_app = self.cms_app  # type: ignore[attr-defined]
        return handler
