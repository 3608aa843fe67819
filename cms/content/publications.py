"""Scheduled posts become visible by themselves (a condition of every public read); this
loop only tells plugins when they did: ``post_published``, once per post across every
process and host, within about a second of the post's time.

Each application runs it while it serves. Every round is one short indexed read of the
publication queue; only when a post is due does it write (claim the post). A storage
outage is logged once and retried: the announcement is late, never lost.
"""

from __future__ import annotations

import asyncio
import logging

from cms.content.posts import announce_due_publications
from cms.core.site import Site

__all__ = ["POLL_SECONDS", "announce_publications"]

#: How often each process looks for posts whose time has come.
POLL_SECONDS = 1.0
log = logging.getLogger("cms")


async def announce_publications(site: Site, *, every: float = POLL_SECONDS) -> None:
    """Announce due publications until cancelled."""
    failing = False
    while True:
        try:
            await announce_due_publications(site)
            if failing:
                log.info("scheduled posts: storage answers again")
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a storage outage must not end the loop
            if not failing:
                log.warning("scheduled posts: cannot read the publication queue: %s", error)
            failing = True
        await asyncio.sleep(every)
