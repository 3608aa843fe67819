"""Redis sessions (issue 3) against a real Redis: opaque cookies, keys that always expire,
sign-out that deletes the key, restarts, an outage that answers 503 and recovers by
itself, and options that are checked at start-up."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from cms.core.settings import SettingsError
from tests.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    REDIS_URL_ENV,
    ClientFactory,
    csrf_from,
    login,
    post_form,
    service_url,
    setup_admin,
)

COOKIE = "cms_session"
IDLE = 3600
ABSOLUTE = 7200


@pytest.fixture
def redis_url() -> str:
    return service_url(REDIS_URL_ENV, "Redis")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    value = f"cms-test:{secrets.token_hex(6)}:"
    yield value
    keys = [key async for key in redis.scan_iter(match=value + "*")]
    if keys:
        await redis.delete(*keys)


def redis_sessions(url: str, prefix: str, **options: Any) -> dict[str, Any]:
    return {"backend": "redis", "options": {"url": url, "key_prefix": prefix, **options}}


def cookie_value(client: TestClient[Any, Any]) -> str:
    values = [c.value for c in client.session.cookie_jar if c.key == COOKIE]
    assert len(values) == 1, "expected exactly one session cookie in the jar"
    return str(values[0])


def session_cookie_header(response: Any) -> str:
    headers = [h for h in response.headers.getall("Set-Cookie", []) if h.startswith(f"{COOKIE}=")]
    assert len(headers) == 1, response.headers.getall("Set-Cookie", [])
    return str(headers[0])


async def get_as(client: TestClient[Any, Any], path: str, cookie: str) -> Any:
    """GET ``path`` as a fresh browser that carries only ``cookie``."""
    client.session.cookie_jar.clear()
    return await client.get(path, headers={"Cookie": f"{COOKIE}={cookie}"}, allow_redirects=False)


# --- Cookie, key and TTL -----------------------------------------------------------------


@pytest.mark.redis
async def test_sign_in_stores_an_expiring_key_and_sign_out_deletes_it(
    make_client: ClientFactory, redis: Redis, redis_url: str, prefix: str
) -> None:
    client = await make_client(
        sessions={
            **redis_sessions(redis_url, prefix, idle_timeout=IDLE),
            "absolute_timeout": ABSOLUTE,
        }
    )
    token = await csrf_from(client, "/setup")  # an anonymous session, for the form's token
    before = cookie_value(client)
    assert await redis.exists(prefix + before)
    response = await client.post(
        "/setup",
        data={
            "username": ADMIN_NAME,
            "password": ADMIN_PASSWORD,
            "password_confirm": ADMIN_PASSWORD,
            "csrf_token": token,
        },
        allow_redirects=False,
    )
    assert response.status == 303
    header = session_cookie_header(response).lower()
    assert "httponly" in header and "samesite=lax" in header and "secure" not in header

    session_id = cookie_value(client)
    assert session_id != before, "sign-in must start a new session id"
    assert not await redis.exists(prefix + before), "sign-in must drop the old session"
    assert ADMIN_NAME not in session_id and len(session_id) >= 40
    ttl = await redis.ttl(prefix + session_id)
    assert 0 < ttl <= IDLE
    stored = json.loads(await redis.get(prefix + session_id))
    assert stored["session"]["uid"] == 1
    assert stored["started"] <= time.time()
    assert (await client.get("/admin/")).status == 200

    response = await post_form(client, "/logout", {}, form_page="/admin/")
    assert response.status == 303
    assert not await redis.exists(prefix + session_id), "sign-out must delete the key"
    response = await get_as(client, "/admin/", session_id)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login")
    assert not await redis.exists(prefix + session_id), "a dead cookie must not revive its key"


@pytest.mark.redis
async def test_the_cookie_is_secure_when_the_site_is_https(
    make_client: ClientFactory, redis_url: str, prefix: str
) -> None:
    client = await make_client(
        sessions=redis_sessions(redis_url, prefix), site={"base_url": "https://cms.example"}
    )
    response = await client.get("/setup")
    assert response.status == 200
    assert "secure" in session_cookie_header(response).lower()


@pytest.mark.redis
async def test_a_session_past_its_absolute_lifetime_is_anonymous_and_deleted(
    make_client: ClientFactory, redis: Redis, redis_url: str, prefix: str
) -> None:
    client = await make_client(
        sessions={
            **redis_sessions(redis_url, prefix, idle_timeout=IDLE),
            "absolute_timeout": ABSOLUTE,
        }
    )
    await setup_admin(client)
    session_id = cookie_value(client)
    key = prefix + session_id
    stored = json.loads(await redis.get(key))

    # Last written over an hour ago, two minutes of its absolute lifetime left: the read
    # renews the key, but only for what is left.
    now = int(time.time())
    stored.update(created=now - IDLE // 10 - 1, started=now - ABSOLUTE + 120)
    await redis.set(key, json.dumps(stored), ex=60)
    assert (await get_as(client, "/admin/", session_id)).status == 200
    assert 60 < await redis.ttl(key) <= 120
    assert json.loads(await redis.get(key))["created"] >= now

    stored.update(started=now - ABSOLUTE - 1)
    await redis.set(key, json.dumps(stored), ex=60)
    response = await get_as(client, "/admin/", session_id)
    assert response.status == 302
    assert not await redis.exists(key)


@pytest.mark.redis
async def test_a_cookie_that_is_not_a_session_id_is_ignored(
    make_client: ClientFactory, redis: Redis, redis_url: str, prefix: str
) -> None:
    client = await make_client(sessions=redis_sessions(redis_url, prefix))
    await setup_admin(client)
    for forged in ("*", ADMIN_NAME, "x" * 43 + "*", "../" * 15):
        response = await get_as(client, "/admin/", forged)
        assert response.status == 302, forged


# --- Restart -----------------------------------------------------------------------------


@pytest.mark.redis
async def test_a_restarted_site_keeps_the_user_signed_in(
    make_client: ClientFactory, redis_url: str, prefix: str
) -> None:
    first = await make_client(sessions=redis_sessions(redis_url, prefix))
    await setup_admin(first)
    session_id = cookie_value(first)

    second = await make_client(sessions=redis_sessions(redis_url, prefix))
    assert second.app is not first.app
    response = await get_as(second, "/admin/", session_id)
    assert response.status == 200


# --- Outage ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_redis(port: int) -> asyncio.subprocess.Process:
    """A redis-server of this test's own, ready to answer."""
    process = await asyncio.create_subprocess_exec(
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    probe = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                if await probe.ping():
                    return process
            except Exception:
                if process.returncode is not None or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)
    finally:
        await probe.aclose()


