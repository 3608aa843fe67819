"""The Jinja2 environment: the template lookup chain and the helpers themes use.

Lookup order (first match wins): the site's ``templates/`` folder, the theme, its
parents, plugin templates, then the default theme. ``default:NAME`` always reaches the
default theme's template, so an override can extend the one it replaces.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from cms.site import Site
from cms.theming import DEFAULT_THEME, load_theme

__all__ = ["build_loader", "setup_templates"]


def build_loader(site: Site) -> jinja2.BaseLoader:
    """The loader chain for ``site``'s theme."""
    theme = site.theme
    default_dirs = [str(t.path / "templates") for t in theme.chain if t.name == DEFAULT_THEME] or [
        str(path) for path in load_theme(DEFAULT_THEME).template_dirs
    ]
    chain: list[jinja2.BaseLoader] = []
    site_templates = site.settings.base_dir / "templates"
    if site_templates.is_dir():
        chain.append(jinja2.FileSystemLoader(str(site_templates)))
    chain.append(
        jinja2.FileSystemLoader(
            [str(path) for path in theme.template_dirs if str(path) not in default_dirs]
        )
    )
    plugin_dirs = [
        str(plugin.templates_dir)
        for plugin in site.plugins.plugins.values()
        if plugin.templates_dir is not None
    ]
    if plugin_dirs:
        chain.append(jinja2.FileSystemLoader(plugin_dirs))
    default_loader = jinja2.FileSystemLoader(default_dirs)
    chain.append(default_loader)
    return jinja2.ChoiceLoader(
        [jinja2.PrefixLoader({DEFAULT_THEME: default_loader}, delimiter=":"), *chain]
    )


def setup_templates(
    app: web.Application, site: Site, *, auto_reload: bool = False
) -> jinja2.Environment:
    """Create the environment, give it the theme helpers, and let plugins adjust it."""
    env = aiohttp_jinja2.setup(
        app,
        loader=build_loader(site),
        autoescape=True,
        auto_reload=auto_reload,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    theme = site.theme
    static_names = theme.static_names

    def static(path: str) -> str:
        hashed = static_names.get(path.lstrip("/"))
        if hashed is None:
            raise jinja2.TemplateRuntimeError(
                f"static file {path!r} is not in theme {theme.name!r} or its parents"
            )
        return f"/static/{theme.name}/{hashed}"

    def url(name: str, **parts: Any) -> str:
        return str(app.router[name].url_for(**{key: str(value) for key, value in parts.items()}))

    env.globals.update(
        static=static,
        url=url,
        site=site.settings.site,
        theme=theme.settings,
    )
    env.filters["date"] = _format_date
    return env


def _format_date(value: Any, fmt: str = "%-d %B %Y") -> str:
    return value.strftime(fmt) if value is not None else ""
