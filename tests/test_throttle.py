"""Sign-in throttling: failures counted per account and client address (10), per address
(50) and per account (100) over 15 minutes, then 429 with Retry-After; counted where every
worker sees it (storage, or Redis with Redis sessions). Other client addresses are real
connections from other loopback addresses (127.0.0.2, ...)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import TCPConnector, web
from aiohttp.test_utils import TestClient, make_mocked_request
from redis.asyncio import Redis
from sqlalchemy import func, select

from cms.core.settings import LoginSection
from cms.core.site import Site
from cms.web.app import create_app
from cms.web.keys import SITE_KEY
from cms.web.throttling import SignInThrottle, counted_address
from tests.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    POSTGRES_URL_ENV,
    REDIS_URL_ENV,
    ClientFactory,
    login,
    make_settings,
    post_form,
    reset_postgres,
    service_url,
    setup_admin,
    site_of,
)

DEFAULTS = LoginSection()
LOGIN_ATTEMPT_LIMIT = DEFAULTS.max_failures_per_account_and_address
LOGIN_WINDOW = DEFAULTS.failure_window


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def counted_in(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """Settings sections for each place attempts are counted: SQLite or PostgreSQL storage
    (with cookie sessions), or Redis sessions."""
    if request.param == "sqlite":
        yield {}
        return
    if request.param == "postgres":
        url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
        await reset_postgres(url)
        yield {"storage": {"backend": "postgres", "options": {"url": url}}}
        return
    url = service_url(REDIS_URL_ENV, "Redis")
    prefix = f"cms-test:{secrets.token_hex(6)}:"
    yield {"sessions": {"backend": "redis", "options": {"url": url, "key_prefix": prefix}}}
    redis = Redis.from_url(url)
    keys = [key async for key in redis.scan_iter(match=prefix + "*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


Connect = Callable[[TestClient[Any, Any], str], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def connect_from() -> AsyncIterator[Connect]:
    """``await connect_from(client, "127.0.0.2")``: a browser of its own on the same site
    whose connections come from another loopback address."""
    made: list[TestClient[Any, Any]] = []

    async def connect(client: TestClient[Any, Any], address: str) -> TestClient[Any, Any]:
        other: TestClient[Any, Any] = TestClient(
            client.server, connector=TCPConnector(local_addr=(address, 0))
        )
        await other.start_server()  # the site's server runs already: this opens the session
        made.append(other)
        await other.get("/login")  # a session of its own, so concurrent forms share a token
        return other

    yield connect
    for other in made:
        await other.session.close()  # not other.close(): that would stop the shared server


async def fail(client: TestClient[Any, Any], username: str, times: int) -> None:
    for _ in range(times):
        response = await login(client, username, "wrong password")
        assert response.status == 401


async def assert_throttled(
    client: TestClient[Any, Any],
    username: str,
    password: str,
    why: str = "Too many failed sign-ins for this account",
    window: int = LOGIN_WINDOW,
) -> None:
    response = await login(client, username, password)
    assert response.status == 429
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= window
    text = await response.text()
    assert why in text and "try again in about" in text and "<html" in text


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
        for key in (
            f"{prefix}attempts:login:account-address:127.0.0.1|{ADMIN_NAME}",
            f"{prefix}attempts:login:address:127.0.0.1",
            f"{prefix}attempts:login:account:{ADMIN_NAME}",
        ):
            assert await redis.zcard(key) == 2, key
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
    make_client: ClientFactory, counted_in: dict[str, Any]
) -> None:
    client = await make_client(**counted_in)
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


# --- Counted per address too ---------------------------------------------------------------


async def test_a_guesser_elsewhere_cannot_lock_the_owner_out(
    make_client: ClientFactory, counted_in: dict[str, Any], connect_from: Connect
) -> None:
    client = await make_client(**counted_in)
    await setup_admin(client)
    guesser = await connect_from(client, "127.0.0.2")
    await fail(guesser, ADMIN_NAME, LOGIN_ATTEMPT_LIMIT)
    await assert_throttled(guesser, ADMIN_NAME, ADMIN_PASSWORD)
    # The owner, at another address, signs in; that frees nobody else.
    assert (await login(client, ADMIN_NAME, ADMIN_PASSWORD)).status == 303
    await assert_throttled(guesser, ADMIN_NAME, ADMIN_PASSWORD)


async def test_one_address_cannot_spray_a_password_over_many_accounts(
    make_client: ClientFactory, counted_in: dict[str, Any], connect_from: Connect
) -> None:
    limit = 20  # the default is 50: fewer password checks, the same point
    client = await make_client(login={"max_failures_per_address": limit}, **counted_in)
    await setup_admin(client)
    sprayer = await connect_from(client, "127.0.0.2")
    # All at once, one guess per account: exactly the address's allowance gets through.
    responses = await asyncio.gather(
        *(login(sprayer, f"user{n}", "Summer2024!") for n in range(2 * limit))
    )
    statuses = [response.status for response in responses]
    assert statuses.count(401) == limit
    assert statuses.count(429) == limit
    refused = next(response for response in responses if response.status == 429)
    assert 0 < int(refused.headers["Retry-After"]) <= LOGIN_WINDOW
    assert "Too many failed sign-ins from your network address" in await refused.text()
    by_address = "Too many failed sign-ins from your network address"
    await assert_throttled(sprayer, "someone-new", "Summer2024!", by_address)
    await assert_throttled(sprayer, ADMIN_NAME, ADMIN_PASSWORD, by_address)
    # Other addresses are not affected.
    assert (await login(client, ADMIN_NAME, ADMIN_PASSWORD)).status == 303
    other = await connect_from(client, "127.0.0.3")
    assert (await login(other, "user1", "Summer2024!")).status == 401


async def test_many_addresses_together_reach_the_account_ceiling(
    make_client: ClientFactory, counted_in: dict[str, Any], connect_from: Connect
) -> None:
    window = 600
    limits = {
        "failure_window": window,
        "max_failures_per_account_and_address": 2,
        "max_failures_per_account": 4,
    }
    client = await make_client(login=limits, **counted_in)
    await setup_admin(client)
    for address in ("127.0.0.2", "127.0.0.3"):
        guesser = await connect_from(client, address)
        await fail(guesser, ADMIN_NAME, 2)
        await assert_throttled(guesser, ADMIN_NAME, "a guess", window=window)
    owner = await connect_from(client, "127.0.0.4")
    await assert_throttled(owner, ADMIN_NAME, ADMIN_PASSWORD, window=window)
    assert (await login(owner, "someone-else", "wrong password")).status == 401
    # The refused attempt was counted nowhere: the counts it passed gave it back.
    counter = SignInThrottle(site_of(client), "127.0.0.4").counter
    assert len(await counter.recent_attempts("login:address:127.0.0.4", window)) == 1
    pair = f"login:account-address:127.0.0.4|{ADMIN_NAME}"
    assert await counter.recent_attempts(pair, window) == []


async def test_only_failures_count(make_client: ClientFactory, counted_in: dict[str, Any]) -> None:
    window = 600
    limits = {
        "failure_window": window,
        "max_failures_per_account_and_address": 2,
        "max_failures_per_account": 2,
        "max_failures_per_address": 3,
    }
    client = await make_client(login=limits, **counted_in)
    await setup_admin(client)
    for _ in range(5):  # successes count towards no limit
        assert (await login(client, ADMIN_NAME, ADMIN_PASSWORD)).status == 303
    await fail(client, "victim", 2)
    for _ in range(3):  # refused before the password is checked: not counted by the address
        await assert_throttled(client, "victim", "a guess", window=window)
    await fail(client, "someone", 1)
    by_address = "Too many failed sign-ins from your network address"
    await assert_throttled(client, "someone-else", "a guess", by_address, window)
    await assert_throttled(client, ADMIN_NAME, ADMIN_PASSWORD, by_address, window)


async def test_a_ceiling_set_to_0_is_off(make_client: ClientFactory, connect_from: Connect) -> None:
    limits = {
        "max_failures_per_account_and_address": 1,
        "max_failures_per_account": 0,
        "max_failures_per_address": 0,
    }
    client = await make_client(login=limits)
    await setup_admin(client)
    for n in range(LOGIN_ATTEMPT_LIMIT * 2):  # many accounts from one address
        await fail(client, f"user{n}", 1)
    for n in range(3):  # one account from many addresses
        guesser = await connect_from(client, f"127.0.0.{n + 2}")
        await fail(guesser, ADMIN_NAME, 1)
    assert (await login(client, ADMIN_NAME, ADMIN_PASSWORD)).status == 303


@pytest.mark.parametrize(
    ("remote", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("", "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_failures_are_counted_under_the_ip_address_and_an_ipv6_one_by_its_64(
    site_dir: Path, remote: str, counted_as: str
) -> None:
    app = web.Application()
    app[SITE_KEY] = Site(make_settings(site_dir))
    request = make_mocked_request("POST", "/login", app=app).clone(remote=remote)
    assert counted_address(request) == counted_as


async def test_an_ipv6_client_is_counted_by_its_64_over_http(
    site_dir: Path, aiohttp_client: Any
) -> None:
    site = Site(make_settings(site_dir))
    client: TestClient[Any, Any] = await aiohttp_client(
        await create_app(site), server_kwargs={"host": "::1"}
    )
    await setup_admin(client)
    await fail(client, ADMIN_NAME, 1)
    counter = SignInThrottle(site, "::/64").counter
    assert len(await counter.recent_attempts("login:address:::/64", LOGIN_WINDOW)) == 1
    assert await counter.recent_attempts("login:address:::1", LOGIN_WINDOW) == []
