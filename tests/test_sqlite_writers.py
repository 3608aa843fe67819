"""Many signed-in writers at once on SQLite, through the admin form of a real ``cms serve``:
every post is stored, none twice, and nobody sees a 500 (writers queue for SQLite's one
write lock instead of failing with "database is locked")."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp

from cms.core.settings import load_settings
from cms.core.site import Site
from tests.cli_support import Server, cms_env, csrf_token, free_port
from tests.conftest import ADMIN_PASSWORD

WRITERS, POSTS_EACH = 20, 50


async def add_authors(settings: Path) -> list[str]:
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        password_hash = await site.passwords.hash(ADMIN_PASSWORD)
        names = [f"writer{number}" for number in range(WRITERS)]
        for name in names:
            await site.storage.create_user(name, password_hash, "author")
        return names
    finally:
        await site.storage.close()


async def count_posts(settings: Path) -> tuple[int, int]:
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        posts = await site.storage.list_posts(limit=WRITERS * POSTS_EACH + 10, order="updated")
        return len(posts), len({post.slug for post in posts})
    finally:
        await site.storage.close()


async def test_twenty_writers_fifty_posts_each_through_the_admin_form(tmp_path: Path) -> None:
    port = free_port()
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
        '[storage]\nbackend = "sqlite"\noptions = { path = "cms.db" }\n',
        encoding="utf-8",
    )
    names = await add_authors(settings)
    server = Server(settings=settings, port=port, env=cms_env(), log=tmp_path / "server.log")
    statuses: Counter[int] = Counter()
    try:
        await server.start()

        async def writer(name: str) -> None:
            jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as http:
                token = await csrf_token(http, f"{server.url}/login")
                form = {"username": name, "password": ADMIN_PASSWORD, "csrf_token": token}
                async with http.post(f"{server.url}/login", data=form, allow_redirects=False) as r:
                    assert r.status == 303, await r.text()
                token = await csrf_token(http, f"{server.url}/admin/posts/new")
                for number in range(POSTS_EACH):
                    # The same title everywhere: every writer competes for the same slugs.
                    data = {
                        "title": "Busy day",
                        "slug": "",
                        "body": f"Post {number} by *{name}*",
                        "status": "published",
                        "csrf_token": token,
                    }
                    async with http.post(
                        f"{server.url}/admin/posts/new", data=data, allow_redirects=False
                    ) as response:
                        statuses[response.status] += 1

        started = time.monotonic()
        await asyncio.gather(*(writer(name) for name in names))
        elapsed = time.monotonic() - started
    finally:
        await server.stop()
    log = server.log_text()
    assert statuses == Counter({303: WRITERS * POSTS_EACH}), f"{statuses}\n{log[-3000:]}"
    assert "Traceback" not in log and "database is locked" not in log, log[-3000:]
    assert await count_posts(settings) == (WRITERS * POSTS_EACH, WRITERS * POSTS_EACH)
    assert elapsed < 120, elapsed
