"""``cms serve --reload``: see changes without restarting by hand.

Two parts:

- In the serving process, templates and static files reload in place: Jinja2 re-reads a
  changed template (``auto_reload``), and a middleware notices added, removed or changed
  files in the template and static folders, clearing Jinja2's cache and re-indexing the
  static files' cache-busting names. The next request shows the change.
- A supervisor process (``serve_with_reload``) runs ``cms serve`` as a child and restarts
  it, through ``watchfiles``, when something a running process cannot take in changes:
  ``settings.toml``, a ``theme.toml``, site plugins or any Python file.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from watchfiles import Change, DefaultFilter, run_process

from cms.core.file_stamps import file_stamps
from cms.core.settings import Settings
from cms.core.site import Site

__all__ = [
    "RestartFilter",
    "enable_live_reload",
    "serve_args",
    "serve_with_reload",
    "watched_roots",
]

log = logging.getLogger("cms")


def enable_live_reload(app: web.Application, site: Site, env: jinja2.Environment) -> None:
    """Reload templates and static files in place (for ``--reload``; not for production:
    every request looks at the theme's files first)."""
    from cms.web.templating import plugin_template_dirs

    template_dirs = [
        site.settings.base_dir / "templates",
        *site.theme.template_dirs,
        *(path for paths in plugin_template_dirs(site.plugins).values() for path in paths),
    ]
    static_dirs = site.theme.static_dirs
    seen = {
        "templates": file_stamps(template_dirs),
        "static": file_stamps(static_dirs),
    }

    @web.middleware
    async def live_reload(request: web.Request, handler: Handler) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        templates, static = await asyncio.gather(
            loop.run_in_executor(None, file_stamps, template_dirs),
            loop.run_in_executor(None, file_stamps, static_dirs),
        )
        if static != seen["static"]:
            seen["static"] = static
            await loop.run_in_executor(None, site.theme.collect_static)
            log.info("static files changed: re-indexed")
        if templates != seen["templates"]:
            seen["templates"] = templates
            # A new override must win over a template Jinja2 cached from a lower folder.
            if env.cache is not None:
                env.cache.clear()
        return await handler(request)

    app.middlewares.append(live_reload)


class RestartFilter(DefaultFilter):
    """The changes that need a new process: settings, theme manifests, Python code.
    Templates and static files are left to the serving process (``enable_live_reload``)."""

    def __init__(self, settings_file: Path) -> None:
        super().__init__()
        self.settings_file = settings_file.resolve()

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        changed = Path(path)
        return (
            changed.suffix == ".py"
            or changed.name == "theme.toml"
            or changed.resolve() == self.settings_file
        )


def watched_roots(settings: Settings) -> list[Path]:
    """The site's folder (settings, plugins, themes), a plugins folder outside it, and
    cms's own code and bundled themes; nested folders are watched once."""
    from importlib.resources import files

    import cms
    from cms.core.theming import bundled_themes_dir

    candidates = [
        settings.base_dir,
        Path(cms.__file__).parent,
        Path(str(files("cms.plugins"))),
        bundled_themes_dir(),
    ]
    if settings.plugins.dir:
        candidates.append(settings.resolve_path(settings.plugins.dir))
    existing = sorted({path.resolve() for path in candidates if path.is_dir()})
    roots: list[Path] = []
    for path in existing:
        if not any(path.is_relative_to(root) for root in roots):
            roots.append(path)
    return roots


def serve_args(
    settings_path: Path | None, host: str | None, port: int | None, theme: str | None
) -> list[str]:
    """The ``cms serve`` options to hand on to the child, as given on the command line."""
    args: list[str] = []
    for option, value in (
        ("--settings", settings_path),
        ("--host", host),
        ("--port", port),
        ("--theme", theme),
    ):
        if value is not None:
            args += [option, str(value)]
    return args


def serve_with_reload(settings: Settings, serve_args: Sequence[str]) -> int:
    """Run ``cms serve SERVE_ARGS`` in a child process, restarting it on changes that need
    it; return when interrupted (Ctrl+C or SIGTERM, which stop the child too)."""
    command = shlex.join([sys.executable, "-m", "cms", "serve", *serve_args, "--reload-child"])
    roots = watched_roots(settings)
    settings_file = settings.path or settings.base_dir / "settings.toml"
    log.info("reload: watching %s", ", ".join(str(root) for root in roots))

    def announce(changes: set[tuple[Change, str]]) -> None:
        names = sorted({Path(path).name for _, path in changes})
        log.info("reload: %s changed; restarting", ", ".join(names))

    return run_process(
        *roots,
        target=command,
        target_type="command",
        watch_filter=RestartFilter(settings_file),
        callback=announce,
        # Settle quickly: one save is often several file events.
        debounce=800,
    )
