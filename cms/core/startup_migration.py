"""The schema changes ``cms serve`` makes itself before it serves, logged.

Each application makes them as its storage opens (:mod:`cms.web.app`); with ``--workers N``
the supervisor makes them once before any worker starts (:func:`cms.cli.workers.migrate_once`),
so the workers find nothing left to do.
"""

from __future__ import annotations

import logging

from cms.contracts import Storage

__all__ = ["migrate_at_startup"]

log = logging.getLogger("cms")


async def migrate_at_startup(storage: Storage, *, warn_kept: bool = True) -> None:
    """Make the changes the backend's start-up policy allows (additive ones) and log them;
    with ``warn_kept``, warn of the differences left alone (``cms migrate`` lists them).

    A change start-up must not make raises SchemaOutOfDate, which ``cms serve`` reports as
    one line naming the command to run.
    """
    report = await storage.migrate_schema(startup=True)
    if report.backup:
        log.info("schema: backed up the database to %s", report.backup)
    for change in report.applied:
        log.info("schema: %s", change)
    if warn_kept:
        for note in report.kept:
            log.warning("schema: %s (cms migrate lists these)", note)
