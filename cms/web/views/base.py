"""The one base class for cms views: the site, the user, and themed rendering."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp_jinja2
from aiohttp import web

from cms.contracts import MAX_ID, Cursor, DependencyUnavailable, MenuItem, Post, User
from cms.core import hookspecs
from cms.core.site import Site
from cms.web.admin_menu import admin_menu
from cms.web.auth import allowed, csrf_token, current_user
from cms.web.conditional_get import page_validators
from cms.web.fast_pages import FAST_PAGES_KEY, request_stamp
from cms.web.keys import SITE_KEY
from cms.web.menus import MENU_CACHE_KEY
from cms.web.page_assets import PageAssets, page_assets
from cms.web.page_cache import PAGE_CACHE_KEY, cacheable_extras
from cms.web.templating import TEMPLATE_NAMES_KEY, choose_template

__all__ = ["BaseView", "decode_cursor", "encode_cursor"]


class BaseView(web.View):
    """Base for every cms view.

    ``permission`` names what the user must be allowed to do (see ``cms.web.auth.allowed``);
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

    def id_param(self, what: str = "item", name: str = "id") -> int:
        """An id from the URL; one no row can have is a 404 here, not an overflow later."""
        try:
            value = int(self.request.match_info[name])
        except ValueError:
            value = 0
        if not 0 < value <= MAX_ID:
            raise web.HTTPNotFound(reason=f"There is no such {what}")
        return value

    async def authorize(self, permission: str, post: Post | None = None) -> User:
        """Object-level check: raise 403 unless the user may do ``permission`` to ``post``."""
        user = await self.user()
        if user is None or not await allowed(self.site, user, permission, post):
            raise web.HTTPForbidden(reason="Your role does not allow this")
        return user

    async def editable_post(self) -> tuple[Post, User]:
        """The post (or page) in the URL and the user, when that user may edit it: 404 when
        there is none, 403 when they may not (a page also takes ``pages.manage``)."""
        post = await self.site.storage.get_post(self.id_param("post"))
        if post is None:
            raise web.HTTPNotFound(reason="There is no such post")
        user = await self.authorize("posts.edit", post)
        if post.kind == "page":
            await self.authorize("pages.manage")
        return post, user

    async def render(
        self,
        templates: str | Sequence[str],
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
        validate: Sequence[object] | None = None,
        last_modified: datetime | None = None,
    ) -> web.Response:
        """Render the first template of ``templates`` that exists, through the theme chain.

        ``validate`` (what the page shows that can change) turns on conditional GET: see
        :func:`render_page`.
        """
        return await render_page(
            self.request,
            templates,
            context,
            status=status,
            forms=self.uses_forms,
            validate=validate,
            last_modified=last_modified,
        )


async def render_page(
    request: web.Request,
    templates: str | Sequence[str],
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    forms: bool = False,
    validate: Sequence[object] | None = None,
    last_modified: datetime | None = None,
    error_page: bool = False,
) -> web.Response:
    """Render a themed page; used by views and by the error handler.

    With ``validate`` the page gets an ``ETag`` (see :mod:`cms.web.conditional_get`) made of it,
    the visitor and the plugins' template variables, and a request that holds the same
    tag is answered 304 without rendering; a page any visitor may be given is rendered
    once per tag (see :mod:`cms.web.page_cache`). An ``error_page`` renders even while the
    session store or the database is down.
    """
    site = request.app[SITE_KEY]
    env = aiohttp_jinja2.get_env(request.app)
    names = [templates] if isinstance(templates, str) else list(templates)
    template = choose_template(env, names, request.app.get(TEMPLATE_NAMES_KEY))
    # An error page (the 503 among them) must render while the session store or the
    # database is down: it goes out as for a visitor, without what could not be loaded.
    try:
        user = await current_user(request)
        token = await csrf_token(request, create=forms or user is not None)
    except DependencyUnavailable:
        if not error_page:
            raise
        user, token = None, ""
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf_token": token,
        "menus": await _menus(request, template.name or "", error_page=error_page),
        **(context or {}),
    }
    if site.plugins.implements(hookspecs.extra_template_vars):
        try:
            extras = await site.plugins.call(
                hookspecs.extra_template_vars,
                template=template.name,
                context=values,
                request=request,
                cms=site,
            )
        except DependencyUnavailable:
            if not error_page:
                raise
            extras = []
        for extra in extras:
            values.update(extra)
    else:
        extras = []
    if user is not None and (template.name or "").startswith("admin/"):
        values["admin_menu"] = await admin_menu(request, site, user)
    assets = await page_assets(request, site, template.name)
    if assets is not None:
        values.update(assets.template_vars())
        extras = [*extras, assets.template_vars()]
    validators = None
    if validate is not None:
        validators = page_validators(
            request,
            # The menus are on every page: editing them changes every page's tag.
            [*validate, values["menus"]],
            user=user,
            token=token,
            extras=extras,
            last_modified=last_modified,
        )
        if (answer := validators.not_modified(request)) is not None:
            return answer
        cache = request.app.get(PAGE_CACHE_KEY)
        if (
            cache is not None
            and validators.etag is not None
            and status == 200
            and user is None
            and not token
            and cacheable_extras(extras)
        ):
            # A page anyone may be given: rendered once per tag (cms.web.page_cache).
            key = cache.key(request, validators.etag, template.name or names[0])
            page = cache.get(key)
            if page is None:
                page = cache.put(key, template.render(values).encode())
            fast = request.app.get(FAST_PAGES_KEY)
            if fast is not None and assets is None:
                # Answered again from memory while nothing changes (cms.web.fast_pages).
                await fast.keep(request, page, validators)
            return _with_policy(page.response(request, validators.headers), assets)
    response = web.Response(
        text=template.render(values), status=status, content_type="text/html", charset="utf-8"
    )
    if validators is not None:
        validators.apply(response)
    return _with_policy(response, assets)


async def _menus(
    request: web.Request, template: str, *, error_page: bool
) -> dict[str, list[MenuItem]]:
    """The site's navigation menus for a public page (the admin has its own menu). An
    error page renders without them while storage is down."""
    if template.startswith("admin/"):
        return {}
    try:
        return await request.app[MENU_CACHE_KEY].get(request_stamp(request))
    except Exception:
        if not error_page:
            raise
        return {}


def _with_policy(response: web.Response, assets: PageAssets | None) -> web.Response:
    """The page's own Content-Security-Policy, where plugins' files need more origins."""
    if assets is not None and (policy := assets.policy) is not None:
        response.headers["Content-Security-Policy"] = policy
    return response


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
        moment = datetime.fromisoformat(when)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        post_id = int(ident)
        if not 0 < post_id <= MAX_ID:
            raise ValueError(ident)
        return moment, post_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise web.HTTPBadRequest(
            reason="That page link is damaged; start from the first page"
        ) from None
