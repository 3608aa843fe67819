"""Sign-in throttling: at most 10 attempts per account in 15 minutes; a successful sign-in
clears the count, so only failures add up.

Attempts are counted where every worker and host sees them: in the session store when
it can count (Redis), else in storage. Each attempt is checked and recorded in one
atomic step, so a burst of concurrent guesses cannot slip past the limit. The key is the
account name as typed, so an unknown user and a wrong password are treated alike.
"""

from __future__ import annotations

import math
import time

from aiohttp import web

from cms.contracts import AttemptCounter
from cms.site import Site

__all__ = ["LOGIN_ATTEMPT_LIMIT", "LOGIN_WINDOW", "SignInThrottle"]

LOGIN_ATTEMPT_LIMIT = 10
LOGIN_WINDOW = 15 * 60


class SignInThrottle:
    """Password attempts of one site's accounts (sign-in, and the current-password check)."""

    def __init__(self, site: Site) -> None:
        sessions = site.sessions
        self.counter: AttemptCounter = (
            sessions if isinstance(sessions, AttemptCounter) else site.storage
        )

    @staticmethod
    def _key(username: str) -> str:
        return "login:" + username.strip().lower()[:150]

    async def attempt(self, username: str) -> None:
        """Count a password attempt for ``username``; raise 429 with ``Retry-After`` when the
        account has had too many."""
        refused = await self.counter.record_attempt(
            self._key(username), LOGIN_WINDOW, LOGIN_ATTEMPT_LIMIT
        )
        if refused is None:
            return
        # The count drops below the limit when the oldest attempt that keeps it there expires.
        oldest_that_counts = refused[len(refused) - LOGIN_ATTEMPT_LIMIT]
        wait = max(1, math.ceil(oldest_that_counts + LOGIN_WINDOW - time.time()))
        minutes = max(1, round(wait / 60))
        raise web.HTTPTooManyRequests(
            reason="Too many failed sign-ins for this account; try again in about "
            f"{minutes} minute{'s' if minutes != 1 else ''}",
            headers={"Retry-After": str(wait)},
        )

    async def succeeded(self, username: str) -> None:
        """The password was right: forget this account's attempts."""
        await self.counter.clear_attempts(self._key(username))
