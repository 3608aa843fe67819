"""Kept for plugins written against cms 0.1: the code lives in :mod:`cms.web.keys`."""

from cms.web.keys import (
    CLIENT_KEY,
    SITE_KEY,
    USER_KEY,
    VISITOR_KEY,
)

__all__ = ["CLIENT_KEY", "SITE_KEY", "USER_KEY", "VISITOR_KEY"]
