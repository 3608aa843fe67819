"""``cms serve``: one process, N workers, or a reloading development server."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from aiohttp.log import access_logger

from cms import __version__
from cms.cli.options import (
    fail,
    load_or_fail,
    run_or_fail,
    settings_option,
)
from cms.contracts import DependencyUnavailable, SchemaOutOfDate
from cms.core.plugin_host import PluginError
from cms.core.settings import SettingsError

__all__ = ["serve"]

_load = load_or_fail
_run = run_or_fail


@click.command()
@settings_option
@click.option("--host", default=None, help="Interface to listen on [default: [server] host]")
@click.option("--port", type=int, default=None, help="Port [default: [server] port]")
@click.option("--theme", default=None, help="Theme to use [default: [site] theme]")
@click.option(
    "--reload",
    is_flag=True,
    help="Development: reload templates and static files on change; restart on changes "
    "to settings, plugins or Python code",
)
@click.option("--reload-child", is_flag=True, hidden=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Processes serving the port, each with its own event loop [default: [server] workers, 1]",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request (to stderr); off saves a write per request",
)
@click.option("--worker-ready-fd", type=int, default=None, hidden=True)
@click.option("--worker-lifeline-fd", type=int, default=None, hidden=True)
def serve(
    settings_path: Path | None,
    host: str | None,
    port: int | None,
    theme: str | None,
    reload: bool,
    reload_child: bool,
    workers: int | None,
    access_log: bool,
    worker_ready_fd: int | None,
    worker_lifeline_fd: int | None,
) -> None:
    """Serve the site (creates or extends the database schema first)."""
    from cms.cli.workers import new_event_loop, signal_ready, watch_lifeline
    from cms.core.site import Site
    from cms.web.app import create_app
    from cms.web.live_reload import serve_args
    from cms.web.serving import serve_until_stopped

    if reload and (workers or 1) > 1:
        fail("--reload runs one process: leave out --workers")
    settings = _load(settings_path, server={"host": host, "port": port, "workers": workers})
    # A worker is one process; so is --reload (its child serves), whatever [server] says.
    workers = 1 if reload or worker_ready_fd is not None else settings.server.workers
    if reload and not reload_child:
        from cms.web.live_reload import serve_with_reload

        try:  # bad settings stop here, not in a restart loop
            _run(Site(settings, theme=theme).configure())
        except PluginError as error:
            fail(str(error))
        serve_with_reload(settings, serve_args(settings_path, host, port, theme))
        return
    if reload_child:
        from cms.cli.workers import die_with_parent

        die_with_parent()
    try:
        site = Site(settings, theme=theme)
        app = _run(create_app(site, auto_reload_templates=reload_child))
    except PluginError as error:
        fail(str(error))
    processes = f" in {workers} worker processes" if workers > 1 else ""
    ready = (
        f"cms {__version__}: serving {settings.site.title!r} with theme {site.theme_name!r} "
        f"on http://{settings.server.host}:{settings.server.port}/{processes} (Ctrl+C to stop)"
    )
    try:
        if workers > 1:
            from cms.cli.workers import WorkerFailed, check_port_free, migrate_once, supervise

            check_port_free(settings.server.host, settings.server.port)
            _run(migrate_once(site))
            args = serve_args(settings_path, host, port, theme)
            args += [] if access_log else ["--no-access-log"]
            try:
                sys.exit(
                    supervise(
                        args, workers, ready, shutdown_timeout=settings.server.shutdown_timeout
                    )
                )
            except WorkerFailed as error:
                fail(str(error), code=1)
        worker = worker_ready_fd is not None
        loop = new_event_loop()
        if worker_lifeline_fd is not None:
            watch_lifeline(loop, worker_lifeline_fd)

        def listening() -> None:
            # Runs once the server listens, after start-up hooks succeeded.
            if worker_ready_fd is not None:
                signal_ready(worker_ready_fd)
            else:
                click.echo(ready, err=True)

        # Until SIGTERM or Ctrl+C; then requests in flight finish (cms.web.serving).
        serve_until_stopped(
            app,
            loop=loop,
            host=settings.server.host,
            port=settings.server.port,
            # Workers share the port; the kernel spreads connections over them.
            reuse_port=True if worker else None,
            access_log=access_logger if access_log else None,
            shutdown_timeout=settings.server.shutdown_timeout,
            on_listening=listening,
        )
    except (SettingsError, PluginError) as error:  # raised while starting (startup hooks)
        fail(str(error))
    except DependencyUnavailable as error:
        fail(f"cannot start: {error}", code=1)
    except SchemaOutOfDate as error:
        where = f" --settings {settings_path}" if settings_path else ""
        fail(f"cannot start: {error}; run: cms migrate{where}", code=1)
    except OSError as error:  # e.g. the port is taken
        fail(f"cannot listen on {settings.server.host}:{settings.server.port}: {error}", code=1)
