"""``cms serve --reload`` as a real process: template edits show on the next request without
a restart; settings and site plugin changes restart the server; SIGTERM stops it all."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.cli_support import CMS, cms_env, free_port

TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"
READY = "cms 0.1.0: serving"
RESTART_TIMEOUT = 30.0


class ReloadingServer:
    """``cms serve --reload`` in a site folder; its output goes to a log file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "serve.log"
        self.process: asyncio.subprocess.Process | None = None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def starts(self) -> int:
        """How many times a server process got ready."""
        return self.log_text().count(READY)

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(CMS), "serve", "--reload", "--port", str(self.port),
                cwd=self.folder, env=cms_env(), stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip
        await self.wait_for(lambda status, _: status == 404, "/nothing-here")

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.get(self.url + path) as response:
            return response.status, await response.text()

    async def wait_for(self, check: object, path: str) -> str:
        """Poll ``path`` until ``check(status, text)`` holds (across a restart)."""
        assert callable(check)
        deadline = time.monotonic() + RESTART_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.returncode is None, self.log_text()
            try:
                status, text = await self.get(path)
                last = f"{status}: {text[:300]}"
                if check(status, text):
                    return text
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"GET {path} never passed; last {last}\n{self.log_text()}")

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 30)
        assert self.process.returncode is not None
        return self.process.returncode

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ReloadingServer]:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "settings.toml").write_text(
        '[site]\ntitle = "Before"\n[plugins]\ndir = "plugins"\n', encoding="utf-8"
    )
    write_error_page(tmp_path, "first version")
    running = ReloadingServer(tmp_path)
    try:
        await running.start()
        yield running
    finally:
        await running.kill()


def write_error_page(folder: Path, text: str) -> None:
    (folder / "templates" / "error.html").write_text(
        '{% extends "default:error.html" %}'
        f'{{% block content %}}<p id="mark">{text}</p>{{% endblock %}}',
        encoding="utf-8",
    )


async def test_a_template_edit_shows_on_the_next_request_without_a_restart(
    server: ReloadingServer,
) -> None:
    status, text = await server.get("/nothing-here")
    assert status == 404 and '<p id="mark">first version</p>' in text
    write_error_page(server.folder, "second version, edited")
    status, text = await server.get("/nothing-here")  # the very next request
    assert status == 404 and '<p id="mark">second version, edited</p>' in text
    await asyncio.sleep(1.5)  # longer than the watcher's debounce: no restart follows
    assert server.starts() == 1, server.log_text()
    assert "restarting" not in server.log_text()


async def test_settings_and_plugin_changes_restart_and_sigterm_stops(
    server: ReloadingServer,
) -> None:
    settings = server.folder / "settings.toml"
    settings.write_text(settings.read_text().replace("Before", "After"), encoding="utf-8")
    await server.wait_for(lambda _, text: "· After</title>" in text, "/nothing-here")
    assert server.starts() == 2, server.log_text()
    assert "settings.toml changed; restarting" in server.log_text()

    shutil.copy(TEST_PLUGINS / "hello_view.py", server.folder / "plugins" / "hello_view.py")
    text = await server.wait_for(lambda status, _: status == 200, "/hello")
    assert text == "Hello from a plugin on After"
    assert server.starts() == 3, server.log_text()

    assert await server.stop() == 0, server.log_text()
    # The serving child went with it: nobody answers on the port any more.
    with pytest.raises(aiohttp.ClientConnectionError):
        await server.get("/healthz")
    assert "Traceback" not in server.log_text(), server.log_text()


async def test_reload_with_bad_settings_stops_at_once(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text('[site]\ntheme = "../etc"\n', encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        str(CMS), "serve", "--reload", cwd=tmp_path, env=cms_env(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert stderr.decode().strip().splitlines() == [
        "Error: [site] theme = '../etc': unknown theme; available: default, journal"
    ]
