"""Redis sessions (``[sessions] backend = "redis"``): shared by every worker and server.

The cookie carries only an opaque, random session id; the session lives in Redis under
``key_prefix + id`` and always expires. Sign-out deletes the key. When Redis cannot be
reached, requests that need a session answer 503 (with ``Retry-After``) rather than
500, and the client reconnects by itself once Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp_session import AbstractStorage
from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from cms import hookimpl
from cms.contracts import DependencyUnavailable, SessionStoreBackend

from .storage import ExpiringRedisStorage, redis_errors_as_unavailable

__all__ = ["ExpiringRedisStorage", "RedisSessionStore", "RedisSessionsOptions"]

log = logging.getLogger("cms.redis_sessions")

FOURTEEN_DAYS = 14 * 24 * 3600
# Seconds a pooled connection may sit idle before it is PINGed prior to use, so a
# connection that died quietly (failover, idle firewall) is replaced, not used.
HEALTH_CHECK_INTERVAL = 30


class RedisSessionsOptions(BaseModel):
    """``[sessions] options`` for ``backend = "redis"``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field("redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL")
    key_prefix: str = Field("cms:session:", min_length=1, max_length=100, pattern=r"^\S+$")
    idle_timeout: int = Field(FOURTEEN_DAYS, ge=60, description="seconds without a request")
    # Deprecated: ``[sessions] absolute_timeout`` holds the lifetime for every store. Still
    # honoured when given (the shorter of the two applies), so no session outlives it.
    absolute_timeout: int | None = Field(
        None, ge=60, description="deprecated: use [sessions] absolute_timeout"
    )
    cookie_name: str = Field("cms_session", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    socket_timeout: float = Field(1.0, gt=0, le=60, description="seconds per command")
    connect_timeout: float = Field(1.0, gt=0, le=60, description="seconds per connection")

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("redis", "rediss"):
            raise ValueError("must be a redis:// or rediss:// URL")
        try:
            parse_url(value)
        except ValueError as error:
            raise ValueError(f"is not a usable Redis URL ({error})") from None
        return value


class RedisSessionStore:
    """Sessions in Redis through :class:`ExpiringRedisStorage`.

    The client object is made here because ``storage`` (which needs it) is installed in
    the middleware before the app starts; making it opens no connection. ``open()``
    checks that Redis answers (a warning, not a failure, when it does not: the site
    starts and recovers when Redis does) and ``close()`` closes every connection.
    """

    name = "redis"

    def __init__(self, options: RedisSessionsOptions, site: Any) -> None:
        self.options = options
        lifetime: int = site.settings.sessions.absolute_timeout
        if options.absolute_timeout is not None:
            log.warning(
                "[sessions] options.absolute_timeout is deprecated: set [sessions] "
                "absolute_timeout instead (until then the shorter of the two applies)"
            )
            lifetime = min(lifetime, options.absolute_timeout)
        self.redis: Redis = Redis.from_url(
            options.url,
            socket_timeout=options.socket_timeout,
            socket_connect_timeout=options.connect_timeout,
            # Retry a refused or timed-out command twice, briefly, then fail (a 503).
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            health_check_interval=HEALTH_CHECK_INTERVAL,
        )
        self.storage: AbstractStorage = ExpiringRedisStorage(
            self.redis,
            key_prefix=options.key_prefix,
            idle_timeout=options.idle_timeout,
            absolute_timeout=lifetime,
            cookie_name=options.cookie_name,
            secure=site.settings.site.base_url.startswith("https://"),
        )

    @property
    def check_timeout(self) -> float:
        """How long ``check()`` waits for a PING."""
        return self.options.connect_timeout + self.options.socket_timeout

    async def open(self) -> None:
        """Check that Redis answers; log a warning when it does not yet."""
        try:
            await self.check()
        except DependencyUnavailable as error:
            log.warning("Redis sessions at %s: %s", _safe_url(self.options.url), error.reason)

    async def close(self) -> None:
        """Close every connection to Redis."""
        await self.redis.aclose()

    async def check(self) -> None:
        """PING Redis; raise :class:`DependencyUnavailable` when it does not answer in time."""
        with redis_errors_as_unavailable():
            try:
                await asyncio.wait_for(self.redis.ping(), self.check_timeout)
            except TimeoutError:
                raise DependencyUnavailable(
                    "sessions", "Redis did not answer PING in time"
                ) from None

    # AttemptCounter: failed sign-ins are counted here, shared by every worker and host.

    def _attempts_key(self, key: str) -> str:
        return f"{self.options.key_prefix}attempts:{key}"

    async def record_attempt(self, key: str, window: int, limit: int) -> list[float] | None:
        """Check and add in one Lua script, so concurrent attempts cannot all slip under the
        limit; the sorted set of times expires with its window."""
        now = time.time()
        with redis_errors_as_unavailable():
            refused = await self.redis.eval(
                _RECORD_ATTEMPT,
                1,
                self._attempts_key(key),
                repr(now),
                str(window),
                str(limit),
                f"{now:.6f}:{secrets.token_hex(4)}",
            )
        if refused is None:
            return None
        return sorted(float(score) for score in refused[1::2])

    async def recent_attempts(self, key: str, window: int) -> list[float]:
        """Times of the attempts within the window."""
        with redis_errors_as_unavailable():
            entries = await self.redis.zrangebyscore(
                self._attempts_key(key), time.time() - window, "+inf", withscores=True
            )
        return [float(entry[1]) for entry in entries]

    async def clear_attempts(self, key: str) -> None:
        """Forget the attempts under ``key``."""
        with redis_errors_as_unavailable():
            await self.redis.delete(self._attempts_key(key))

    async def forget_attempt(self, key: str) -> None:
        """Forget the newest attempt under ``key``."""
        with redis_errors_as_unavailable():
            await self.redis.zpopmax(self._attempts_key(key))


# KEYS[1] the set; ARGV: now, window, limit, a unique member. Returns nil when recorded,
# else the set's members and scores (the attempts that keep this one out).
_RECORD_ATTEMPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return false
"""


def _safe_url(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


@hookimpl
def register_session_stores() -> list[SessionStoreBackend]:
    """Offer ``[sessions] backend = "redis"``."""
    return [
        SessionStoreBackend(
            "redis", RedisSessionsOptions, RedisSessionStore, "Redis (shared between processes)"
        )
    ]
