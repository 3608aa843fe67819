"""Sign-in throttling: at most 10 failed attempts per account in 15 minutes.

Attempts are counted where every worker and host sees them: in the session store when
it can count (Redis), else in storage. The key is the account name as typed, so an
unknown user and a wrong password are treated the same way.
"""

from __future__ import annotations

import math
import time

from cms.contracts import AttemptCounter
from cms.site import Site

__all__ = ["LOGIN_ATTEMPT_LIMIT", "LOGIN_WINDOW", "SignInThrottle"]

LOGIN_ATTEMPT_LIMIT = 10
LOGIN_WINDOW = 15 * 60


class SignInThrottle:
    """Failed sign-ins of one site."""

    def __init__(self, site: Site) -> None:
        sessions = site.sessions
        self.counter: AttemptCounter = (
            sessions if isinstance(sessions, AttemptCounter) else site.storage
        )

    @staticmethod
    def _key(username: str) -> str:
        return "login:" + username.strip().lower()[:150]

    async def retry_after(self, username: str) -> int | None:
        """Seconds until this account may try again, or None when it may now."""
        times = await self.counter.recent_attempts(self._key(username), LOGIN_WINDOW)
        if len(times) < LOGIN_ATTEMPT_LIMIT:
            return None
        # The count drops below the limit when the oldest attempt that keeps it there expires.
        oldest_that_counts = sorted(times)[len(times) - LOGIN_ATTEMPT_LIMIT]
        return max(1, math.ceil(oldest_that_counts + LOGIN_WINDOW - time.time()))

    async def failed(self, username: str) -> None:
        await self.counter.record_attempt(self._key(username), LOGIN_WINDOW)

    async def succeeded(self, username: str) -> None:
        await self.counter.clear_attempts(self._key(username))
