"""``cms serve --workers N``: N processes serving one port, each with its own event loop.

The supervisor (this module, in the process the user started):

1. has already built the site once (bad settings or plugins stop here, with one line),
   checks that the port is free, and brings the schema up to date once, before any worker
   starts (workers then find nothing to migrate);
2. starts N ``cms serve`` workers (``python -m cms serve ... --worker-ready-fd FD``). Each
   listens on the same host and port with ``SO_REUSEPORT``, so the kernel spreads new
   connections over them, and writes a byte to its ready pipe once it listens;
3. restarts a worker that dies (a few times a minute at most, then gives up), and on
   SIGTERM, SIGINT or SIGHUP passes SIGTERM on: each worker stops accepting connections,
   lets the requests in flight finish for up to ``[server] shutdown_timeout`` seconds
   (cms.web.serving) and exits; one still running ``STOP_MARGIN`` seconds after that is
   killed. A second signal meanwhile is passed on as SIGINT, a worker's second signal:
   the workers cut what is in flight and exit at once.

Workers share nothing in memory: whatever must be seen by all of them lives in storage,
sessions or Redis (see the scale path in the design).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from cms.core.site import Site
from cms.core.startup_migration import migrate_at_startup

__all__ = [
    "WorkerFailed",
    "check_port_free",
    "migrate_once",
    "new_event_loop",
    "signal_ready",
    "supervise",
    "watch_lifeline",
]

log = logging.getLogger("cms")

START_TIMEOUT = 60.0
#: Seconds a stopping worker gets beyond ``[server] shutdown_timeout`` (its requests in
#: flight get that long) to close storage and exit before the supervisor kills it.
STOP_MARGIN = 5.0
#: A worker that dies more often than this in RESTART_WINDOW seconds is not restarted.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


class WorkerFailed(Exception):
    """A worker could not start, or kept dying; the message is one line."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (``pip install 'cms[speed]'``), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def check_port_free(host: str, port: int) -> None:
    """Raise OSError when something listens on ``host:port`` already.

    Workers bind with ``SO_REUSEPORT``, which would let them join another server's
    port without a word; this probe binds without it, so that is caught first.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


async def migrate_once(site: Site) -> None:
    """Open storage, make the start-up schema changes (as ``cms serve`` does), close."""
    await site.storage.open()
    try:
        # Each worker warns of what was left alone as its own storage opens.
        await migrate_at_startup(site.storage, warn_kept=False)
    finally:
        await site.storage.close()


def watch_lifeline(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """In a worker: stop gracefully (as on SIGTERM) when the supervisor is gone, even
    killed with SIGKILL: the read end of its lifeline pipe then reads end-of-file."""
    os.set_blocking(fd, False)

    def on_readable() -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        if not data:
            loop.remove_reader(fd)
            os.kill(os.getpid(), signal.SIGTERM)

    loop.add_reader(fd, on_readable)


def signal_ready(fd: int) -> None:
    """In a worker: tell the supervisor that this worker listens."""
    try:
        os.write(fd, b"1")
    finally:
        os.close(fd)


@dataclass
class _Worker:
    number: int
    process: subprocess.Popen[bytes]
    ready_fd: int
    lifeline_fd: int
    ready: bool = False
    started: float = field(default_factory=time.monotonic)


class _Supervisor:
    def __init__(self, command: Sequence[str], workers: int, shutdown_timeout: float) -> None:
        self.command = list(command)
        self.count = workers
        self.shutdown_timeout = shutdown_timeout
        self.workers: dict[int, _Worker] = {}
        self.stopping = False
        self.signals = 0
        self.forwarded = False  # the workers were told to stop
        self.hurried = False  # ... and then to stop at once
        self.restarts: list[float] = []

    def _spawn(self, number: int) -> _Worker:
        read_fd, write_fd = os.pipe()
        # The worker holds the read end; we hold the write end until we exit.
        lifeline_read, lifeline_write = os.pipe()
        try:
            # Our own interpreter and arguments, never a shell.
            process = subprocess.Popen(  # noqa: S603
                [
                    *self.command,
                    "--worker-ready-fd",
                    str(write_fd),
                    "--worker-lifeline-fd",
                    str(lifeline_read),
                ],
                pass_fds=(write_fd, lifeline_read),
                stdin=subprocess.DEVNULL,
                # Its own process group: a Ctrl+C reaches the supervisor, which stops the
                # workers in order, instead of every process at once.
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
            os.close(lifeline_read)
        return _Worker(number, process, read_fd, lifeline_write)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        self.signals += 1
        if self.signals > 1 and self.forwarded:
            self._hurry()

    def _send_all(self, signum: int) -> None:
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signum)

    def _hurry(self) -> None:
        # SIGINT, not SIGTERM again: two pending SIGTERMs would be delivered as one.
        if not self.hurried:
            self.hurried = True
            log.info("signal again: the workers stop now, cutting the requests in flight")
            self._send_all(signal.SIGINT)

    def run(self, on_ready: str) -> int:
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in handled}
        try:
            for number in range(1, self.count + 1):
                self.workers[number] = self._spawn(number)
            self._wait_ready()
            if self.stopping:
                return 0
            print(on_ready, file=sys.stderr, flush=True)
            self._watch()
            return 0
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.stopping and not all(w.ready for w in self.workers.values()):
            for worker in self.workers.values():
                code = worker.process.poll()
                if code is not None and not worker.ready:
                    raise WorkerFailed(
                        f"worker {worker.number} failed to start (exit status {code})"
                    )
            pending = {w.ready_fd: w for w in self.workers.values() if not w.ready}
            if time.monotonic() > deadline:
                raise WorkerFailed(f"{len(pending)} worker(s) did not start in {START_TIMEOUT} s")
            readable, _, _ = select.select(list(pending), [], [], 0.2)
            for fd in readable:
                if os.read(fd, 1):
                    pending[fd].ready = True

    def _watch(self) -> None:
        while not self.stopping:
            time.sleep(0.2)
            for number, worker in list(self.workers.items()):
                code = worker.process.poll()
                if code is None or self.stopping:
                    continue
                _close(worker.ready_fd, worker.lifeline_fd)
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW]
                if len(self.restarts) >= MAX_RESTARTS:
                    raise WorkerFailed(
                        f"workers died {MAX_RESTARTS} times within {RESTART_WINDOW:.0f} s; "
                        "stopping (see the messages above)"
                    )
                self.restarts.append(now)
                log.warning("worker %d exited with status %s; starting another", number, code)
                self.workers[number] = self._spawn(number)

    def _stop_all(self) -> None:
        self._send_all(signal.SIGTERM)
        self.forwarded = True
        if self.signals > 1:  # the second came before the first was passed on
            self._hurry()
        deadline = time.monotonic() + self.shutdown_timeout + STOP_MARGIN
        for worker in self.workers.values():
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not stop in time; killing it", worker.number)
                worker.process.kill()
                worker.process.wait()
            _close(worker.ready_fd, worker.lifeline_fd)


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):  # closed already (a restarted worker's)
            os.close(fd)


def supervise(
    serve_args: Sequence[str], workers: int, on_ready: str, *, shutdown_timeout: float
) -> int:
    """Run ``workers`` copies of ``cms serve SERVE_ARGS`` until a signal; return the exit
    status. Raises :class:`WorkerFailed` when they cannot start or keep dying. On a signal
    each worker gets ``shutdown_timeout`` seconds (``[server] shutdown_timeout``, which the
    workers read from the same settings) plus a margin to stop before it is killed."""
    command = [sys.executable, "-m", "cms", "serve", *serve_args]
    return _Supervisor(command, workers, shutdown_timeout).run(on_ready)


def die_with_parent() -> None:
    """Have Linux send this process SIGTERM when its parent dies, so a child server (the one
    ``--reload`` runs) never outlives a watcher killed with SIGKILL. Elsewhere: nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before we asked: go now
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
