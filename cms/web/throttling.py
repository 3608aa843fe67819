"""Sign-in throttling: failed password attempts are counted three ways, each over
``[login] failure_window`` seconds (15 minutes by default), and past any of the limits an
attempt answers 429 with ``Retry-After``, even with the right password:

- per account and client address (10): the lockout an attacker meets. Because it is per
  address, an attacker cannot lock the owner out: the owner, elsewhere, has a count of
  their own;
- per client address (50): one address cannot spray a password over many accounts;
- per account (100): many addresses together cannot guess one password without end. It is
  looser, so locking the owner out takes many addresses.

A successful sign-in clears its account-and-address count and is not counted by the
others, so only failures add up.

Attempts are counted where every worker and host sees them: in the session store when it
can count (Redis), else in storage. Each count is checked and added to in one atomic step
before the password is checked (and the attempt given back when a later count refuses it,
or when the password was right), so a burst of concurrent guesses cannot slip past a
limit. Keys hold the account name as typed, so an unknown user and a wrong password are
treated alike.

The client address is ``cms.web.visitor``'s: the TCP peer's, or, when that is one of
``[server] trusted_proxies``, the visitor's address those proxies forwarded.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from aiohttp import web

from cms.contracts import AttemptCounter
from cms.core.site import Site
from cms.web.visitor import client_address

__all__ = ["SignInThrottle", "counted_address"]


def counted_address(request: web.Request) -> str:
    """The address sign-in failures are counted under: the client's IP address
    (``cms.web.visitor``), an IPv6 one by its /64 network (one host or household
    usually holds a whole /64)."""
    address = client_address(request)
    if ":" in address:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return address


@dataclass(frozen=True)
class _Limit:
    key: str
    limit: int
    refusal: str


class SignInThrottle:
    """Password attempts from one client address (sign-in, and the current-password check)."""

    def __init__(self, site: Site, address: str) -> None:
        sessions = site.sessions
        self.counter: AttemptCounter = (
            sessions if isinstance(sessions, AttemptCounter) else site.storage
        )
        self.settings = site.settings.login
        self.address = address

    def _limits(self, username: str) -> list[_Limit]:
        """The counts an attempt on ``username`` adds to, the lockout first."""
        account = username.strip().lower()[:150]
        settings = self.settings
        limits = [
            _Limit(
                f"login:account-address:{self.address}|{account}",
                settings.max_failures_per_account_and_address,
                "Too many failed sign-ins for this account",
            )
        ]
        if settings.max_failures_per_address:
            limits.append(
                _Limit(
                    f"login:address:{self.address}",
                    settings.max_failures_per_address,
                    "Too many failed sign-ins from your network address",
                )
            )
        if settings.max_failures_per_account:
            limits.append(
                _Limit(
                    f"login:account:{account}",
                    settings.max_failures_per_account,
                    "Too many failed sign-ins for this account",
                )
            )
        return limits

    async def attempt(self, username: str) -> None:
        """Count a password attempt on ``username`` from this address; raise 429 with
        ``Retry-After`` when one of the limits is reached (the attempt is then not counted)."""
        window = self.settings.failure_window
        taken: list[str] = []
        for limit in self._limits(username):
            refused = await self.counter.record_attempt(limit.key, window, limit.limit)
            if refused is not None:
                for key in reversed(taken):
                    await self.counter.forget_attempt(key)
                raise _too_many(limit, refused, window)
            taken.append(limit.key)

    async def succeeded(self, username: str) -> None:
        """The password was right: forget this account's failures from this address, and
        take this attempt back from the other counts."""
        lockout, *ceilings = self._limits(username)
        await self.counter.clear_attempts(lockout.key)
        for limit in ceilings:
            await self.counter.forget_attempt(limit.key)


def _too_many(limit: _Limit, refused: list[float], window: int) -> web.HTTPTooManyRequests:
    # The count drops below the limit when the oldest attempt that keeps it there expires.
    oldest_that_counts = refused[len(refused) - limit.limit]
    wait = max(1, math.ceil(oldest_that_counts + window - time.time()))
    minutes = max(1, round(wait / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return web.HTTPTooManyRequests(
        reason=f"{limit.refusal}; try again in about {minutes} {unit}",
        headers={"Retry-After": str(wait)},
    )
