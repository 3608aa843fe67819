"""The references: bare aiohttp handlers answering the bench's post page from memory.

Three, on three paths of one server, so cms is measured against each in the same run:

- ``/posts/{slug}`` (**theme**): the default theme's post template rendered per request,
  with the same template chain, filters and globals as cms (``cms.web.templating``), the
  same post and menus (read once from the bench site's database at start-up) and the same
  route names for the templates' links: the very page cms serves, byte for byte.
- ``/plain/posts/{slug}`` (**ceiling**): a plain Jinja2 template rendered per request,
  the same page with its literal parts as text and the post's title and HTML as
  variables (made from the theme's page once, see :func:`plain_template_source`): what a
  page costs when the template does nothing but insert the post. The issue "Speed" rates
  cms against this.
- ``/limit/posts/{slug}`` (**limit**): the same page's bytes from memory: the stack's own
  cost of answering a request (aiohttp, the event loop, the socket).

Same event loop as cms (uvloop when installed), no access log: what is left between these
and ``cms serve`` is cms's own work per request (routing through views and middlewares,
the query, sessions, headers, logging).

    python -m bench.reference_server --settings SITE/settings.toml --slug post-500 --port 8200
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import escape

from cms.core.settings import load_settings
from cms.core.site import Site
from cms.web.template_context import use_theme_context
from cms.web.templating import ENVIRONMENT_OPTIONS, THEME_FILTERS, build_loader, route_urls


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


def plain_template_source(page: str, post: Any) -> str:
    """The theme's rendered ``page`` as a plain template: its literal parts as raw text,
    the post's HTML and every occurrence of its (escaped) title as variables."""
    body, title = str(post.html), str(escape(post.title))
    if page.count(body) != 1:
        raise SystemExit("the post's HTML is not in its page once: no plain template")
    parts = []
    for number, literal in enumerate(page.split(body)):
        pieces = literal.split(title)
        parts.append("{{ post.title }}".join(_raw(piece) for piece in pieces))
        if number == 0:
            parts.append("{{ post.html|safe }}")
    return "".join(parts)


def _raw(text: str) -> str:
    return "{% raw %}" + text + "{% endraw %}" if text else ""


def build_app(site: Site, post: Any, menus: Any = None) -> web.Application:
    """The reference application: the three references (see the module's notes)."""
    app = web.Application()
    made: dict[str, Any] = {}

    def theme_page(request: web.Request) -> str:
        context = {
            "request": request,
            "user": None,
            "csrf_token": "",
            "menus": menus or {},
            "post": post,
            "fields": site.fields,
        }
        return template.render(context)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=theme_page(request), content_type="text/html", charset="utf-8")

    def _made(request: web.Request) -> None:
        # From the first request's page (the theme's page does not depend on which).
        page = theme_page(request)
        made["bytes"] = page.encode()
        made["plain"] = jinja2.Environment(autoescape=True).from_string(
            plain_template_source(page, post)
        )
        if made["plain"].render(post=post) != page:
            raise SystemExit("the plain template does not give the theme's page")

    async def limit(request: web.Request) -> web.Response:
        if "bytes" not in made:
            _made(request)
        return web.Response(body=made["bytes"], content_type="text/html", charset="utf-8")

    async def plain(request: web.Request) -> web.Response:
        if "plain" not in made:
            _made(request)
        return web.Response(
            text=made["plain"].render(post=post), content_type="text/html", charset="utf-8"
        )

    app.router.add_get("/posts/{slug}", handler, name="post")
    app.router.add_get("/plain/posts/{slug}", plain)
    app.router.add_get("/limit/posts/{slug}", limit)
    for name, path in route_paths(site).items():
        if name != "post":
            app.router.add_get(path, handler, name=name)

    # Autoescaping is on, as in cms: ENVIRONMENT_OPTIONS; templates are not looked at
    # again once loaded, as in cms without --reload; calls go through cms's ThemeContext.
    env = use_theme_context(
        jinja2.Environment(  # noqa: S701
            loader=build_loader(site), auto_reload=False, **ENVIRONMENT_OPTIONS
        )
    )
    theme = site.theme

    def static(path: str) -> str:
        return f"/static/{theme.name}/{theme.static_names[path.lstrip('/')]}"

    env.globals.update(
        static=static, url=route_urls(app.router), site=site.settings.site, theme=theme.settings
    )
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
