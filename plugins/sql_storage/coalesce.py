"""Identical reads asked for at the same moment go to the database once.

When a post is popular, many requests for it arrive together, and each would send the
same statement with the same parameters. Here the first of them waits one turn of the
event loop before it sends its statement; every request that asks for the same read in
that turn (they arrived with it: the loop was handling them in the same pass) gets the
rows of that one read instead of sending its own.

Only reads not yet sent are shared. A request never joins a read that went out before it
arrived, so it sees every change committed before it arrived, as if it had read alone:
an edit is visible on the very next request. Rows are shared between the requests that
waited for them and must not be changed by their readers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

__all__ = ["ReadCoalescer"]

Rows = list[dict[str, Any]]


class ReadCoalescer:
    """Share one read among the callers asking for it in the same turn of the loop."""

    def __init__(self) -> None:
        self._waiting: dict[Hashable, list[asyncio.Future[Rows | None]]] = {}
        #: Reads sent for more than one caller, and callers served by them (for tests and
        #: the curious).
        self.shared_reads = 0
        self.shared_callers = 0

    async def read(
        self,
        key: Hashable,
        values: Mapping[str, Any],
        run: Callable[[], Awaitable[Rows]],
    ) -> Rows:
        """``run()``'s rows, shared with callers asking for the same ``key`` and ``values``
        before it is sent."""
        try:
            key = (key, frozenset(values.items()))
            followers = self._waiting.get(key)
        except TypeError:  # a value that cannot be a key: read alone
            return await run()
        if followers is not None:
            joined: asyncio.Future[Rows | None] = asyncio.get_running_loop().create_future()
            followers.append(joined)
            rows = await joined
            if rows is not None:
                return rows
            return await run()  # the read went away (cancelled): read alone
        followers = self._waiting[key] = []
        try:
            # One turn of the loop: the requests it is handling alongside this one ask now.
            await asyncio.sleep(0)
        except BaseException:
            del self._waiting[key]
            _settle(followers, None)
            raise
        # Nobody joins from here on: the statement is about to be sent.
        del self._waiting[key]
        try:
            rows = await run()
        except asyncio.CancelledError:
            _settle(followers, None)
            raise
        except BaseException as error:
            for future in followers:
                if not future.done():
                    future.set_exception(error)
            raise
        if followers:
            self.shared_reads += 1
            self.shared_callers += len(followers)
            _settle(followers, rows)
        return rows


def _settle(futures: list[asyncio.Future[Rows | None]], rows: Rows | None) -> None:
    for future in futures:
        if not future.done():
            future.set_result(rows)
