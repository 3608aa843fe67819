"""``RedisStorage`` with the lifetimes, deletions and error handling cms needs.

aiohttp-session's ``RedisStorage`` (2.12) stores ``{"created", "session"}`` under
``<cookie_name>_<id>``. Left alone it would:

- write keys that never expire when ``max_age`` is None, and refresh nothing on reads;
- rewrite an invalidated session as ``"{}"`` instead of deleting its key, so sign-out
  leaves a live key behind (without a TTL, forever);
- keep the old key when ``new_session()`` replaces a session at sign-in;
- let ``redis`` errors escape as 500s.

So both of its methods are replaced here; the class keeps ``RedisStorage``'s constructor
(client type check, cookie parameters). ``created`` in the stored data stays what
aiohttp-session means by it (the last write); ``started`` is when the session began,
which the absolute lifetime counts from.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.redis_storage import RedisStorage
from redis.asyncio import Redis
from redis.exceptions import RedisError

from cms.contracts import DependencyUnavailable

__all__ = ["ExpiringRedisStorage", "RedisSession", "redis_errors_as_unavailable"]

# Session ids are secrets.token_urlsafe(32); anything else in the cookie is never looked up.
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
# A failed load is remembered for the rest of the request, so the error page (which asks
# who is signed in) does not wait for Redis a second time.
_LOAD_FAILED: web.RequestKey[DependencyUnavailable] = web.RequestKey("cms_redis_session_failed")


@contextmanager
def redis_errors_as_unavailable() -> Iterator[None]:
    """Turn any Redis or socket error into ``DependencyUnavailable("sessions")`` (a 503)."""
    try:
        yield
    except (RedisError, OSError) as error:
        lines = str(error).strip().splitlines()
        reason = lines[0][:200] if lines else type(error).__name__
        raise DependencyUnavailable("sessions", reason) from error


class RedisSession(Session):
    """A session that knows when it started (``started``, Unix seconds)."""

    def __init__(
        self,
        identity: str | None,
        *,
        data: Any,
        new: bool,
        max_age: int | None,
        started: int | None = None,
    ) -> None:
        super().__init__(identity, data=data, new=new, max_age=max_age)
        self.started: int = int(time.time()) if started is None else started


class ExpiringRedisStorage(RedisStorage):
    """Sessions in Redis whose keys always expire, and go away on sign-out.

    A key lives ``min(idle_timeout, what is left of absolute_timeout)`` seconds after
    its last write; the cookie expires with it. A session past ``absolute_timeout``
    loads as a new, empty one and its key is deleted. A session that is read but not
    written is rewritten (its TTL renewed) at most every ``refresh_after`` seconds, so
    ``idle_timeout`` means idle, not "since the last change".
    """

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str,
        idle_timeout: int,
        absolute_timeout: int,
        cookie_name: str,
        secure: bool,
    ) -> None:
        super().__init__(
            redis,
            cookie_name=cookie_name,
            max_age=idle_timeout,
            httponly=True,
            samesite="Lax",
            secure=secure,
            key_factory=lambda: secrets.token_urlsafe(32),
        )
        self.key_prefix = key_prefix
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.refresh_after = min(3600, max(1, idle_timeout // 10))

    def redis_key(self, session_id: str) -> str:
        """The Redis key of one session."""
        return self.key_prefix + session_id

    def _cookie_id(self, request: web.Request) -> str | None:
        value = self.load_cookie(request)
        return value if value is not None and _SESSION_ID.match(value) else None

    def _empty(self) -> RedisSession:
        return RedisSession(None, data=None, new=True, max_age=self.max_age)

    async def new_session(self) -> RedisSession:
        """A fresh session; it gets a new id (and the visitor's old key is deleted) on save."""
        return self._empty()

    async def load_session(self, request: web.Request) -> Session:
        """The session the cookie names, or a new one when it is missing, damaged or too old."""
        failed = request.get(_LOAD_FAILED)
        if failed is not None:
            raise failed
        session_id = self._cookie_id(request)
        if session_id is None:
            return self._empty()
        try:
            with redis_errors_as_unavailable():
                raw = await self._redis.get(self.redis_key(session_id))
                stored = self._parse(raw)
                if stored is None:
                    return self._empty()
                created, started, values = stored
                if time.time() >= started + self.absolute_timeout:
                    await self._redis.delete(self.redis_key(session_id))
                    return self._empty()
        except DependencyUnavailable as error:
            request[_LOAD_FAILED] = error
            raise
        session = RedisSession(
            session_id,
            data={"created": created, "session": values},
            new=False,
            max_age=self.max_age,
            started=started,
        )
        if not session.empty and time.time() - created >= self.refresh_after:
            session.changed()  # renew the TTL and the cookie on the way out
        return session

    def _parse(self, raw: bytes | str | None) -> tuple[int, int, dict[str, Any]] | None:
        if raw is None:
            return None
        try:
            data = self._decoder(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        created, started, values = data.get("created"), data.get("started"), data.get("session")
        if not (isinstance(created, int) and isinstance(started, int) and isinstance(values, dict)):
            return None
        return created, started, values

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        """Write the session with a TTL, or delete its key when it was invalidated or expired."""
        now = int(time.time())
        started = getattr(session, "started", now)
        ttl = min(self.idle_timeout, started + self.absolute_timeout - now)
        old_id = self._cookie_id(request)
        session_id: str | None = session.identity
        with redis_errors_as_unavailable():
            if session.empty or ttl <= 0:
                # Signed out, or past its absolute lifetime: the key goes, the cookie too.
                doomed = {session_id, old_id} - {None}
                if doomed:
                    await self._redis.delete(*(self.redis_key(str(i)) for i in doomed))
                if self.load_cookie(request) is not None:
                    self.save_cookie(response, "")
                return
            data = self._encoder({"created": now, "started": started, "session": dict(session)})
            if session_id is None:
                # A new session (sign-in): a new id, and the one the visitor had is dropped.
                session_id = self._key_factory()
                async with self._redis.pipeline(transaction=True) as pipe:
                    if old_id is not None:
                        pipe.delete(self.redis_key(old_id))
                    pipe.set(self.redis_key(session_id), data, ex=ttl)
                    await pipe.execute()
            elif not await self._redis.set(self.redis_key(str(session_id)), data, ex=ttl, xx=True):
                # The key went away meanwhile (signed out elsewhere): do not bring it back.
                self.save_cookie(response, "")
                return
        session.max_age = ttl
        self.save_cookie(response, str(session_id), max_age=ttl)