async def stop_redis(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()


@pytest.mark.redis
async def test_an_outage_answers_503_and_recovers_without_a_restart(
    make_client: ClientFactory, redis_url: str
) -> None:
    port = free_port()
    own_url = f"redis://127.0.0.1:{port}/0"
    server = await start_redis(port)
    try:
        client = await make_client(sessions=redis_sessions(own_url, "cms:session:"))
        await setup_admin(client)
        assert (await client.get("/admin/")).status == 200

        async def admin_page() -> tuple[int, str | None]:
            response = await client.get("/admin/", allow_redirects=False)
            await response.read()
            return response.status, response.headers.get("Retry-After")

        async def kill_soon() -> None:
            await asyncio.sleep(0.02)
            await stop_redis(server)

        results = await asyncio.gather(*(admin_page() for _ in range(50)), kill_soon())
        statuses = [result for result in results if result is not None]
        assert {status for status, _ in statuses} <= {200, 503}, statuses
        assert all(retry for status, retry in statuses if status == 503)

        response = await client.get("/admin/", allow_redirects=False)
        assert response.status == 503
        assert response.headers["Retry-After"]
        assert "Temporarily unavailable" in await response.text()
        client.session.cookie_jar.clear()  # a visitor without a session
        anonymous = await client.get("/")
        assert anonymous.status == 200
        health = await client.get("/healthz")
        assert health.status == 503
        assert "sessions" in (await health.json())["down"]
        assert "sessions (redis) unavailable" in (await health.json())["message"]

        server = await start_redis(port)
        deadline = time.monotonic() + 5
        while True:
            response = await login(client, ADMIN_NAME, ADMIN_PASSWORD)
            if response.status == 303:
                break
            assert response.status == 503, response.status
            assert time.monotonic() < deadline, "sign-in did not work again within 5 s"
            await asyncio.sleep(0.1)
        assert (await client.get("/admin/", allow_redirects=False)).status == 200
        assert (await client.get("/healthz")).status == 200
    finally:
        await stop_redis(server)


@pytest.mark.redis
async def test_a_redis_that_stops_answering_fails_fast_with_503(
    make_client: ClientFactory, redis_url: str
) -> None:
    port = free_port()
    server = await start_redis(port)
    try:
        client = await make_client(
            sessions=redis_sessions(
                f"redis://127.0.0.1:{port}/0",
                "cms:session:",
                socket_timeout=0.2,
                connect_timeout=0.2,
            )
        )
        await setup_admin(client)
        server.send_signal(signal.SIGSTOP)  # accepts connections, never answers
        try:
            started = time.monotonic()
            response = await client.get("/admin/", allow_redirects=False)
            assert response.status == 503
            assert response.headers["Retry-After"]
            # Without short timeouts this would hang; the bound leaves room for a busy machine.
            assert time.monotonic() - started < 6
            health = await client.get("/healthz")
            assert health.status == 503
            assert "sessions" in (await health.json())["down"]
        finally:
            server.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 5
        while (status := (await client.get("/admin/", allow_redirects=False)).status) != 200:
            assert status == 503 and time.monotonic() < deadline, status
            await asyncio.sleep(0.1)
    finally:
        await stop_redis(server)


# --- Options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"url": "http://x"}, "url"),
        ({"url": "redis://127.0.0.1:notaport/0"}, "url"),
        ({"max_age": 60}, "max_age"),
        ({"idle_timeout": 5}, "idle_timeout"),
    ],
)
async def test_bad_options_stop_start_up_naming_the_key(
    make_client: ClientFactory, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        await make_client(sessions={"backend": "redis", "options": options})
    message = str(raised.value)
    assert named in message
    assert "[sessions]" in message and "\n" not in message
