"""Permissions: a view's ``permission`` checked before it runs, the one place for roles."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from cms.web.auth import allowed, current_user
from cms.web.keys import SITE_KEY
from cms.web.middlewares.errors import is_api_request

__all__ = ["permission_middleware"]


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
