"""``[server] trusted_proxies``: behind a trusted reverse proxy the visitor's address comes
from ``X-Forwarded-For`` (walked from the right past trusted proxies) and the scheme from
``X-Forwarded-Proto``; from anyone else those headers are ignored.

Through real HTTP: the test client connects from 127.0.0.1 (the proxy, when trusted) or
from other loopback addresses, and sends the headers a proxy would."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import TCPConnector
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from cms.core.settings import LoginSection
from cms.core.site import Site
from cms.web.app import create_app
from cms.web.throttling import SignInThrottle
from cms.web.visitor import forwarded_client, parse_address
from tests.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    ClientFactory,
    csrf_from,
    login,
    make_settings,
    setup_admin,
    site_of,
)
from tests.test_throttle import fail

LOCKOUT = LoginSection().max_failures_per_account_and_address
WINDOW = LoginSection().failure_window
BY_ACCOUNT = "Too many failed sign-ins for this account"
BY_ADDRESS = "Too many failed sign-ins from your network address"

Visitor = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def visitor() -> AsyncIterator[Visitor]:
    """``await visitor(client, "127.0.0.1", {"X-Forwarded-For": ...})``: a browser of its
    own on the same site, connecting from that address and sending those headers on every
    request (as a proxy in front of it would)."""
    made: list[TestClient[Any, Any]] = []

    async def connect(
        client: TestClient[Any, Any],
        address: str | None = None,
        headers: dict[str, str] | CIMultiDict[str] | None = None,
    ) -> TestClient[Any, Any]:
        connector = TCPConnector(local_addr=(address, 0)) if address else TCPConnector()
        other: TestClient[Any, Any] = TestClient(
            client.server, connector=connector, headers=headers or {}
        )
        await other.start_server()  # the site's server runs already: this opens the session
        made.append(other)
        return other

    yield connect
    for other in made:
        await other.session.close()  # not other.close(): that would stop the shared server


async def refused(client: TestClient[Any, Any], username: str, password: str, why: str) -> None:
    response = await login(client, username, password)
    assert response.status == 429
    assert why in await response.text()


async def login_with(
    client: TestClient[Any, Any], headers: dict[str, str], password: str = "wrong password"
) -> Any:
    """One sign-in attempt for the admin with ``headers`` on the POST."""
    token = await csrf_from(client, "/login")
    data = {"username": ADMIN_NAME, "password": password, "csrf_token": token}
    return await client.post("/login", data=data, headers=headers, allow_redirects=False)


async def failures_from(client: TestClient[Any, Any], address: str) -> int:
    """Failed sign-ins counted under ``address`` (over all accounts)."""
    counter = SignInThrottle(site_of(client), address).counter
    return len(await counter.recent_attempts(f"login:address:{address}", WINDOW))


# --- Behind a trusted proxy ---------------------------------------------------------------


async def test_visitors_behind_one_trusted_proxy_have_lockouts_of_their_own(
    make_client: ClientFactory, visitor: Visitor
) -> None:
    client = await make_client(server={"trusted_proxies": ["127.0.0.1"]})
    await setup_admin(client)
    guesser = await visitor(client, "127.0.0.1", {"X-Forwarded-For": "203.0.113.7"})
    owner = await visitor(client, "127.0.0.1", {"X-Forwarded-For": "198.51.100.20"})
    await fail(guesser, ADMIN_NAME, LOCKOUT)
    await refused(guesser, ADMIN_NAME, ADMIN_PASSWORD, BY_ACCOUNT)
    assert (await login(owner, ADMIN_NAME, ADMIN_PASSWORD)).status == 303
    assert await failures_from(client, "203.0.113.7") == LOCKOUT
    assert await failures_from(client, "127.0.0.1") == 0


@pytest.mark.parametrize("trusted", [[], ["127.0.0.1"]], ids=["untrusted", "trusted"])
async def test_the_per_address_ceiling_counts_each_visitor_behind_a_trusted_proxy(
    make_client: ClientFactory, visitor: Visitor, trusted: list[str]
) -> None:
    """Without the setting, the proxy's address is everybody's: one sprayer's failures
    refuse every visitor behind it. With it, only the sprayer is refused."""
    ceiling = 5
    client = await make_client(
        server={"trusted_proxies": trusted}, login={"max_failures_per_address": ceiling}
    )
    await setup_admin(client)
    sprayer = await visitor(client, "127.0.0.1", {"X-Forwarded-For": "203.0.113.7"})
    other = await visitor(client, "127.0.0.1", {"X-Forwarded-For": "203.0.113.8"})
    for n in range(ceiling):
        await fail(sprayer, f"user{n}", 1)
    await refused(sprayer, "someone-new", "a guess", BY_ADDRESS)
    if trusted:
        await fail(other, "someone-new", 1)
        assert (await login(other, ADMIN_NAME, ADMIN_PASSWORD)).status == 303
    else:
        await refused(other, "someone-new", "a guess", BY_ADDRESS)


@pytest.mark.parametrize(
    ("trusted", "peer"),
    [
        ([], "127.0.0.1"),  # the default: nobody is trusted
        (["127.0.0.1"], "127.0.0.2"),  # the header comes from elsewhere
        (["10.0.0.0/8", "::1"], "127.0.0.1"),
    ],
    ids=["no-trusted-proxies", "another-peer", "peer-outside-the-networks"],
)
async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    make_client: ClientFactory, visitor: Visitor, trusted: list[str], peer: str
) -> None:
    """A guesser cannot escape the lockout by sending a new X-Forwarded-For each time."""
    client = await make_client(server={"trusted_proxies": trusted})
    await setup_admin(client)
    guesser = await visitor(client, peer)
    for n in range(LOCKOUT):
        response = await login_with(guesser, {"X-Forwarded-For": f"203.0.113.{n + 1}"})
        assert response.status == 401
    response = await login_with(guesser, {"X-Forwarded-For": "198.51.100.1"}, ADMIN_PASSWORD)
    assert response.status == 429
    assert await failures_from(client, peer) == LOCKOUT
    assert await failures_from(client, "203.0.113.1") == 0


async def test_a_chain_of_trusted_proxies_is_walked_from_the_right(
    make_client: ClientFactory, visitor: Visitor
) -> None:
    """Visitor -> load balancer (10.0.0.0/8) -> nginx (127.0.0.1) -> cms. The leftmost
    address is the visitor's own claim and is not believed."""
    client = await make_client(server={"trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]})
    await setup_admin(client)
    chain = "198.51.100.99, 203.0.113.7, 10.1.2.3"
    guesser = await visitor(client, "127.0.0.1", {"X-Forwarded-For": chain})
    # The same claim from another visitor, the chain split over two header lines.
    owner = await visitor(
        client,
        "127.0.0.1",
        CIMultiDict(
            [("X-Forwarded-For", "198.51.100.99"), ("X-Forwarded-For", "203.0.113.8, 10.9.9.9")]
        ),
    )
    await fail(guesser, ADMIN_NAME, LOCKOUT)
    await refused(guesser, ADMIN_NAME, ADMIN_PASSWORD, BY_ACCOUNT)
    assert (await login(owner, ADMIN_NAME, ADMIN_PASSWORD)).status == 303
    assert await failures_from(client, "203.0.113.7") == LOCKOUT
    for address in ("198.51.100.99", "10.1.2.3", "127.0.0.1"):
        assert await failures_from(client, address) == 0


@pytest.mark.parametrize(
    ("forwarded_for", "counted_as"),
    [
        ("not-an-address", "127.0.0.1"),
        ("203.0.113.7, unknown", "127.0.0.1"),
        ("203.0.113.7,,", "127.0.0.1"),
        ("999.0.113.7", "127.0.0.1"),
        ("203.0.113.7:99999999", "127.0.0.1"),
        ("[2001:db8::1", "127.0.0.1"),
        ("", "127.0.0.1"),
        # Left of the visitor: the visitor's own words, never read.
        ("garbage; <script>, 203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:4711", "203.0.113.7"),
    ],
)
async def test_a_malformed_header_from_a_trusted_proxy_counts_the_proxy(
    make_client: ClientFactory, forwarded_for: str, counted_as: str
) -> None:
    client = await make_client(server={"trusted_proxies": ["127.0.0.1"]})
    await setup_admin(client)
    response = await login_with(client, {"X-Forwarded-For": forwarded_for})
    assert response.status == 401, await response.text()
    assert await failures_from(client, counted_as) == 1


async def test_ipv6_visitors_behind_an_ipv6_proxy_are_counted_by_their_64(
    site_dir: Path, aiohttp_client: Any, visitor: Visitor
) -> None:
    site = Site(make_settings(site_dir, server={"trusted_proxies": ["::1", "fd00::/8"]}))
    client: TestClient[Any, Any] = await aiohttp_client(
        await create_app(site), server_kwargs={"host": "::1"}
    )
    await setup_admin(client)
    guesser = await visitor(client, None, {"X-Forwarded-For": "2001:db8:1:2::7, [fd00::5]:443"})
    # Another address in the same /64: the same count.
    neighbour = await visitor(client, None, {"X-Forwarded-For": "2001:db8:1:2:ffff::9"})
    owner = await visitor(client, None, {"X-Forwarded-For": "2001:db8:9::7"})
    await fail(guesser, ADMIN_NAME, LOCKOUT - 1)
    await fail(neighbour, ADMIN_NAME, 1)
    await refused(guesser, ADMIN_NAME, ADMIN_PASSWORD, BY_ACCOUNT)
    assert (await login(owner, ADMIN_NAME, ADMIN_PASSWORD)).status == 303
    assert await failures_from(client, "2001:db8:1:2::/64") == LOCKOUT
    assert await failures_from(client, "::/64") == 0


# --- The scheme -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "proto", "origin_scheme", "status"),
    [
        (["127.0.0.1"], "https", "https", 401),  # past the CSRF check: the password is wrong
        (["127.0.0.1"], "http, https", "https", 401),  # the nearest proxy's word counts
        (["127.0.0.1"], "https", "http", 403),  # the visitor used https, not http
        (["127.0.0.1"], "gopher", "http", 401),  # not a scheme: the connection's
        (["127.0.0.1"], None, "https", 403),
        ([], "https", "https", 403),  # from an untrusted peer: ignored
        ([], "https", "http", 401),
    ],
)
async def test_x_forwarded_proto_from_a_trusted_proxy_is_the_scheme_for_same_origin_checks(
    make_client: ClientFactory,
    trusted: list[str],
    proto: str | None,
    origin_scheme: str,
    status: int,
) -> None:
    """TLS ends at the proxy: the browser's Origin says https, the connection is http."""
    client = await make_client(server={"trusted_proxies": trusted})
    await setup_admin(client)
    headers = {"Origin": f"{origin_scheme}://{client.host}:{client.port}"}
    if proto is not None:
        headers["X-Forwarded-Proto"] = proto
    response = await login_with(client, headers)
    assert response.status == status, await response.text()


# --- The algorithm, address by address ----------------------------------------------------

TRUSTED = (ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("10.0.0.0/8"))
PROXY = ipaddress.ip_address("127.0.0.1")


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ([], "127.0.0.1"),
        (["203.0.113.7"], "203.0.113.7"),
        (["198.51.100.1, 203.0.113.7"], "203.0.113.7"),
        (["198.51.100.1, 203.0.113.7, 10.0.0.2, 10.0.0.3"], "203.0.113.7"),
        (["198.51.100.1", "203.0.113.7, 10.0.0.2"], "203.0.113.7"),
        (["10.0.0.2, 10.0.0.3"], "10.0.0.2"),  # all trusted: the leftmost
        (["2001:db8::7, 10.0.0.2"], "2001:db8::7"),
        (["[2001:db8::7]:4711"], "2001:db8::7"),
        (["::ffff:203.0.113.7"], "203.0.113.7"),
        (["::ffff:10.0.0.2, 10.0.0.3"], "10.0.0.2"),
        (["203.0.113.7, 10.0.0.2:8080"], "203.0.113.7"),
        (["garbage, 203.0.113.7"], "203.0.113.7"),
        (["203.0.113.7, garbage"], "127.0.0.1"),
        (["203.0.113.7, garbage, 10.0.0.2"], "127.0.0.1"),
        (["203.0.113.7, "], "127.0.0.1"),
        ([" "], "127.0.0.1"),
        (["unknown"], "127.0.0.1"),
        (["fe80::1%eth0"], "fe80::1"),
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(
    headers: list[str], client: str
) -> None:
    assert str(forwarded_client(PROXY, headers, TRUSTED)) == client


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("203.0.113.7:80", "203.0.113.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:", None),
        ("203.0.113.7:http", None),
        ("203.0.113.7:123456", None),
        ("[2001:db8::7", None),
        ("[2001:db8::7]443", None),
        ("2001:db8::7:", None),
        ("localhost", None),
        ("_hidden", None),
        ("", None),
    ],
)
def test_addresses_are_read_as_proxies_write_them(text: str, address: str | None) -> None:
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == address
