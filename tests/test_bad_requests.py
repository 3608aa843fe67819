"""A request aiohttp cannot read (a request line over 8,190 bytes, a header too large,
bad syntax) gets the theme's 400 page from ``cms serve`` and one line in its log, never a
plain-text answer and a traceback (cms.web.bad_requests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli_support import Server, cms_env, free_port
from tests.conftest import write_settings


async def raw_request(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("theme", ["default", "journal"])
async def test_an_unreadable_request_gets_the_themed_400_and_one_log_line(
    tmp_path: Path, theme: str
) -> None:
    port = free_port()
    settings = write_settings(tmp_path, f'[server]\nport = {port}\n[site]\ntheme = "{theme}"\n')
    server = Server(settings, port, cms_env(), tmp_path / "serve.log")
    try:
        await server.start()
        heads = {
            "long line": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            "long header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            "bad syntax": b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        }
        for what, head in heads.items():
            answer = await raw_request(port, head)
            status, _, rest = answer.partition(b"\r\n")
            headers, _, body = rest.partition(b"\r\n\r\n")
            # (aiohttp answers a request it could not read as HTTP/1.0.)
            assert status.endswith(b" 400 Bad Request"), (what, answer[:300])
            assert b"Content-Type: text/html; charset=utf-8" in headers, what
            assert b"Content-Security-Policy:" in headers, what
            page = body.decode()
            assert 'class="error-page"' in page and "could not be read" in page, what
            assert "<nav" in page  # the theme's whole page, menus and all
        # The site still answers as usual.
        assert (
            await raw_request(
                port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
        ).startswith(b"HTTP/1.1 200")
        assert await server.stop() == 0
    finally:
        await server.kill()
    log = server.log_text()
    assert log.count("INFO cms: 400 for 127.0.0.1:") == 3, log
    assert "Traceback" not in log and "Error handling request" not in log, log
