"""``[sessions] absolute_timeout``: a sign-in ends that long after it began, however active
the session, with either session store. Sessions are aged through the store's own data: the
encrypted cookie re-encrypted with the site's key, or the session's JSON in Redis."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from tests.conftest import REDIS_URL_ENV, ClientFactory, service_url, setup_admin, site_of

COOKIE = "cms_session"
DAY = 24 * 3600


def cookie_value(client: TestClient[Any, Any]) -> str:
    values = [c.value for c in client.session.cookie_jar if c.key == COOKIE]
    assert len(values) == 1, "expected exactly one session cookie in the jar"
    return str(values[0])


async def signed_in_since(
    client: TestClient[Any, Any], sessions: dict[str, Any], cookie: str, age: int
) -> str:
    """Make the sign-in behind ``cookie`` ``age`` seconds old in the store's own data (last
    used just now); return the cookie that carries it."""
    now = int(time.time())
    if sessions["backend"] == "cookie":
        # What EncryptedCookieStorage does with the site's key (aiohttp-session's recipe).
        fernet = Fernet(base64.urlsafe_b64encode(site_of(client).secret_key))
        data = json.loads(fernet.decrypt(cookie.encode()))
        data["session"]["auth_at"] = now - age
        return fernet.encrypt(json.dumps(data).encode()).decode()
    options = sessions["options"]
    redis = Redis.from_url(options["url"])
    try:
        key = options["key_prefix"] + cookie
        data = json.loads(await redis.get(key))
        data["session"]["auth_at"] = data["started"] = now - age
        data["created"] = now
        await redis.set(key, json.dumps(data), ex=3600)
    finally:
        await redis.aclose()
    return cookie


async def admin_status(client: TestClient[Any, Any], cookie: str) -> int:
    """The status of ``/admin/`` for a fresh browser that carries only ``cookie``."""
    client.session.cookie_jar.clear()
    response = await client.get(
        "/admin/", headers={"Cookie": f"{COOKIE}={cookie}"}, allow_redirects=False
    )
    if response.status == 302:
        assert response.headers["Location"].startswith("/login")
    return response.status


async def test_a_sign_in_older_than_the_setting_is_refused(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    lifetime = 2 * 3600
    client = await make_client(sessions={**sessions, "absolute_timeout": lifetime})
    await setup_admin(client)
    cookie = cookie_value(client)
    assert await admin_status(client, await signed_in_since(client, sessions, cookie, 60)) == 200
    nearly = await signed_in_since(client, sessions, cookie, lifetime - 120)
    assert await admin_status(client, nearly) == 200
    too_old = await signed_in_since(client, sessions, cookie, lifetime + 1)
    assert await admin_status(client, too_old) == 302


async def test_a_lifetime_past_fourteen_days_is_honoured(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    client = await make_client(sessions={**sessions, "absolute_timeout": 30 * DAY})
    await setup_admin(client)
    cookie = cookie_value(client)
    assert (
        await admin_status(client, await signed_in_since(client, sessions, cookie, 20 * DAY)) == 200
    )
    too_old = await signed_in_since(client, sessions, cookie, 30 * DAY + 60)
    assert await admin_status(client, too_old) == 302


async def test_the_default_lifetime_is_fourteen_days(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    client = await make_client(sessions=sessions)
    await setup_admin(client)
    cookie = cookie_value(client)
    assert (
        await admin_status(client, await signed_in_since(client, sessions, cookie, 13 * DAY)) == 200
    )
    too_old = await signed_in_since(client, sessions, cookie, 14 * DAY + 60)
    assert await admin_status(client, too_old) == 302


async def test_the_cookie_and_the_key_never_outlive_the_setting(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    lifetime = 2 * 3600  # shorter than the stores' idle timeout (14 days)
    client = await make_client(sessions={**sessions, "absolute_timeout": lifetime})
    await setup_admin(client)
    cookie = next(c for c in client.session.cookie_jar if c.key == COOKIE)
    assert 0 < int(cookie["max-age"]) <= lifetime
    if sessions["backend"] == "redis":
        options = sessions["options"]
        redis = Redis.from_url(options["url"])
        try:
            assert 0 < await redis.ttl(options["key_prefix"] + cookie.value) <= lifetime
        finally:
            await redis.aclose()


async def test_the_deprecated_redis_option_still_shortens_the_lifetime(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    url = service_url(REDIS_URL_ENV, "Redis")
    prefix = f"cms-test:{secrets.token_hex(6)}:"
    sessions = {
        "backend": "redis",
        "options": {"url": url, "key_prefix": prefix, "absolute_timeout": 3600},
        "absolute_timeout": 7200,
    }
    with caplog.at_level(logging.WARNING, logger="cms.redis_sessions"):
        client = await make_client(sessions=sessions)
    assert "options.absolute_timeout is deprecated" in caplog.text
    redis = Redis.from_url(url)
    try:
        await setup_admin(client)
        cookie = cookie_value(client)
        assert 0 < await redis.ttl(prefix + cookie) <= 3600
        assert (
            await admin_status(client, await signed_in_since(client, sessions, cookie, 3000)) == 200
        )
        too_old = await signed_in_since(client, sessions, cookie, 3601)
        assert await admin_status(client, too_old) == 302
    finally:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
