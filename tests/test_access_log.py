"""``cms serve``'s access log: aiohttp's line (``%a %t "%r" %s %b "%{Referer}i"
"%{User-Agent}i"``), as cms's logging writes it; through the logger when logging is set up
otherwise."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from cms.web.access_log import AccessLog
from tests.cli_support import Server, cms_env, free_port
from tests.conftest import write_settings

LINE = re.compile(
    r'^INFO aiohttp\.access: 127\.0\.0\.1 \[(?P<time>[^]]+)\] "(?P<request>[^"]*)" '
    r'(?P<status>\d{3}) (?P<size>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$'
)


async def test_cms_serve_logs_each_request_in_aiohttp_s_format(tmp_path: Path) -> None:
    port = free_port()
    settings = write_settings(tmp_path, f"[server]\nport = {port}\n")
    server = Server(settings, port, cms_env(), tmp_path / "serve.log")
    try:
        await server.start()
        answers = {}
        async with aiohttp.ClientSession() as browser:
            for path in ("/healthz?probe=1", "/static/nothing.css"):
                async with browser.get(
                    server.url + path,
                    headers={"User-Agent": "Tester/1.0", "Referer": "http://example.org/"},
                    allow_redirects=False,
                ) as response:
                    answers[path] = (str(response.status), len(await response.read()))
        assert await server.stop() == 0
    finally:
        await server.kill()
    lines = [line for line in server.log_text().splitlines() if "aiohttp.access" in line]
    found = {}
    for line in lines:
        match = LINE.match(line)
        assert match, line
        found[match["request"]] = match
    # The size is aiohttp's: what was written, headers included.
    page = found["GET /healthz?probe=1 HTTP/1.1"]
    assert page["status"] == answers["/healthz?probe=1"][0] == "200"
    assert int(page["size"]) > answers["/healthz?probe=1"][1]
    assert page["agent"] == "Tester/1.0" and page["referer"] == "http://example.org/"
    missing = found["GET /static/nothing.css HTTP/1.1"]
    assert missing["status"] == answers["/static/nothing.css"][0] == "404"
    # The time the request began, in local time, as aiohttp writes it.
    when = datetime.strptime(page["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert abs((datetime.now().astimezone() - when).total_seconds()) < 120


async def test_under_another_logging_setup_each_line_goes_through_the_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app.router.add_get("/", hello)
    runner = web.AppRunner(
        app, access_log_class=AccessLog, access_log=logging.getLogger("x.access")
    )
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        with caplog.at_level(logging.INFO, logger="x.access"):
            async with (
                aiohttp.ClientSession() as browser,
                browser.get(f"http://127.0.0.1:{port}/", headers={"User-Agent": "A"}) as response,
            ):
                assert response.status == 200
            for _ in range(50):  # the line is written just after the answer is sent
                if any(record.name == "x.access" for record in caplog.records):
                    break
                await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()
    (record,) = [record for record in caplog.records if record.name == "x.access"]
    assert re.fullmatch(r'127\.0\.0\.1 \[[^]]+\] "GET / HTTP/1\.1" 200 \d+ "-" "A"', record.message)
