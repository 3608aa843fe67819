"""The one base class for cms views: the site, the user, and themed rendering."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import aiohttp_jinja2
from aiohttp import web

from cms.auth import can, csrf_token, current_user
from cms.contracts import Cursor, Post, User
from cms.keys import SITE_KEY
from cms.site import Site

__all__ = ["BaseView", "decode_cursor", "encode_cursor"]


class BaseView(web.View):
    """Base for every cms view.

    ``permission`` names what the user must be allowed to do (see ``cms.auth.can``);
    ``permission_middleware`` enforces it before the view runs. ``uses_forms`` makes
    every render carry a CSRF token, so visitors get a session only where they need one.
    """

    permission: ClassVar[str | None] = None
    uses_forms: ClassVar[bool] = False

    @property
    def site(self) -> Site:
        return self.request.app[SITE_KEY]

    async def user(self) -> User | None:
        return await current_user(self.request)

    async def authorize(self, permission: str, post: Post | None = None) -> User:
        """Object-level check: raise 403 unless the user may do ``permission`` to ``post``."""
        user = await self.user()
        if not can(user, permission, post):
            raise web.HTTPForbidden(reason="Your role does not allow this")
        assert user is not None
        return user

    async def render(
        self,
        templates: str | Sequence[str],
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
    ) -> web.Response:
        """Render the first template of ``templates`` that exists, through the theme chain."""
        return await render_page(
            self.request, templates, context, status=status, forms=self.uses_forms
        )


async def render_page(
    request: web.Request,
    templates: str | Sequence[str],
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    forms: bool = False,
) -> web.Response:
    """Render a themed page; used by views and by the error handler."""
    site = request.app[SITE_KEY]
    env = aiohttp_jinja2.get_env(request.app)
    names = [templates] if isinstance(templates, str) else list(templates)
    template = env.select_template(names)
    user = await current_user(request)
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf_token": await csrf_token(request, create=forms or user is not None),
        **(context or {}),
    }
    if site.plugins.implements("extra_template_vars"):
        for extra in await site.plugins.call(
            "extra_template_vars", template=template.name, context=values, request=request, cms=site
        ):
            values.update(extra)
    return web.Response(
        text=template.render(values), status=status, content_type="text/html", charset="utf-8"
    )


def encode_cursor(post_time: datetime, post_id: int) -> str:
    """An opaque page position for keyset pagination."""
    raw = f"{post_time.isoformat()}|{post_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(value: str | None) -> Cursor | None:
    """Read a cursor from a query string; a damaged one is a 400, never a 500."""
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        when, _, ident = raw.partition("|")
        return datetime.fromisoformat(when), int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(
            reason="That page link is damaged; start from the first page"
        ) from None
