"""Kept for plugins written against cms 0.1: the specs live in :mod:`cms.core.hookspecs`."""

from cms.core.hookspecs import (
    hookimpl,
    hookspec,
)

__all__ = ["hookimpl", "hookspec"]
