"""Serving the application on a port, and stopping without cutting a request.

``cms serve`` (one process, each ``--workers`` worker, the ``--reload`` child) runs the
app here instead of ``aiohttp.web.run_app``. On SIGTERM or SIGINT (Ctrl+C):

1. the listening socket is closed: new connections are refused (with ``--workers``,
   every worker does this at once);
2. connections idle between requests (keep-alive) are closed right away;
3. the app's ``on_shutdown`` hooks run (aiohttp's place for closing websockets and
   streams, which would otherwise hold the wait below until its end);
4. every request already accepted is served to the end, its body still arriving
   included, for up to ``[server] shutdown_timeout`` seconds. Its answer says
   ``Connection: close`` and the connection is closed after it, as is any connection
   that falls idle meanwhile;
5. what is still running then gets aiohttp's own end (``web.Server.shutdown``): its
   handler has ``CUT_GRACE`` seconds more, then its reads fail, it is cancelled and
   its connection closed;
6. the app's cleanup (``cleanup_ctx``: storage, sessions, images) runs and ``cms serve``
   exits 0.

A second SIGTERM or SIGINT during step 4 skips the rest of the wait: steps 5 and 6 run at
once. A signal that comes while the app is still starting stops it there.

Why not ``aiohttp.web.run_app``: in aiohttp 3.14 (the version this was written against),
``BaseRunner.cleanup()`` calls ``Server.pre_shutdown()`` before it waits for handlers,
which calls ``RequestHandler.close()`` on every connection, busy or idle. A closed
handler's ``data_received()`` drops every byte that arrives after that (``if
self._force_close or self._close: return``), so a handler still reading an upload waits
for bytes that never come until the timeout cuts it, and its client gets no answer (the
race aiohttp issue #2298 describes). Since aiohttp 3.9 (the shutdown redesign, #7718)
``shutdown_timeout`` belongs to the runner and is how long ``RequestHandler.shutdown()``
waits for a handler, then again for its cancellation; here the runner's is only
``CUT_GRACE``, for step 5; ``[server] shutdown_timeout`` is the wait of step 4.
``handler_cancellation`` stays off (``web.Server``'s default in 3.14): a client that
disconnects makes its handler's reads and writes fail, it is not cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler

from cms.web.access_log import AccessLog
from cms.web.bad_requests import serve_themed_bad_requests

__all__ = ["serve_app", "serve_until_stopped"]

log = logging.getLogger("cms")

#: Seconds an idle keep-alive connection stays open while serving (run_app's default).
KEEPALIVE_TIMEOUT = 75.0
#: Seconds between two looks at the connections while waiting for requests in flight.
POLL_INTERVAL = 0.05
#: Seconds a handler still running at the end of the wait gets before it is cancelled.
CUT_GRACE = 0.5
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve_until_stopped(
    app: web.Application,
    *,
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    reuse_port: bool | None,
    access_log: logging.Logger | None,
    shutdown_timeout: float,
    on_listening: Callable[[], None],
) -> None:
    """:func:`serve_app` on ``loop``, which is closed after (as ``run_app`` does)."""
    asyncio.set_event_loop(loop)
    main = loop.create_task(
        serve_app(
            app,
            host=host,
            port=port,
            reuse_port=reuse_port,
            access_log=access_log,
            shutdown_timeout=shutdown_timeout,
            on_listening=on_listening,
        )
    )
    try:
        loop.run_until_complete(main)
    except asyncio.CancelledError:
        if not main.cancelled():  # a signal while starting cancels ``main``: a stop
            raise
    finally:
        remaining = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in remaining:
            task.cancel()
        if remaining:
            loop.run_until_complete(asyncio.gather(*remaining, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def serve_app(
    app: web.Application,
    *,
    host: str,
    port: int,
    reuse_port: bool | None,
    access_log: logging.Logger | None,
    shutdown_timeout: float,
    on_listening: Callable[[], None],
) -> None:
    """Start ``app`` (its start-up hooks), listen on ``host:port``, call ``on_listening``,
    and serve until SIGTERM or SIGINT; then stop gracefully and return."""
    loop = asyncio.get_running_loop()
    stop = _StopSignals(asyncio.current_task())

    async def close_after_response(_: web.Request, response: web.StreamResponse) -> None:
        # The headers are not written yet: the client learns not to send another request
        # on this connection, and aiohttp closes it once this answer is sent.
        if stop.requested.is_set():
            response.force_close()
            response.headers[hdrs.CONNECTION] = "close"

    app.on_response_prepare.append(close_after_response)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=access_log,
        access_log_class=AccessLog,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        shutdown_timeout=CUT_GRACE,
    )
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.received, signum)
    try:
        try:
            await runner.setup()  # start-up hooks: storage opened, schema brought up to date
            assert runner.server is not None
            serve_themed_bad_requests(runner.server, app)  # cms.web.bad_requests
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
            await site.start()
        except BaseException:
            # The start-up error (or the signal) is what to report: close what was opened.
            with contextlib.suppress(Exception):
                await runner.cleanup()
            raise
        try:
            on_listening()
            stop.serving = True
            await stop.requested.wait()
        finally:
            await _stop_gracefully(runner, site, shutdown_timeout, stop.hurry)
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


class _StopSignals:
    """SIGTERM and SIGINT: the first asks for a graceful stop, the second for haste."""

    def __init__(self, main: asyncio.Task[None] | None) -> None:
        self.main = main
        self.serving = False
        self.requested = asyncio.Event()
        self.hurry = asyncio.Event()

    def received(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if not self.serving:  # still starting: stop there
            if self.main is not None:
                self.main.cancel()
        elif not self.requested.is_set():
            self.requested.set()
        elif not self.hurry.is_set():
            log.info("%s again: stopping now, cutting the requests in flight", name)
            self.hurry.set()


async def _stop_gracefully(
    runner: web.AppRunner, site: web.TCPSite, grace: float, hurry: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    server = runner.server
    assert server is not None
    await site.stop()  # the listening socket is closed: new connections are refused
    _close_idle(server)
    if server.connections:
        log.info(
            "stopping: waiting up to %g s for %d connection(s) in flight "
            "(SIGTERM or Ctrl+C again stops now)",
            grace,
            len(server.connections),
        )
    await runner.shutdown()  # on_shutdown hooks
    # One look at least: a connection accepted just before the socket closed takes a few
    # turns of the loop to reach the server's list.
    while not hurry.is_set():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hurry.wait(), min(POLL_INTERVAL, remaining))
        _close_idle(server)
        if not server.connections:
            break
    if server.connections:
        log.warning("stopping: cutting %d connection(s) still in flight", len(server.connections))
        await server.shutdown(CUT_GRACE)
    await runner.app.cleanup()


def _close_idle(server: web.Server) -> None:
    for handler in server.connections:
        if _between_requests(handler):
            handler.force_close()


def _between_requests(handler: RequestHandler) -> bool:
    """Whether a connection waits for its next request (idle keep-alive), with none
    being read, handled or queued.

    aiohttp has no public word for it: in 3.12 to 3.14 ``RequestHandler.start()`` awaits
    ``_waiter`` only then, and aiohttp's own keep-alive timer (``_process_keepalive``)
    closes a connection on this same test. A request whose first bytes are in flight
    when the server stops is lost with it, as with any keep-alive close (clients retry).
    """
    waiter = handler._waiter
    return waiter is not None and not waiter.done()
