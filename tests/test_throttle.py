"""Sign-in throttling: 10 failed attempts per account in 15 minutes, then 429 with
Retry-After; counted where every worker sees it (storage, or Redis with Redis sessions)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import func, select

from cms.throttling import LOGIN_ATTEMPT_LIMIT, LOGIN_WINDOW
from tests.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    REDIS_URL_ENV,
    ClientFactory,
    login,
    post_form,
    service_url,
    setup_admin,
    site_of,
)


@pytest.fixture(params=["cookie", "redis"])
async def sessions(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """``[sessions]`` settings for each store; Redis keys are cleaned up afterwards."""
    if request.param == "cookie":
        yield {"backend": "cookie"}
        return
    url = service_url(REDIS_URL_ENV, "Redis")
    prefix = f"cms-test:{secrets.token_hex(6)}:"
    yield {"backend": "redis", "options": {"url": url, "key_prefix": prefix}}
    redis = Redis.from_url(url)
    keys = [key async for key in redis.scan_iter(match=prefix + "*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def fail(client: TestClient[Any, Any], username: str, times: int) -> None:
    for _ in range(times):
        response = await login(client, username, "wrong password")
        assert response.status == 401


async def assert_throttled(client: TestClient[Any, Any], username: str, password: str) -> None:
    response = await login(client, username, password)
    assert response.status == 429
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= LOGIN_WINDOW
    text = await response.text()
    assert "Too many failed sign-ins" in text and "<html" in text


async def test_ten_failures_then_429_even_with_the_right_password(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    client = await make_client(sessions=sessions)
    await setup_admin(client)
    await fail(client, ADMIN_NAME, LOGIN_ATTEMPT_LIMIT)
    await assert_throttled(client, ADMIN_NAME, ADMIN_PASSWORD)
    # Other accounts are not affected.
    assert (await login(client, "someone-else", "wrong password")).status == 401


async def test_unknown_users_are_throttled_the_same_way(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    client = await make_client(sessions=sessions)
    await setup_admin(client)
    await fail(client, "nobody", LOGIN_ATTEMPT_LIMIT)
    await assert_throttled(client, "nobody", "whatever")


async def test_a_successful_sign_in_clears_the_count(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    client = await make_client(sessions=sessions)
    await setup_admin(client)
    await fail(client, ADMIN_NAME, LOGIN_ATTEMPT_LIMIT - 1)
    assert (await login(client, ADMIN_NAME, ADMIN_PASSWORD)).status == 303
    await fail(client, ADMIN_NAME, LOGIN_ATTEMPT_LIMIT - 1)
    assert (await login(client, ADMIN_NAME, ADMIN_PASSWORD)).status == 303


async def test_the_count_is_shared_between_workers(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    first = await make_client(sessions=sessions)
    await setup_admin(first)
    second = await make_client(sessions=sessions)  # another process of the same site
    await fail(first, ADMIN_NAME, LOGIN_ATTEMPT_LIMIT // 2)
    await fail(second, ADMIN_NAME, LOGIN_ATTEMPT_LIMIT - LOGIN_ATTEMPT_LIMIT // 2)
    await assert_throttled(first, ADMIN_NAME, ADMIN_PASSWORD)
    await assert_throttled(second, ADMIN_NAME, ADMIN_PASSWORD)


async def test_attempts_are_counted_in_redis_when_sessions_are(
    make_client: ClientFactory,
) -> None:
    url = service_url(REDIS_URL_ENV, "Redis")
    prefix = f"cms-test:{secrets.token_hex(6)}:"
    client = await make_client(
        sessions={"backend": "redis", "options": {"url": url, "key_prefix": prefix}}
    )
    redis = Redis.from_url(url)
    try:
        await setup_admin(client)
        await fail(client, ADMIN_NAME, 2)
        key = f"{prefix}attempts:login:{ADMIN_NAME}"
        assert await redis.zcard(key) == 2
        assert 0 < await redis.ttl(key) <= LOGIN_WINDOW
        storage: Any = site_of(client).storage
        async with storage._reading() as conn:
            rows = await conn.execute(select(func.count()).select_from(storage.schema.attempts))
            assert rows.scalar_one() == 0
    finally:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_a_burst_of_concurrent_guesses_cannot_slip_past_the_limit(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    client = await make_client(sessions=sessions)
    await setup_admin(client)
    responses = await asyncio.gather(
        *(login(client, ADMIN_NAME, "wrong password") for _ in range(4 * LOGIN_ATTEMPT_LIMIT))
    )
    statuses = sorted(response.status for response in responses)
    assert statuses.count(401) == LOGIN_ATTEMPT_LIMIT
    assert statuses.count(429) == 3 * LOGIN_ATTEMPT_LIMIT


async def test_the_current_password_check_is_throttled_too(
    make_client: ClientFactory, sessions: dict[str, Any]
) -> None:
    client = await make_client(sessions=sessions)
    await setup_admin(client)
    form = {"current_password": "wrong", "password": "x" * 12, "password_confirm": "x" * 12}
    for _ in range(LOGIN_ATTEMPT_LIMIT):
        assert (await post_form(client, "/admin/account", form)).status == 422
    assert (await post_form(client, "/admin/account", form)).status == 429
