"""The site's navigation menus as pages show them: read from storage, kept while valid.

Every public page shows the menus; reading them is a query of its own, on top of the one
query a page costs (see :mod:`cms.web.page_cache`). So each process keeps what it read:

- with a storage that has change stamps (:class:`~cms.contracts.ChangeStamps`, SQLite),
  for as long as the stamp is the one seen before the read: an edit by any process shows
  on the next page, exactly;
- otherwise for :data:`MENU_SECONDS`: a menu edited in the admin shows on the next page of
  the process that saved it, and on every other worker and host within that second.

Requests that find the copy out of date together share one read (of the same stamp).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from cms.contracts import ChangeStamps, MenuItem, Storage

__all__ = ["MENU_CACHE_KEY", "MENU_SECONDS", "MenuCache"]

#: How long a process shows menus it read without asking storage again.
MENU_SECONDS = 1.0

Menus = dict[str, list[MenuItem]]


class MenuCache:
    """One process's copy of the menus."""

    def __init__(self, storage: Storage, *, seconds: float = MENU_SECONDS) -> None:
        self._storage = storage
        self._seconds = seconds
        self._menus: Menus | None = None
        self._read_at = 0.0
        self._stamp: object | None = None
        self._reading: asyncio.Future[Menus] | None = None
        self._reading_stamp: object | None = None
        # Asked once: a runtime Protocol check costs microseconds on every page.
        stamps: object = storage
        self._stamps = stamps if isinstance(stamps, ChangeStamps) else None

    def _change_stamp(self) -> object | None:
        return None if self._stamps is None else self._stamps.change_stamp()

    async def get(self, stamp: object | None = None) -> Menus:
        """The menus as of ``stamp`` (a change stamp the caller saw before this read;
        asked of storage when not given) or newer."""
        if stamp is None:
            stamp = self._change_stamp()
        if self._menus is not None:
            if stamp is not None:
                if stamp == self._stamp:
                    return self._menus
            elif time.monotonic() - self._read_at < self._seconds:
                return self._menus
        if self._reading is not None and self._reading_stamp == stamp:
            return await asyncio.shield(self._reading)
        reading = self._reading = asyncio.get_running_loop().create_future()
        self._reading_stamp = stamp
        try:
            menus = await self._storage.get_menus()
        except BaseException as error:
            reading.set_exception(error)
            reading.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            if self._reading is reading:
                self._reading = None
        self._menus, self._read_at, self._stamp = menus, time.monotonic(), stamp
        reading.set_result(menus)
        return menus

    def last_read(self) -> Menus:
        """The menus as last read (none yet: no menu), for a page that cannot wait."""
        return self._menus or {}

    def forget(self) -> None:
        """Read again on the next page (this process saved a change)."""
        self._menus = None


MENU_CACHE_KEY: web.AppKey[MenuCache] = web.AppKey("cms_menu_cache")
