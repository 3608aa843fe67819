"""The Jinja2 environment: the template lookup chain and the helpers themes use.

Lookup order (first match wins): the site's ``templates/`` folder, the theme, its
parents, plugin templates, then the bundled default theme. ``default:NAME`` always reaches
the bundled default theme's template, and ``<theme>:NAME`` the template of that theme of the
chain, so an override can extend the one it replaces.

Plugin templates live in the plugin package's ``templates/<package name>/`` folder and are
found as ``<package name>/...``, below the theme, so a theme can override them.

Every file loader here is path-safe: a template name with ``..``, an absolute path, a
backslash or a NUL never matches, and a link that leads outside its folder is not read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from cms.core.plugin_host import PluginHost
from cms.core.site import Site
from cms.core.theming import DEFAULT_THEME, Theme, bundled_themes_dir
from cms.web.auth import can
from cms.web.template_context import use_theme_context

__all__ = [
    "ENVIRONMENT_OPTIONS",
    "TEMPLATE_NAMES_KEY",
    "THEME_FILTERS",
    "URL_CACHE_SIZE",
    "ThemeFileLoader",
    "build_loader",
    "choose_template",
    "plugin_template_dirs",
    "route_urls",
    "setup_templates",
    "template_name_parts",
    "theme_loader",
]

#: Options of every cms Jinja2 environment (the site's and ``cms themes check``'s).
ENVIRONMENT_OPTIONS: dict[str, Any] = {
    "autoescape": True,
    "trim_blocks": True,
    "lstrip_blocks": True,
}


def _format_date(value: Any, fmt: str = "%-d %B %Y") -> str:
    return value.strftime(fmt) if value is not None else ""


def _machine_time(value: Any) -> str:
    """A time for ``<time datetime>`` (and feeds): ISO 8601 to the second, with its offset.
    Python's own isoformat() writes microseconds, which HTML's datetime does not allow."""
    return value.isoformat(timespec="seconds") if value is not None else ""


def _json_ld(value: Any) -> Markup:
    """Structured data for search engines (schema.org): ``{{ {...}|json_ld }}`` writes a
    ``<script type="application/ld+json">`` data block. Browsers never run it (the
    Content-Security-Policy is not involved); ``<``, ``>`` and ``&`` are written as JSON
    escapes, so no text in it can end the element or open another."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    # Safe: the text is JSON with every character that HTML reads escaped (above).
    return Markup(f'<script type="application/ld+json">{text}</script>')  # noqa: S704


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return _machine_time(value)
    raise TypeError(f"{type(value).__name__} is not JSON-LD")


#: Filters cms gives every theme.
THEME_FILTERS: dict[str, Callable[..., Any]] = {
    "date": _format_date,
    "iso": _machine_time,
    "json_ld": _json_ld,
}

#: Every template name the loader chain knows, listed at start-up; None under --reload.
TEMPLATE_NAMES_KEY: web.AppKey[frozenset[str] | None] = web.AppKey("cms_template_names")


def choose_template(
    env: jinja2.Environment, names: Sequence[str], known: frozenset[str] | None
) -> jinja2.Template:
    """The first of ``names`` that exists. With ``known`` (the names listed at start-up),
    names that do not exist (``post-<slug>.html``, say) cost a set lookup instead of a
    walk through every folder of the loader chain on every request."""
    if known is not None:
        for name in names:
            if name in known:
                try:
                    return env.get_template(name)
                except jinja2.TemplateNotFound:
                    continue  # listed but refused (a link out of its folder): try the next
    return env.select_template(names)


def template_name_parts(name: str) -> list[str] | None:
    """The path segments of a template name, or None when it could leave its folder."""
    if not name or "\\" in name or "\0" in name or name.startswith("/"):
        return None
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return parts


class ThemeFileLoader(jinja2.BaseLoader):
    """Templates from folders, first folder first, never from outside them.

    Unlike ``jinja2.FileSystemLoader`` it also refuses links that lead out of a folder,
    so a theme cannot make cms read, say, ``/etc/passwd``.
    """

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(folder) for folder in folders]

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        parts = template_name_parts(template)
        if parts is not None:
            for folder in self.folders:
                found = _inside(folder, parts)
                if found is None:
                    continue
                try:
                    mtime = found.stat().st_mtime_ns
                    source = found.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                return source, str(found), _unchanged_since(found, mtime)
        raise jinja2.TemplateNotFound(template)

    def list_templates(self) -> list[str]:
        names: set[str] = set()
        for folder in self.folders:
            names.update(_template_names(folder))
        return sorted(names)


