"""Stopping ``cms serve`` (one process and ``--workers 2``) the way an operator does, with
SIGTERM, while uploads are still arriving: every accepted request gets its whole answer
and is stored, new connections are refused, idle keep-alive connections are closed at
once, and the process exits 0. A request that outlives ``[server] shutdown_timeout`` is
cut, and a second signal stops at once."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import random
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cms.core.settings import load_settings
from cms.core.site import Site
from tests.cli_support import TEST_SECRET_KEY, Server, cms_env, free_port
from tests.conftest import ADMIN_PASSWORD, write_settings
from tests.image_files import photo

pytestmark = pytest.mark.slow

# The suite sends 6 small uploads; the issue's figure (20 of 3 MB) is had with
# CMS_TEST_SHUTDOWN_UPLOADS=20 CMS_TEST_SHUTDOWN_UPLOAD_MB=3.
UPLOADS = int(os.environ.get("CMS_TEST_SHUTDOWN_UPLOADS", "6"))
UPLOAD_MB = float(os.environ.get("CMS_TEST_SHUTDOWN_UPLOAD_MB", "0"))
# Big uploads take the image workers seconds each: the server gets longer to finish them.
SHUTDOWN_TIMEOUT = 120 if UPLOAD_MB else 15
BOUNDARY = "gracefulshutdownboundary"


def _image(seed: int) -> bytes:
    """A small photo, or a JPEG of about UPLOAD_MB megabytes (noise compresses badly)."""
    if not UPLOAD_MB:
        return photo(400, 300, seed=seed)
    from PIL import Image

    side = int((UPLOAD_MB * 1e6 / 0.9) ** 0.5)  # JPEG at quality 90 keeps ~0.9 byte a pixel
    noise = Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class SlowUpload:
    """``POST /api/media`` over a raw socket: the headers and the first half of the body
    now (``begin``), the rest later in small pieces (``finish``), as a slow client does."""

    def __init__(self, port: int, token: str, data: bytes) -> None:
        self.port, self.token, self.data = port, token, data
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        self.body = head + data + f"\r\n--{BOUNDARY}--\r\n".encode()
        self.sent = len(head) + len(data) // 2

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    async def begin(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            (
                f"POST /api/media HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n"
            ).encode()
            + self.body[: self.sent]
        )
        await self.writer.drain()

    async def finish(self, pieces: int = 5, pause: float = 0.15) -> Answer:
        """Send the rest of the body, slowly; return the answer."""
        assert self.reader is not None and self.writer is not None
        rest = self.body[self.sent :]
        size = -(-len(rest) // pieces)
        for start in range(0, len(rest), size):
            await asyncio.sleep(pause)
            self.writer.write(rest[start : start + size])
            await self.writer.drain()
        return await asyncio.wait_for(read_answer(self.reader), SHUTDOWN_TIMEOUT)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One HTTP/1.1 response with a Content-Length (what the API sends)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return Answer(int(status_line.split()[1]), headers, body)


async def make_token(settings: Path) -> str:
    from cms.content.tokens import issue_token
    from cms.content.users import create_user

    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        await create_user(site, "admin", ADMIN_PASSWORD, "admin")
        return (await issue_token(site, "admin", label="test")).secret
    finally:
        await site.storage.close()


async def stored_media(settings: Path) -> dict[str, list[str]]:
    """The media rows in storage: {sha256: [file keys]}."""
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        return {row.content_hash: list(row.keys) for row in await site.storage.list_media()}
    finally:
        await site.storage.close()


@dataclass
class RunningSite:
    server: Server
    token: str
    folder: Path
    settings: Path

    @property
    def temporary(self) -> Path:
        return self.folder / "media" / ".tmp"

    def uploads_arriving(self) -> int:
        """Uploads whose file is being written to the temporary area right now."""
        if not self.temporary.exists():
            return 0
        return sum(1 for path in self.temporary.iterdir() if path.suffix == ".upload")


@pytest.fixture
async def start_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """``await start_site(workers=N, shutdown_timeout=S)``: a running ``cms serve``."""
    monkeypatch.setenv("CMS_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.delenv("CMS_SETTINGS", raising=False)
    servers: list[Server] = []

    async def start(*, workers: int, shutdown_timeout: float | None = None) -> RunningSite:
        port = free_port()
        settings = write_settings(
            tmp_path,
            f'[server]\nport = {port}\n[site]\nbase_url = "http://127.0.0.1:{port}"\n'
            "[images]\noptions = { workers = 1 }\n",
        )
        token = await make_token(settings)
        env = {"CMS_SERVER__WORKERS": str(workers)}
        if shutdown_timeout is not None:
            env["CMS_SERVER__SHUTDOWN_TIMEOUT"] = str(shutdown_timeout)
        server = Server(settings, port, cms_env(**env), tmp_path / "serve.log")
        servers.append(server)
        await server.start()
        return RunningSite(server, token, tmp_path, settings)

    yield start
    for server in servers:
        await server.kill()


async def wait_for(predicate: Any, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def refused(port: int, seconds: float = 5) -> bool:
    """Whether new connections to ``port`` are refused within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        # Reset: the connection was in the listening socket's queue when it closed.
        except (ConnectionRefusedError, ConnectionResetError):
            return True
        writer.close()
        await asyncio.sleep(0.05)
    return False


