"""Encrypted-cookie sessions (``[sessions] backend = "cookie"``), the default.

The session lives in the visitor's cookie, encrypted and signed with a key derived from
the site's secret key. Sign-out is enforced on the server through the user's session
generation, so a copied cookie stops working.
"""

from __future__ import annotations

from typing import Any

from aiohttp_session import AbstractStorage
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from pydantic import BaseModel, ConfigDict, Field

from cms import hookimpl
from cms.contracts import SessionStoreBackend

__all__ = ["CookieSessionStore", "CookieSessionsOptions"]


class CookieSessionsOptions(BaseModel):
    """``[sessions] options`` for ``backend = "cookie"``."""

    model_config = ConfigDict(extra="forbid")

    cookie_name: str = Field("cms_session", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    idle_timeout: int = Field(14 * 24 * 3600, ge=60, description="seconds without a change")


class CookieSessionStore:
    """An ``EncryptedCookieStorage`` with HttpOnly, SameSite=Lax and Secure on https."""

    name = "cookie"

    def __init__(self, options: CookieSessionsOptions, site: Any) -> None:
        # The core refuses a sign-in past ``[sessions] absolute_timeout`` (the cookie
        # carries when it began); the cookie itself never outlives that either.
        lifetime: int = site.settings.sessions.absolute_timeout
        self.storage: AbstractStorage = EncryptedCookieStorage(
            site.secret_key,
            cookie_name=options.cookie_name,
            max_age=min(options.idle_timeout, lifetime),
            httponly=True,
            samesite="Lax",
            secure=site.settings.site.base_url.startswith("https://"),
        )

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def check(self) -> None:
        return None  # Nothing to reach: the visitor brings the session.


@hookimpl
def register_session_stores() -> list[SessionStoreBackend]:
    return [
        SessionStoreBackend(
            "cookie", CookieSessionsOptions, CookieSessionStore, "encrypted cookie (default)"
        )
    ]
