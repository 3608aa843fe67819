"""Posts the search index lacks (a site upgraded to full-text search, or just imported)
are indexed in the background while the site serves: a big site starts at once, and its
older posts become findable within a minute or so. Every save indexes its post itself."""

from __future__ import annotations

import asyncio
import logging

from cms.core.site import Site

__all__ = ["BATCH", "fill_search_index"]

#: Posts indexed per transaction (the writer lock is held this long at a time).
BATCH = 200
log = logging.getLogger("cms")


async def fill_search_index(site: Site) -> int:
    """Index every post the index lacks; return how many. Several processes may run it at
    once: each batch is one transaction, and indexing a post twice changes nothing."""
    total = 0
    try:
        while done := await site.storage.index_missing(limit=BATCH):
            total += done
            await asyncio.sleep(0)  # let requests in between batches
    except asyncio.CancelledError:
        raise
    except Exception as error:  # storage away: the next start-up carries on
        log.warning("search: indexing stopped after %d posts: %s", total, error)
        return total
    if total:
        log.info("search: indexed %d posts", total)
    return total
