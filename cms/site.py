"""Kept for plugins written against cms 0.1: the code lives in :mod:`cms.core.site`."""

from cms.core.site import (
    Site,
)

__all__ = ["Site"]
