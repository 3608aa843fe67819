"""Telling plugins about a change that has happened already (``post_saved``,
``post_published``, ``media_saved``, ``user_created``...)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec

if TYPE_CHECKING:
    from cms.core.site import Site

__all__ = ["announce"]

log = logging.getLogger("cms")
P = ParamSpec("P")


async def announce(
    site: Site, hook: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs
) -> None:
    """Call an event hook. A plugin that fails is logged by name and the others are still
    told; the change stands, so the person who made it is not told it failed and tempted
    to repeat it."""
    if not site.plugins.implements(hook):
        return
    for failure in await site.plugins.tell(hook, *args, **kwargs):
        log.error(
            "%s: a plugin failed after the change was stored: %s",
            hook.__name__,
            failure,
            exc_info=failure.__cause__ or failure,
        )
