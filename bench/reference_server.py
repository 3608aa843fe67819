"""The ceiling: a bare aiohttp handler rendering the default theme's post page from memory.

The same template chain, filters and globals as cms (``cms.web.templating``), the same post
and menus (read once from the bench site's database at start-up), the same route names for
the templates' links, the same event loop (uvloop when installed): what is left between
this and ``cms serve`` is cms's own work per request (routing through views and
middlewares, the query, sessions, headers).

    python -m bench.reference_server --settings SITE/settings.toml --slug post-500 --port 8200
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import jinja2
from aiohttp import web

from cms.core.settings import load_settings
from cms.core.site import Site
from cms.web.templating import ENVIRONMENT_OPTIONS, THEME_FILTERS, build_loader


def route_paths(site: Site) -> dict[str, str]:
    """Every named route of the cms site (tags, authors, admin...) with the path cms gives
    it: the templates' ``url()`` links come out the same. Only ``post`` is ever requested."""
    return {
        definition.kwargs["name"]: definition.path
        for definition in site.routes
        if isinstance(definition, web.RouteDef) and definition.kwargs.get("name")
    }


async def _load(settings_path: str, slug: str) -> tuple[Site, Any, Any]:
    """The site, the post and the site's menus (every page shows them), read once."""
    site = Site(load_settings(settings_path))
    await site.configure()
    await site.storage.open()
    try:
        post = await site.storage.get_post_by_slug(slug, status="published", kind="post")
        menus = await site.storage.get_menus()
    finally:
        await site.storage.close()
    if post is None:
        raise SystemExit(f"no published post {slug!r} in {settings_path}")
    return site, post, menus


def build_app(site: Site, post: Any, menus: Any = None) -> web.Application:
    """The reference application: one route, the page rendered from memory."""
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        context = {
            "request": request,
            "user": None,
            "csrf_token": "",
            "menus": menus or {},
            "post": post,
            "fields": site.fields,
        }
        return web.Response(
            text=template.render(context), content_type="text/html", charset="utf-8"
        )

    app.router.add_get("/posts/{slug}", handler, name="post")
    for name, path in route_paths(site).items():
        if name != "post":
            app.router.add_get(path, handler, name=name)

    # Autoescaping is on, as in cms: ENVIRONMENT_OPTIONS.
    env = jinja2.Environment(loader=build_loader(site), **ENVIRONMENT_OPTIONS)  # noqa: S701
    theme = site.theme

    def static(path: str) -> str:
        return f"/static/{theme.name}/{theme.static_names[path.lstrip('/')]}"

    def url(name: str, **parts: Any) -> str:
        return str(app.router[name].url_for(**{key: str(value) for key, value in parts.items()}))

    env.globals.update(static=static, url=url, site=site.settings.site, theme=theme.settings)
    env.filters.update(THEME_FILTERS)
    # Plugins' template helpers (the media library's image functions, say) are part of
    # the page too.
    asyncio.run(site.plugins.call("prepare_jinja2_environment", env=env, cms=site))
    template = env.get_template("post.html")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True)
    parser.add_argument("--slug", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("CMS_SECRET_KEY", "bench secret key, not for production")
    site, post, menus = asyncio.run(_load(args.settings, args.slug))
    app = build_app(site, post, menus)
    from cms.cli.workers import new_event_loop

    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=lambda _: print("reference server ready", flush=True),
        loop=new_event_loop(),
    )


if __name__ == "__main__":
    main()
