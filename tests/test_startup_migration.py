"""cms.core.startup_migration: what ``cms serve`` changes in the schema before it serves is
logged, and what it leaves alone is a warning (left to the workers under ``--workers``)."""

from __future__ import annotations

import logging

import pytest

from cms.core.startup_migration import migrate_at_startup
from tests.conftest import StorageFactory
from tests.test_storage import SubtitlePlugin


def schema_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if record.name == "cms" and record.getMessage().startswith("schema: ")
    ]


async def test_changes_are_logged_then_there_is_nothing_to_log(
    open_storage: StorageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    storage = await open_storage(migrate=False)
    with caplog.at_level(logging.INFO, logger="cms"):
        await migrate_at_startup(storage)
    lines = schema_lines(caplog)
    assert (logging.INFO, "schema: created table cms_posts") in lines, lines
    assert all(level == logging.INFO for level, _ in lines), lines

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cms"):
        await migrate_at_startup(storage)
    assert schema_lines(caplog) == []


async def test_what_is_left_alone_is_a_warning_unless_the_workers_give_it(
    open_storage: StorageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    await open_storage(("subtitle", SubtitlePlugin()))
    without = await open_storage(migrate=False)
    kept = (
        logging.WARNING,
        "schema: column cms_posts.subtitle is not declared by the core or any installed "
        "plugin: kept with its data (cms migrate lists these)",
    )

    with caplog.at_level(logging.INFO, logger="cms"):
        await migrate_at_startup(without, warn_kept=False)
    assert schema_lines(caplog) == []

    with caplog.at_level(logging.INFO, logger="cms"):
        await migrate_at_startup(without)
    assert schema_lines(caplog) == [kept]
