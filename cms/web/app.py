"""The application factory: one Site, one aiohttp application, resources in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import jinja2
from aiohttp import web
from aiohttp_session import session_middleware

from cms.content.publications import announce_publications
from cms.content.search_index import fill_search_index
from cms.core import hookspecs
from cms.core.settings import Settings
from cms.core.site import Site
from cms.core.startup_migration import migrate_at_startup
from cms.web.compression import compression_middleware
from cms.web.conditional_get import FRESHNESS_KEY, disabled_freshness, site_fingerprint
from cms.web.fast_pages import FAST_PAGES_KEY, fast_page_middleware, fast_pages_for
from cms.web.head_requests import add_routes_with_head
from cms.web.keys import SITE_KEY
from cms.web.live_reload import enable_live_reload
from cms.web.menus import MENU_CACHE_KEY, MenuCache
from cms.web.middlewares import (
    canonical_slash_middleware,
    csrf_middleware,
    error_middleware,
    permission_middleware,
    security_headers,
)
from cms.web.page_cache import PAGE_CACHE_KEY, PageCache
from cms.web.static_files import STATIC_CACHE_KEY, StaticCache
from cms.web.templating import TEMPLATE_NAMES_KEY, setup_templates

__all__ = ["create_app"]


async def create_app(
    settings: Settings | Site,
    *,
    theme: str | None = None,
    auto_reload_templates: bool = False,
) -> web.Application:
    """Build the application for a site; SettingsError or PluginError if it cannot run."""
    site = settings if isinstance(settings, Site) else Site(settings, theme=theme)
    await site.configure()
    app = web.Application(
        middlewares=[
            fast_page_middleware,
            canonical_slash_middleware,
            compression_middleware,
            error_middleware,
            session_middleware(site.sessions.storage),
            csrf_middleware,
            permission_middleware,
        ],
        client_max_size=16 * 1024 * 1024,
    )
    app[SITE_KEY] = site
    env = setup_templates(app, site, auto_reload=auto_reload_templates)
    if auto_reload_templates:
        enable_live_reload(app, site, env)
    await site.plugins.call(hookspecs.prepare_jinja2_environment, env=env, cms=site)
    # Work that does not depend on the request is done once, here, unless --reload
    # lets templates change under the running site.
    if auto_reload_templates:
        app[TEMPLATE_NAMES_KEY] = None
        app[FRESHNESS_KEY] = disabled_freshness()
    else:
        app[TEMPLATE_NAMES_KEY] = _template_names(env)
        app[FRESHNESS_KEY] = site_fingerprint(site)
        if site.settings.server.page_cache_mb:
            cache = app[PAGE_CACHE_KEY] = PageCache(
                site.settings.server.page_cache_mb * 1024 * 1024
            )
            fast = fast_pages_for(site, cache)
            if fast is not None:
                app[FAST_PAGES_KEY] = fast
        # Not under --reload: there a changed file keeps its name until the restart.
        app[STATIC_CACHE_KEY] = StaticCache()
    app[MENU_CACHE_KEY] = MenuCache(site.storage)
    add_routes_with_head(app.router, site.routes)
    site.reserved_slugs = site.reserved_slugs | _route_slugs(app.router)
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(_backends)
    await site.plugins.call(hookspecs.prepare_app, app=app, cms=site)
    return app


def _route_slugs(router: web.UrlDispatcher) -> frozenset[str]:
    """The first path segment of every route with a fixed one (``/login``, ``/api/...``):
    a page at that slug would never be reached."""
    slugs: set[str] = set()
    for resource in router.resources():
        first = resource.canonical.lstrip("/").split("/", 1)[0]
        if first and "{" not in first:
            slugs.add(first)
    return frozenset(slugs)


def _template_names(env: jinja2.Environment) -> frozenset[str] | None:
    """Every template name the environment can load, or None when a loader (a plugin's)
    cannot list its templates: then each render looks names up as before."""
    try:
        return frozenset(env.list_templates())
    except TypeError:
        return None


async def _backends(app: web.Application) -> AsyncIterator[None]:
    """Open storage (creating or extending its schema), sessions, the media store and the
    image handler; close them after."""
    site = app[SITE_KEY]
    await site.storage.open()
    try:
        await migrate_at_startup(site.storage)
        await site.sessions.open()
        try:
            if site.media is not None:
                await site.media.open()
            if site.images is not None:
                await site.images.open()
            await site.plugins.call(hookspecs.startup, cms=site)
            background = [
                asyncio.create_task(announce_publications(site), name="cms-publications"),
                asyncio.create_task(fill_search_index(site), name="cms-search-index"),
            ]
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            if site.images is not None:
                await site.images.close()
            if site.media is not None:
                await site.media.close()
            await site.sessions.close()
    finally:
        await site.storage.close()
