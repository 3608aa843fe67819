"""Typed keys for what the application and each request carry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from cms.contracts import User
    from cms.core.site import Site
    from cms.web.client_address import Client

__all__ = ["CLIENT_KEY", "SITE_KEY", "USER_KEY"]

SITE_KEY: web.AppKey[Site] = web.AppKey("cms_site")
#: The signed-in user (or None), once a request has looked it up.
USER_KEY: web.RequestKey[User | None] = web.RequestKey("cms_user")
#: The visitor's address and scheme (cms.web.client_address), once a request has asked.
CLIENT_KEY: web.RequestKey[Client] = web.RequestKey("cms_client")