async def keep_alive_connection(port: int) -> asyncio.StreamReader:
    """A connection that made one request and stays open (idle keep-alive)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await writer.drain()
    answer = await asyncio.wait_for(read_answer(reader), 10)
    assert answer.status == 200
    assert answer.headers.get("connection", "").lower() != "close"
    return reader


async def begin_uploads(site: RunningSite, count: int) -> list[SlowUpload]:
    uploads = [SlowUpload(site.server.port, site.token, _image(seed)) for seed in range(count)]
    for upload in uploads:
        await upload.begin()
    await wait_for(lambda: site.uploads_arriving() == count, f"{count} uploads to reach the disk")
    return uploads


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_lets_every_upload_in_flight_finish(start_site: Any, workers: int) -> None:
    site: RunningSite = await start_site(workers=workers, shutdown_timeout=SHUTDOWN_TIMEOUT)
    process = site.server.process
    assert process is not None
    idle = await keep_alive_connection(site.server.port)
    uploads = await begin_uploads(site, UPLOADS)
    try:
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)

        # The listening socket closes: a new connection is refused (every worker's).
        assert await refused(site.server.port), site.server.log_text()
        # The idle keep-alive connection is closed at once, not after the others.
        assert await asyncio.wait_for(idle.read(), 3) == b""
        assert process.returncode is None, "exited with uploads in flight"

        # The bodies were still arriving; their clients send the rest, slowly.
        answers = await asyncio.gather(*(upload.finish() for upload in uploads))
        for upload, answer in zip(uploads, answers, strict=True):
            assert answer.status == 201, (answer, site.server.log_text())
            assert answer.json()["data"]["hash"] == upload.sha256
            # The connection is not kept for another request: told, then closed.
            assert answer.headers.get("connection", "").lower() == "close"
        for upload in uploads:
            assert upload.reader is not None
            assert await asyncio.wait_for(upload.reader.read(), 3) == b""

        assert await asyncio.wait_for(process.wait(), SHUTDOWN_TIMEOUT) == 0, site.server.log_text()
        elapsed = time.monotonic() - stopped_at
        # Once the last answer is sent, not at the end of the timeout.
        assert elapsed < SHUTDOWN_TIMEOUT * 2 / 3, f"took {elapsed:.1f} s to stop"
    finally:
        for upload in uploads:
            upload.close()

    stored = await stored_media(site.settings)
    for upload in uploads:
        assert upload.sha256 in stored, "an answered upload is not stored"
        for key in stored[upload.sha256]:
            assert (site.folder / "media" / key).is_file(), key
    assert list(site.temporary.iterdir()) == []
    print(
        f"workers={workers}: {UPLOADS} uploads in flight at SIGTERM, all 201; "
        f"exit 0 in {elapsed:.2f} s"
    )


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_request_that_outlives_the_shutdown_timeout_is_cut(
    start_site: Any, workers: int
) -> None:
    site: RunningSite = await start_site(workers=workers, shutdown_timeout=2)
    process = site.server.process
    assert process is not None
    (stalled,) = await begin_uploads(site, 1)
    try:
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # The rest of the body never comes: the server waits for it up to the timeout,
        # then closes the connection without an answer.
        assert stalled.reader is not None
        assert await asyncio.wait_for(stalled.reader.read(), 10) == b""
        cut_after = time.monotonic() - stopped_at
        assert await asyncio.wait_for(process.wait(), 10) == 0, site.server.log_text()
        elapsed = time.monotonic() - stopped_at
    finally:
        stalled.close()
    assert 1.8 < cut_after < 5, f"cut after {cut_after:.1f} s"
    assert elapsed < 6, f"took {elapsed:.1f} s to stop"
    # Nothing of it is kept.
    assert await stored_media(site.settings) == {}
    assert list(site.temporary.iterdir()) == []


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_second_signal_stops_at_once(start_site: Any, workers: int) -> None:
    site: RunningSite = await start_site(workers=workers)  # the default 30 s
    process = site.server.process
    assert process is not None
    (stalled,) = await begin_uploads(site, 1)
    try:
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert await refused(site.server.port)
        process.send_signal(signal.SIGINT)  # Ctrl+C, say
        assert stalled.reader is not None
        assert await asyncio.wait_for(stalled.reader.read(), 10) == b"", "not cut"
        assert await asyncio.wait_for(process.wait(), 10) == 0, site.server.log_text()
        elapsed = time.monotonic() - stopped_at
    finally:
        stalled.close()
    assert elapsed < 8, f"took {elapsed:.1f} s to stop (the timeout is 30 s)"