def _inside(folder: Path, parts: Sequence[str]) -> Path | None:
    """``folder/parts`` when it is a file that really lies inside ``folder``."""
    try:
        root = folder.resolve(strict=True)
        found = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not found.is_relative_to(root) or not found.is_file():
        return None
    return found


def _unchanged_since(path: Path, mtime: int) -> Callable[[], bool]:
    def uptodate() -> bool:
        try:
            return path.stat().st_mtime_ns == mtime
        except OSError:
            return False

    return uptodate


def _template_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    root = folder.resolve()
    names: list[str] = []
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(base, d).resolve().is_relative_to(root)]
        for file in files:
            path = Path(base, file)
            if path.resolve().is_relative_to(root):
                names.append(path.relative_to(root).as_posix())
    return names


def plugin_template_dirs(plugins: PluginHost) -> dict[str, list[Path]]:
    """Plugin template folders by the name they are found under (the package's name)."""
    folders: dict[str, list[Path]] = {}
    for plugin in plugins.plugins.values():
        if plugin.templates_dir is None:
            continue
        namespace = plugin.templates_dir.parent.name
        folders.setdefault(namespace, []).append(plugin.templates_dir / namespace)
    return folders


def theme_loader(
    theme: Theme,
    *,
    site_templates: Path | None = None,
    plugin_templates: Mapping[str, Sequence[Path]] | None = None,
) -> jinja2.BaseLoader:
    """The lookup chain for ``theme`` (see the module's docstring)."""
    default_dir = bundled_themes_dir() / DEFAULT_THEME / "templates"
    theme_dirs = theme.template_dirs
    chain: list[jinja2.BaseLoader] = []
    if site_templates is not None:
        # Even when the folder does not exist yet: live reload sees it once it does.
        chain.append(ThemeFileLoader([site_templates]))
    chain.append(ThemeFileLoader(theme_dirs))
    if plugin_templates:
        # "<package>/name.html" is looked up only in that package's own folder.
        chain.append(
            jinja2.PrefixLoader(
                {name: ThemeFileLoader(dirs) for name, dirs in plugin_templates.items()},
                delimiter="/",
            )
        )
    if default_dir not in theme_dirs:
        chain.append(ThemeFileLoader([default_dir]))
    # "<theme>:name.html" reaches that theme's own template, so a child can extend the very
    # template it overrides; "default:" is always the bundled default theme.
    prefixes: dict[str, jinja2.BaseLoader] = {
        member.name: ThemeFileLoader([member.path / "templates"]) for member in theme.chain
    }
    prefixes[DEFAULT_THEME] = ThemeFileLoader([default_dir])
    return jinja2.ChoiceLoader([jinja2.PrefixLoader(prefixes, delimiter=":"), *chain])


def build_loader(site: Site) -> jinja2.BaseLoader:
    """The loader chain for ``site``'s theme, site overrides and plugins."""
    return theme_loader(
        site.theme,
        site_templates=site.settings.base_dir / "templates",
        plugin_templates=plugin_template_dirs(site.plugins),
    )


#: Addresses ``url()`` keeps (name and parts to path); all are forgotten when full.
URL_CACHE_SIZE = 4096


def route_urls(router: web.UrlDispatcher) -> Callable[..., str]:
    """Templates' ``url(name, **parts)``: the path of a named route. A route's path for the
    same parts never changes (routes are fixed once the application starts), so each is
    built by the router once and kept: a post page asks for a dozen (7 µs each)."""
    known: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    def url(name: str, **parts: Any) -> str:
        key = (name, tuple((part, str(value)) for part, value in parts.items()))
        found = known.get(key)
        if found is None:
            if len(known) >= URL_CACHE_SIZE:
                known.clear()
            found = known[key] = str(router[name].url_for(**dict(key[1])))
        return found

    return url


def setup_templates(
    app: web.Application, site: Site, *, auto_reload: bool = False
) -> jinja2.Environment:
    """Create the environment, give it the theme helpers, and let plugins adjust it."""
    env = use_theme_context(
        aiohttp_jinja2.setup(
            app, loader=build_loader(site), auto_reload=auto_reload, **ENVIRONMENT_OPTIONS
        )
    )
    theme = site.theme

    def static(path: str) -> str:
        # Read the index at call time: live reload swaps it when files change.
        hashed = theme.static_names.get(path.lstrip("/"))
        if hashed is None:
            raise jinja2.TemplateRuntimeError(
                f"static file {path!r} is not in theme {theme.name!r} or its parents"
            )
        return f"/static/{theme.name}/{hashed}"

    env.globals.update(
        can=can,
        static=static,
        url=route_urls(app.router),
        site=site.settings.site,
        theme=theme.settings,
    )
    env.filters.update(THEME_FILTERS)
    return env
