"""An optional storage capability: telling, without a query, whether anything changed."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["ChangeStamps"]


@runtime_checkable
class ChangeStamps(Protocol):
    """Optional, for a backend that can tell cheaply whether anything stored changed: the
    web layer then answers anonymous pages it rendered before without reading storage
    again, for as long as nothing changed (:mod:`cms.web.fast_pages`). Not part of
    :class:`Storage`: a backend without it has every request read storage, as before."""

    def change_stamp(self) -> object | None:
        """A token that is different after any commit to the stored data by any process
        or host, from the moment the commit is visible to reads. Called on the event loop
        for every anonymous page, so it must not wait: microseconds, no network; None
        when it cannot tell now (every request then reads storage)."""
        ...

    async def next_visibility_change(self) -> datetime | None:
        """When public reads next change by time alone, without a commit: the earliest
        ``published_at`` still to come of a published post or page (scheduled posts
        appear by themselves), or None when there is none."""
        ...
