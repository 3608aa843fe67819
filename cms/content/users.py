"""Rules for users that the CLI and the views share."""

from __future__ import annotations

import re

from cms.content.events import announce
from cms.contracts import ROLES, Role, User
from cms.core import hookspecs
from cms.core.passwords import check_password_rules
from cms.core.site import Site

__all__ = ["check_username", "create_user"]

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,149}$")


def check_username(username: str) -> str | None:
    """Return why a username is not acceptable, or None."""
    if not username:
        return "Choose a username."
    if not _USERNAME.match(username):
        return "Use letters, digits and . _ @ - (at most 150), starting with a letter or digit."
    return None


async def create_user(site: Site, username: str, password: str, role: Role) -> User:
    """Validate and create a user; raise ValueError with a message for people."""
    if problem := check_username(username):
        raise ValueError(problem)
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; allowed: {', '.join(ROLES)}.")
    if problem := check_password_rules(password):
        raise ValueError(problem)
    user = await site.storage.create_user(username, await site.passwords.hash(password), role)
    assert user is not None
    await announce(site, hookspecs.user_created, user=user, cms=site)
    return user
