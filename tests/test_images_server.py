"""Images against a real ``cms serve``: a decompression bomb refused fast without the
server's memory growing, and a server killed (SIGKILL) in the middle of an upload that
restarts with no partial file and no row without its files."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cms.core.settings import load_settings
from cms.core.site import Site
from tests.cli_support import TEST_SECRET_KEY, Server, cms_env, free_port
from tests.conftest import ADMIN_PASSWORD, write_settings
from tests.image_files import photo, sparse_png

pytestmark = pytest.mark.slow

MEGABYTE = 1024 * 1024


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: the parent pid follows the last ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes together."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue  # gone meanwhile
    return total


async def make_token(settings: Path) -> str:
    from cms.content.tokens import issue_token
    from cms.content.users import create_user

    os.environ.setdefault("CMS_SECRET_KEY", TEST_SECRET_KEY)
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        await create_user(site, "admin", ADMIN_PASSWORD, "admin")
        return (await issue_token(site, "admin", label="test")).secret
    finally:
        await site.storage.close()


async def media_rows(settings: Path) -> list[Any]:
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        return await site.storage.list_media()
    finally:
        await site.storage.close()


def files_under(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


async def upload(url: str, token: str, data: bytes, name: str) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/api/media", data=form, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status, await response.json()


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A ``cms serve`` with one image worker, a token for its admin, and its folder."""
    monkeypatch.setenv("CMS_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.delenv("CMS_SETTINGS", raising=False)
    port = free_port()
    settings = write_settings(
        tmp_path,
        f'[server]\nport = {port}\n[site]\nbase_url = "http://127.0.0.1:{port}"\n'
        "[images]\noptions = { workers = 1 }\n",
    )
    token = await make_token(settings)
    server = Server(settings, port, cms_env(), tmp_path / "serve.log")
    await server.start()
    try:
        yield server, token, tmp_path
    finally:
        await server.kill()


async def test_a_png_bomb_is_refused_fast_without_the_server_growing(served: Any) -> None:
    server, token, folder = served
    assert server.process is not None
    # A first upload starts the worker process, so only the bomb is measured.
    status, body = await upload(server.url, token, photo(640, 480), "warm.jpg")
    assert status == 201, body
    kept = files_under(folder / "media")
    bomb = sparse_png(20000, 20000)  # 400 million pixels
    assert len(bomb) < 100_000, len(bomb)

    tree = process_tree(server.process.pid)
    assert len(tree) >= 2, "no worker process"
    # The image worker gives way to the web process: SCHED_IDLE (and nice 10).
    idle = [pid for pid in tree if os.sched_getscheduler(pid) == os.SCHED_IDLE]
    assert len(idle) == 1, tree
    assert os.sched_getscheduler(server.process.pid) == os.SCHED_OTHER
    before = rss_bytes(tree)
    peak = before
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(process_tree(server.process.pid)))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    started = time.monotonic()
    status, body = await upload(server.url, token, bomb, "bomb.png")
    elapsed = time.monotonic() - started
    done.set()
    await watcher
    assert status == 422, body
    assert "pixels" in body["error"]["message"]
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    growth = peak - before
    assert growth < 50 * MEGABYTE, f"memory grew by {growth / MEGABYTE:.1f} MB"
    print(f"bomb: 422 in {elapsed * 1000:.0f} ms; memory +{growth / MEGABYTE:.1f} MB")
    # Nothing of it stored: the same files as before, one row (the warm-up).
    assert files_under(folder / "media") == kept
    assert len(await media_rows(folder / "settings.toml")) == 1


async def _start_slow_upload(url: str, token: str, data: bytes) -> asyncio.StreamWriter:
    """Send the headers and half of an upload, then stop (the rest never comes)."""
    boundary = "killtestboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    length = len(head) + len(data) + len(tail)
    writer.write(
        (
            f"POST /api/media HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
        + head
        + data[: len(data) // 2]
    )
    await writer.drain()
    return writer


async def _wait_for(predicate: Any, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # A zombie is gone too: it only waits for its parent to read its status.
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except OSError:
            continue
        return False
    return True


async def test_a_server_killed_mid_upload_restarts_clean(served: Any) -> None:
    server, token, folder = served
    assert server.process is not None
    media, temporary = folder / "media", folder / "media" / ".tmp"
    status, body = await upload(server.url, token, photo(640, 480), "warm.jpg")
    assert status == 201, body
    tree = process_tree(server.process.pid)

    # 1. Killed while the file streams in: a partial file is in the temporary area.
    data = photo(3000, 2000, seed=7, quality=95) + os.urandom(2 * MEGABYTE)
    writer = await _start_slow_upload(server.url, token, data)
    await _wait_for(
        lambda: any(p.suffix == ".upload" and p.stat().st_size > 0 for p in temporary.iterdir()),
        "the upload to reach the disk",
    )
    os.kill(server.process.pid, signal.SIGKILL)
    await server.process.wait()
    writer.close()
    partial = [p.name for p in temporary.iterdir()]
    assert partial, "the kill came before anything was written"
    # The worker processes die with it (no orphan keeps writing into the media folder).
    await _wait_for(lambda: _gone(tree), "the worker processes to exit")

    # Restarted: the stale temporary file is gone; only the warm-up's files and row.
    await server.start()
    assert list(temporary.iterdir()) == []
    rows = await media_rows(folder / "settings.toml")
    assert len(rows) == 1
    assert files_under(media) == sorted(rows[0].keys)

    # 2. Killed while the image is processed (its job folder exists): the same.
    big = photo(6000, 4500, seed=8)
    uploading = asyncio.create_task(upload(server.url, token, big, "big.jpg"))
    await _wait_for(
        lambda: any(p.suffix == ".job" for p in temporary.iterdir()), "processing to start"
    )
    os.kill(server.process.pid, signal.SIGKILL)
    await server.process.wait()
    with pytest.raises(aiohttp.ClientError):
        await uploading
    await server.start()
    assert list(temporary.iterdir()) == []
    rows = await media_rows(folder / "settings.toml")
    referenced = sorted(key for row in rows for key in row.keys)
    # No row without its files, and nothing the rows do not name.
    assert files_under(media) == referenced, (files_under(media), referenced)
    # And it still takes uploads.
    status, body = await upload(server.url, token, big, "big.jpg")
    assert status == 201, body
    assert body["data"]["hash"] == hashlib.sha256(big).hexdigest()
