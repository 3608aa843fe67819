"""The deployment docs/deployment.md describes, run for real: Debian's nginx with the
shipped deploy/nginx/cms.conf in front of two ``cms serve`` hosts (separate folders, one
PostgreSQL database, Redis sessions, S3 media on moto's server), driven through nginx.

A cover uploaded on whichever host answers is served by both hosts; an edit on one shows
on the next request to the other; a sign-in holds on both; nginx's X-Forwarded-For is
believed (failed sign-ins are counted per reader, not per proxy) and a reader's own is not.
bench/failover.py kills a host under load with the same pieces."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.cli_support import csrf_token, submit_form
from tests.conftest import (
    POSTGRES_URL_ENV,
    REDIS_URL_ENV,
    REQUIRE_SERVICES_ENV,
    reset_postgres,
    service_url,
)
from tests.deployment import Deployment, nginx_binary, session_from
from tests.image_files import photo
from tests.s3_server import S3Server, s3_server  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow

PASSWORD = "a long deployment password"
_RENDITION = re.compile(r"/media/[0-9a-f]{2}/[0-9a-f]{32}\.(?:webp|jpg)")


def need_nginx() -> None:
    if nginx_binary() is not None:
        return
    reason = "the deployment test needs Debian's nginx (make nginx installs it)"
    if os.environ.get(REQUIRE_SERVICES_ENV):
        pytest.fail(f"{reason}; {REQUIRE_SERVICES_ENV} forbids skipping it")
    pytest.skip(reason)


@pytest.fixture
async def deployment(
    tmp_path: Path,
    s3_server: S3Server,  # noqa: F811
) -> AsyncIterator[Deployment]:
    need_nginx()
    postgres = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    await reset_postgres(postgres)
    redis = service_url(REDIS_URL_ENV, "Redis")
    media = {
        "bucket": s3_server.new_bucket(),
        "endpoint_url": s3_server.url,
        "region": "us-east-1",
        "addressing_style": "path",
    }
    running = Deployment(tmp_path, postgres, redis, media)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()


async def test_two_hosts_behind_nginx_share_media_edits_and_sessions(
    deployment: Deployment,
) -> None:
    assert deployment.nginx is not None
    front = deployment.nginx.url
    host_a, host_b = (host.url for host in deployment.hosts)
    async with session_from() as browser:
        status, _, body = await submit_form(
            browser,
            f"{front}/setup",
            {"username": "admin", "password": PASSWORD, "password_confirm": PASSWORD},
        )
        assert status == 303, body
        # Signed in through nginx: both hosts know the session (Redis).
        for host in (host_a, host_b):
            async with browser.get(f"{host}/admin/", allow_redirects=False) as admin:
                assert admin.status == 200, host

        # A post with a cover, uploaded on whichever host nginx chose.
        token = await csrf_token(browser, f"{front}/admin/posts/new")
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("csrf_token", token)
        for name, value in {"title": "Shared", "body": "Hello", "status": "published"}.items():
            form.add_field(name, value)
        form.add_field(
            "image", photo(900, 600, seed=4), filename="c.jpg", content_type="image/jpeg"
        )
        async with browser.post(
            f"{front}/admin/posts/new", data=form, allow_redirects=False
        ) as created:
            assert created.status == 303, await created.text()
            editor = created.headers["Location"].split("?")[0]

        async with browser.get(f"{front}/posts/shared") as page:
            html = await page.text()
        renditions = sorted(set(_RENDITION.findall(html)))
        assert len(renditions) == 4, html  # two widths, WebP and JPEG
        for url in renditions:
            for host in (host_a, host_b):
                async with browser.get(host + url) as served:
                    assert served.status == 200, (host, url)
                    assert served.headers["Cache-Control"].endswith("immutable")
            async with browser.get(front + url) as cached:
                assert cached.status == 200

        # An edit on host A shows on the very next request to host B.
        version = re.search(
            r'name="version" value="(\d+)"', await (await browser.get(host_a + editor)).text()
        )
        assert version is not None
        status, _, body = await submit_form(
            browser,
            host_a + editor,
            {
                "title": "Shared, edited",
                "slug": "shared",
                "body": "Hello",
                "status": "published",
                "version": version[1],
            },
        )
        assert status == 303, body
        async with browser.get(f"{host_b}/posts/shared") as page:
            assert "Shared, edited" in await page.text()
        # Sign-out on one host ends the session everywhere.
        token = await csrf_token(browser, f"{host_b}/admin/")
        async with browser.post(
            f"{host_b}/logout", data={"csrf_token": token}, allow_redirects=False
        ):
            pass
        async with browser.get(f"{host_a}/admin/", allow_redirects=False) as admin:
            assert admin.status in (302, 303)


async def fail_sign_in(session: aiohttp.ClientSession, url: str, times: int) -> list[int]:
    statuses = []
    for _ in range(times):
        token = await csrf_token(session, f"{url}/login")
        async with session.post(
            f"{url}/login",
            data={"csrf_token": token, "username": "nobody", "password": "wrong"},
            allow_redirects=False,
        ) as answer:
            statuses.append(answer.status)
    return statuses


async def test_the_reader_behind_nginx_is_who_counts(deployment: Deployment) -> None:
    """[login] max_failures_per_address = 3 in these hosts' settings. Through nginx (a
    trusted proxy), two readers are told apart by X-Forwarded-For; a reader talking to a
    host directly cannot pretend to be someone else with that header."""
    assert deployment.nginx is not None
    front = deployment.nginx.url
    async with session_from("127.0.0.5") as owner:
        status, _, body = await submit_form(
            owner,
            f"{front}/setup",
            {"username": "admin", "password": PASSWORD, "password_confirm": PASSWORD},
        )
        assert status == 303, body
    async with session_from("127.0.0.3") as first, session_from("127.0.0.4") as second:
        assert (await fail_sign_in(first, front, 4))[-1] == 429
        # Another reader through the same proxy is not blocked by the first one's failures.
        assert await fail_sign_in(second, front, 1) == [401]
    host = deployment.hosts[0].url
    async with session_from("127.0.0.3") as first:
        # Directly, with a forged header: still 127.0.0.3, still blocked.
        first.headers["X-Forwarded-For"] = "198.51.100.7"
        assert await fail_sign_in(first, host, 1) == [429]
