"""The visitor's address and scheme, as seen through the proxies ``[server] trusted_proxies``
names.

Without trusted proxies (the default) the visitor is the TCP peer (``request.remote``) and
no header is read: any client can send ``X-Forwarded-For``. When the peer is a trusted
proxy, ``X-Forwarded-For`` is walked from the right, past addresses that are trusted
proxies themselves; the first one that is not is the visitor (the algorithm of nginx's
``real_ip_recursive`` and Werkzeug's ``ProxyFix``). Addresses further left were written
by the visitor, or by proxies nobody trusts, and are never looked at. When every address
is a trusted proxy, the leftmost is the visitor. An entry that is not an IP address, met
on that walk, means the header cannot be relied on: the peer's address is used instead.

A trusted peer's ``X-Forwarded-Proto`` (``http`` or ``https``; the last value when it
holds several) is the scheme the visitor used.

RFC 7239 ``Forwarded`` is not read: a proxy that manages only ``X-Forwarded-For`` passes a
visitor's own ``Forwarded`` header on untouched, so reading both would let visitors choose
their address.

Both are worked out once per request and kept on it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web

from cms.web.keys import SITE_KEY, VISITOR_KEY

__all__ = [
    "UNKNOWN_ADDRESS",
    "IPAddress",
    "IPNetwork",
    "Visitor",
    "client_address",
    "client_scheme",
    "forwarded_client",
    "parse_address",
    "visitor",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The address of a visitor whose connection has no IP address (a Unix socket).
UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who made a request: their IP address (or ``UNKNOWN_ADDRESS``) and scheme."""

    address: str
    scheme: str


def visitor(request: web.Request) -> Visitor:
    """The visitor behind ``request``, worked out on first use and kept on the request."""
    if VISITOR_KEY in request:
        return request[VISITOR_KEY]
    trusted = request.app[SITE_KEY].settings.server.trusted_proxies
    peer = parse_address(request.remote or "")
    address, scheme = peer, request.scheme
    if peer is not None and _is_trusted(peer, trusted):
        address = forwarded_client(peer, request.headers.getall("X-Forwarded-For", ()), trusted)
        proto = request.headers.get("X-Forwarded-Proto", "").rsplit(",", 1)[-1].strip().lower()
        if proto in ("http", "https"):
            scheme = proto
    found = Visitor(UNKNOWN_ADDRESS if address is None else str(address), scheme)
    request[VISITOR_KEY] = found
    return found


def client_address(request: web.Request) -> str:
    """The visitor's IP address (IPv4-mapped IPv6 ones as IPv4), or ``UNKNOWN_ADDRESS``."""
    return visitor(request).address


def client_scheme(request: web.Request) -> str:
    """The scheme the visitor used: ``request.scheme``, or a trusted proxy's word for it."""
    return visitor(request).scheme


def forwarded_client(
    peer: IPAddress, headers: Iterable[str], trusted: Sequence[IPNetwork]
) -> IPAddress:
    """The visitor's address from ``X-Forwarded-For`` values that trusted ``peer`` sent."""
    hops = ",".join(headers)
    if not hops.strip():
        return peer
    address = peer
    for hop in reversed(hops.split(",")):
        if not _is_trusted(address, trusted):
            break
        parsed = parse_address(hop)
        if parsed is None:
            return peer  # not written by a proxy we trust to write it right
        address = parsed
    return address


def parse_address(text: str) -> IPAddress | None:
    """An IP address as proxies write it: ``192.0.2.7``, ``2001:db8::7``, with a port
    (``192.0.2.7:4711``, ``[2001:db8::7]:4711``) or in brackets; None when it is not one.
    IPv4-mapped IPv6 addresses come back as IPv4, and zones (``%eth0``) are dropped."""
    text = text.strip()
    if text.startswith("["):
        text, bracket, port = text[1:].partition("]")
        if not bracket or (port and not _is_port(port)):
            return None
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has two colons at least
        text, _, port = text.partition(":")
        if not _is_port(":" + port):
            return None
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    digits = text[1:]
    return text.startswith(":") and digits.isascii() and digits.isdigit() and len(digits) <= 5


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    # An address is never in a network of the other IP version.
    return any(address in network for network in trusted)
