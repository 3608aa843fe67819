"""Scheduled publishing across processes (the issue's "done when"): through the API, a post
scheduled 5 s ahead is nowhere to be seen; 6 s later it is on ``/``, its tag's page and its
own address on both workers of ``cms serve --workers 2``, with the page cache on and no
restart; and ``post_published`` ran once (a site plugin counts it in storage), on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from cms.core.settings import load_settings
from cms.core.site import Site
from tests.cli_support import Server, cms_env, free_port, output_of, run_cms
from tests.conftest import POSTGRES_URL_ENV, reset_postgres, service_url
from tests.test_workers import children, cpu_ticks

PASSWORD = "correct horse battery"

#: A site plugin (``[plugins] dir``) that counts each announcement in the site's storage:
#: an attempt row per call, which every worker and host shares.
COUNTER = """
from cms import hookimpl


@hookimpl
async def post_published(post, cms):
    await cms.storage.record_attempt(f"published:{post.slug}", 86400, 1000)
"""


async def storage_section(backend: str) -> str:
    if backend == "sqlite":
        return '[storage]\nbackend = "sqlite"\noptions = { path = "cms.db" }\n'
    url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    await reset_postgres(url)
    return f'[storage]\nbackend = "postgres"\noptions = {{ url = "{url}" }}\n'


async def announcements(settings: Path, slug: str) -> int:
    """How many times the counter plugin was told ``slug`` was published."""
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        return len(await site.storage.recent_attempts(f"published:{slug}", 86400))
    finally:
        await site.storage.close()


async def read(server: Server, path: str) -> tuple[int, str]:
    # A new connection per request: SO_REUSEPORT spreads them over the workers.
    async with aiohttp.ClientSession(base_url=server.url) as reader, reader.get(path) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_scheduled_post_appears_on_every_worker_and_is_announced_once(
    tmp_path: Path, backend: str
) -> None:
    port = free_port()
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "counter.py").write_text(COUNTER, encoding="utf-8")
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f"[server]\nport = {port}\npage_cache_mb = 16\n"
        '[plugins]\ndir = "plugins"\n' + await storage_section(backend),
        encoding="utf-8",
    )
    created = run_cms("users", "create", "admin", "--role", "admin", cwd=tmp_path, input=PASSWORD)
    assert created.returncode == 0, output_of(created)
    token = run_cms("tokens", "create", "admin", cwd=tmp_path)
    assert token.returncode == 0, output_of(token)
    auth = {"Authorization": f"Bearer {token.stdout.strip()}"}

    server = Server(settings, port, cms_env(CMS_SERVER__WORKERS="2"), tmp_path / "serve.log")
    try:
        await server.start()
        assert server.process is not None
        workers = children(server.process.pid)
        assert len(workers) == 2, (workers, server.log_text())
        async with aiohttp.ClientSession(base_url=server.url, headers=auth) as api:
            # Something on the pages already, so they are rendered and cached before.
            async with api.post(
                "/api/posts", json={"title": "Earlier", "tags": ["Soon"], "status": "published"}
            ) as made:
                assert made.status == 201, await made.text()
            when = datetime.now(UTC) + timedelta(seconds=5)
            async with api.post(
                "/api/posts",
                json={
                    "title": "The scheduled one",
                    "tags": ["Soon"],
                    "status": "scheduled",
                    "published_at": when.isoformat(),
                },
            ) as made:
                assert made.status == 201, await made.text()
                post = (await made.json())["data"]
        assert post["status"] == "scheduled"
        for _ in range(6):
            for path in ("/", "/tags/soon"):
                status, text = await read(server, path)
                assert status == 200 and "Earlier" in text, (path, status)
                assert "The scheduled one" not in text, path
            assert (await read(server, f"/posts/{post['slug']}"))[0] == 404
            status, listing = await read(server, "/api/posts")
            assert status == 200 and "The scheduled one" not in listing

        ticks = {pid: cpu_ticks(pid) for pid in workers}
        await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 1.0)
        for _ in range(8):
            for path in ("/", "/tags/soon", f"/posts/{post['slug']}", "/api/posts"):
                status, text = await read(server, path)
                assert status == 200, (path, status, server.log_text())
                assert "The scheduled one" in text, path
        # Both workers answered some of those connections.
        assert all(cpu_ticks(pid) > ticks[pid] for pid in workers), ticks
        await asyncio.sleep(2.5)  # more rounds of both workers' announcers
        assert await announcements(settings, post["slug"]) == 1
        assert await announcements(settings, "earlier") == 1  # published at once: once too
        assert await server.stop() == 0
    finally:
        await server.kill()
    assert "Traceback" not in server.log_text(), server.log_text()
