"""Typed keys for what the application and each request carry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from cms.contracts import User
    from cms.core.site import Site
    from cms.web.visitor import Visitor

__all__ = ["CLIENT_KEY", "SITE_KEY", "USER_KEY", "VISITOR_KEY"]

SITE_KEY: web.AppKey[Site] = web.AppKey("cms_site")
#: The signed-in user (or None), once a request has looked it up.
USER_KEY: web.RequestKey[User | None] = web.RequestKey("cms_user")
#: The visitor's address and scheme (cms.web.visitor), once a request has asked.
VISITOR_KEY: web.RequestKey[Visitor] = web.RequestKey("cms_visitor")
#: The name of cms 0.1 for :data:`VISITOR_KEY`.
CLIENT_KEY = VISITOR_KEY
