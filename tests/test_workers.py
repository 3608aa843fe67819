"""``cms serve --workers N``: several processes on one port, an edit seen at once by all
of them, and a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.cli_support import (
    Server,
    cms_env,
    free_port,
    output_of,
    run_cms,
)

PASSWORD = "correct horse battery"


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid``."""
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            found.extend(int(child) for child in listing.read().split())
    return found


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def until(condition: Callable[[], bool]) -> None:
    """Wait up to 20 s for ``condition``; the caller asserts it after."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.2)


def make_site(tmp_path: Path, port: int) -> tuple[Path, str]:
    """A site with an admin and an API token; returns the settings and the token."""
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f"[server]\nport = {port}\n"
        '[storage]\nbackend = "sqlite"\noptions = { path = "cms.db" }\n',
        encoding="utf-8",
    )
    created = run_cms("users", "create", "admin", "--role", "admin", cwd=tmp_path, input=PASSWORD)
    assert created.returncode == 0, output_of(created)
    token = run_cms("tokens", "create", "admin", cwd=tmp_path)
    assert token.returncode == 0, output_of(token)
    return settings, token.stdout.strip()


async def test_two_workers_serve_every_edit_on_the_very_next_request(tmp_path: Path) -> None:
    port = free_port()
    settings, token = make_site(tmp_path, port)
    server = Server(settings, port, cms_env(CMS_SERVER__WORKERS="2"), tmp_path / "serve.log")
    auth = {"Authorization": f"Bearer {token}"}
    try:
        await server.start()
        assert server.process is not None
        workers = children(server.process.pid)
        assert len(workers) == 2, (workers, server.log_text())
        await until(lambda: "in 2 worker processes" in server.log_text())
        assert "in 2 worker processes" in server.log_text()
        ticks = {pid: cpu_ticks(pid) for pid in workers}
        async with aiohttp.ClientSession(base_url=server.url, headers=auth) as api:
            async with api.post(
                "/api/posts", json={"title": "Version 0", "body": "x", "status": "published"}
            ) as made:
                assert made.status == 201, await made.text()
                post = (await made.json())["data"]
            etag = None
            for version in range(1, 9):
                async with api.patch(
                    f"/api/posts/{post['id']}", json={"title": f"Version {version}"}
                ) as changed:
                    assert changed.status == 200, await changed.text()
                # Every GET on a new connection: SO_REUSEPORT spreads them over the workers.
                for _ in range(6):
                    async with aiohttp.ClientSession(base_url=server.url) as browser:
                        headers = {"If-None-Match": etag} if etag else {}
                        async with browser.get(f"/posts/{post['slug']}", headers=headers) as page:
                            assert page.status == 200, f"version {version}: {page.status}"
                            assert f"Version {version}" in await page.text()
                            new_etag = page.headers["ETag"]
                        async with browser.get("/") as index:
                            assert f"Version {version}" in await index.text()
                    assert new_etag != etag
                    # The tag of the current version: the next GET with it is a 304.
                    async with (
                        aiohttp.ClientSession(base_url=server.url) as browser,
                        browser.get(
                            f"/posts/{post['slug']}", headers={"If-None-Match": new_etag}
                        ) as same,
                    ):
                        assert same.status == 304
                etag = new_etag
        # Both workers answered some of those connections.
        assert all(cpu_ticks(pid) > ticks[pid] for pid in workers), ticks
        assert await server.stop() == 0
        for pid in workers:
            assert not alive(pid)
    finally:
        await server.kill()


async def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    port = free_port()
    settings, _ = make_site(tmp_path, port)
    server = Server(settings, port, cms_env(CMS_SERVER__WORKERS="2"), tmp_path / "serve.log")
    try:
        await server.start()
        assert server.process is not None
        workers = children(server.process.pid)
        assert len(workers) == 2
        server.process.send_signal(signal.SIGKILL)  # no chance to stop them itself
        await server.process.wait()
        await until(lambda: not any(alive(pid) for pid in workers))
        assert not any(alive(pid) for pid in workers), server.log_text()
    finally:
        await server.kill()


def test_reload_and_workers_do_not_go_together(tmp_path: Path) -> None:
    result = run_cms("serve", "--reload", "--workers", "2", cwd=tmp_path)
    assert result.returncode == 2, output_of(result)
    assert result.stderr.strip() == "Error: --reload runs one process: leave out --workers"


def test_workers_refuse_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "settings.toml").write_text(f"[server]\nport = {port}\n", encoding="utf-8")
        result = run_cms("serve", "--workers", "2", cwd=tmp_path, timeout=60)
    assert result.returncode == 1, output_of(result)
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"Error: cannot listen on 127.0.0.1:{port}")
    ), output_of(result)


@pytest.mark.parametrize("workers", ["0", "x"])
def test_a_bad_worker_count_is_one_line(tmp_path: Path, workers: str) -> None:
    result = run_cms("serve", "--workers", workers, cwd=tmp_path)
    assert result.returncode == 2, output_of(result)
    assert "--workers" in result.stderr
    assert "Traceback" not in result.stderr
