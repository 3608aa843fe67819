"""Who is signed in, signing in and out, roles and CSRF tokens.

Sessions come from whichever session store settings name; this module only reads and
writes session keys, so it works the same for cookie and server-side stores.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import get_session, new_session

from cms.contracts import Post, User
from cms.core import hookspecs
from cms.core.site import Site
from cms.web.keys import SITE_KEY, USER_KEY

__all__ = [
    "allowed",
    "can",
    "csrf_token",
    "current_user",
    "safe_next_path",
    "sign_in",
    "sign_out",
]

_UID, _GEN, _CSRF, _AUTH_AT = "uid", "gen", "csrf", "auth_at"

# What each role may do. Object-level rules (an author's own posts) are in can().
_ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "admin.access",
            "posts.create",
            "posts.edit_any",
            "media.manage",
            "users.manage",
            "pages.manage",
            "tags.manage",
            "navigation.manage",
            "redirects.manage",
            "trash.manage",
        }
    ),
    "editor": frozenset(
        {
            "admin.access",
            "posts.create",
            "posts.edit_any",
            "media.manage",
            "pages.manage",
            "tags.manage",
            "redirects.manage",
            "trash.manage",
        }
    ),
    "author": frozenset({"admin.access", "posts.create"}),
}


async def allowed(site: Site, user: User | None, permission: str, post: Post | None = None) -> bool:
    """Whether ``user`` may do ``permission`` (to ``post``): the first plugin with an
    opinion (``permission_allowed``) decides, else the role table (:func:`can`). A user who
    is deactivated may do nothing, whatever a plugin says."""
    if user is not None and not user.is_active:
        return False
    if site.plugins.implements(hookspecs.permission_allowed):
        decision = await site.plugins.first(
            hookspecs.permission_allowed, user=user, action=permission, post=post, cms=site
        )
        if decision is not None:
            return bool(decision)
    return can(user, permission, post)


def can(user: User | None, permission: str, post: Post | None = None) -> bool:
    """The role table's answer: whether ``user`` may do ``permission`` (to ``post``, for
    ``posts.edit``). Core code asks :func:`allowed`, which lets plugins decide first."""
    if user is None or not user.is_active:
        return False
    granted = _ROLE_PERMISSIONS.get(user.role, frozenset())
    if permission == "posts.edit":
        if "posts.edit_any" in granted:
            return True
        return post is not None and post.author_id == user.id and "posts.create" in granted
    return permission in granted


def _has_session_cookie(request: web.Request) -> bool:
    site = request.app[SITE_KEY]
    return site.sessions.storage.cookie_name in request.cookies


async def current_user(request: web.Request) -> User | None:
    """The signed-in user, or None. Visitors without a session cookie cost no session load."""
    if USER_KEY in request:
        user: User | None = request[USER_KEY]
        return user
    user = None
    if _has_session_cookie(request):
        session = await get_session(request)
        uid = session.get(_UID)
        if isinstance(uid, int):
            site = request.app[SITE_KEY]
            candidate = await site.storage.get_user(uid)
            auth_at = session.get(_AUTH_AT)
            # Enforced here for every store; a server-side store also drops the session.
            lifetime = site.settings.sessions.absolute_timeout
            if (
                candidate is not None
                and candidate.is_active
                and session.get(_GEN) == candidate.session_generation
                and isinstance(auth_at, (int, float))
                and time.time() - auth_at < lifetime
            ):
                user = candidate
            else:
                session.invalidate()
    request[USER_KEY] = user
    return user


async def sign_in(request: web.Request, user: User) -> None:
    """Start a fresh session for ``user`` (a new session, never the visitor's old one)."""
    session = await new_session(request)
    session[_UID] = user.id
    session[_GEN] = user.session_generation
    session[_AUTH_AT] = int(time.time())
    session[_CSRF] = secrets.token_urlsafe(32)
    request[USER_KEY] = user


async def sign_out(request: web.Request) -> None:
    """End the session here and, by bumping the user's generation, every copy of it."""
    user = await current_user(request)
    if user is not None:
        await request.app[SITE_KEY].storage.bump_session_generation(user.id)
    session = await get_session(request)
    session.invalidate()
    request[USER_KEY] = None


async def csrf_token(request: web.Request, *, create: bool = True) -> str:
    """The session's CSRF token; made on first use when ``create``."""
    if not create and not _has_session_cookie(request):
        return ""
    session = await get_session(request)
    token = session.get(_CSRF)
    if not isinstance(token, str):
        if not create:
            return ""
        token = secrets.token_urlsafe(32)
        session[_CSRF] = token
    return token


async def check_csrf(request: web.Request, submitted: Any) -> bool:
    """Whether ``submitted`` matches the session's CSRF token."""
    if not isinstance(submitted, str) or not submitted or not _has_session_cookie(request):
        return False
    expected = await csrf_token(request, create=False)
    return bool(expected) and hmac.compare_digest(expected.encode(), submitted.encode())


def safe_next_path(value: str | None, default: str = "/admin/") -> str:
    """Where to go after sign-in: only ever a path on this site."""
    if not value or value != value.strip() or any(ord(char) < 32 for char in value):
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
