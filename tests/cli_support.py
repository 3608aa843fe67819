"""Helpers for tests that run the real ``cms`` command and a real server as subprocesses."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp

from cms.testing import CHEAPEST_PASSWORD_HASHING

#: The console script installed beside the interpreter running the tests.
CMS = Path(sys.executable).with_name("cms")
TEST_SECRET_KEY = "test secret key for subprocesses, not for production"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SERVER_START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


#: Argon2's cheapest parameters for every site of the suite (the default ones cost 0.14 s
#: a hash on this machine, and the suite signs in a few thousand times).
CHEAP_PASSWORDS_ENV = {
    f"CMS_PASSWORDS__{key.upper()}": str(value) for key, value in CHEAPEST_PASSWORD_HASHING.items()
}


def cms_env(*, secret_key: bool = True, **extra: str) -> dict[str, str]:
    """The environment for a ``cms`` subprocess: ours without any ``CMS_`` setting, plus
    a secret key (unless ``secret_key=False``) and ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CMS_")}
    env.update(CHEAP_PASSWORDS_ENV)
    if secret_key:
        env["CMS_SECRET_KEY"] = TEST_SECRET_KEY
    env.update(extra)
    return env


def run_cms(
    *args: str | Path,
    cwd: Path,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``cms ARGS`` to completion and capture its output (stdin is empty unless given)."""
    return subprocess.run(
        [str(CMS), *map(str, args)],
        cwd=cwd,
        input=input if input is not None else "",
        env=dict(env) if env is not None else cms_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit status {result.returncode}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    )


def plugin_listing(stdout: str) -> dict[str, list[str]]:
    """``cms plugins`` output as {plugin name: [hook, ...]}."""
    plugins: dict[str, list[str]] = {}
    current = ""
    for line in stdout.splitlines():
        if line.startswith("    hooks:"):
            hooks = line.split(":", 1)[1].strip()
            plugins[current] = [] if hooks == "-" else [h.strip() for h in hooks.split(",")]
        elif line.strip():
            current = line.split()[0]
            plugins[current] = []
    return plugins


def _open_log(path: Path) -> IO[bytes]:
    return path.open("ab")


@dataclass
class Server:
    """A ``cms serve`` subprocess; its stderr goes to ``log`` (never a pipe that can fill)."""

    settings: Path
    port: int
    env: dict[str, str]
    log: Path
    #: The command that runs cms (another environment's ``python -m cms``, say).
    command: tuple[str, ...] = (str(CMS),)
    process: asyncio.subprocess.Process | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    async def start(self) -> None:
        assert self.process is None or self.process.returncode is not None, "already running"
        log_file = _open_log(self.log)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                "serve",
                "--settings",
                str(self.settings),
                cwd=self.settings.parent,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        finally:
            log_file.close()
        await self._wait_until_healthy()

    async def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        async with aiohttp.ClientSession() as probe:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"cms serve exited with {self.process.returncode}:\n{self.log_text()}"
                    )
                try:
                    async with probe.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"cms serve did not answer /healthz in time:\n{self.log_text()}")

    async def stop(self) -> int:
        """SIGTERM and wait; return the exit status."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 20)
        assert self.process.returncode is not None
        return self.process.returncode

    async def kill(self) -> None:
        """Make sure the process is gone (used in ``finally``)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def csrf_token(session: aiohttp.ClientSession, url: str) -> str:
    """GET a form page and return the CSRF token of its form."""
    async with session.get(url, allow_redirects=False) as response:
        text = await response.text()
        assert response.status == 200, f"GET {url}: {response.status}\n{text}"
    match = CSRF.search(text)
    assert match, f"no csrf_token input on {url}"
    return match.group(1)


async def submit_form(
    session: aiohttp.ClientSession, url: str, data: dict[str, Any]
) -> tuple[int, str, str]:
    """Fetch the form's token, POST the form; return status, Location and body."""
    token = await csrf_token(session, url)
    async with session.post(url, data={**data, "csrf_token": token}, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", ""), await r.text()
