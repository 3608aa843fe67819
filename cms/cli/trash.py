"""``cms trash empty``: delete for good what the trash holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from cms.cli.options import settings_option
from cms.cli.storage import with_site

__all__ = ["trash"]


@click.group()
def trash() -> None:
    """Deleted posts, restorable from the admin for [trash] days."""


@trash.command("empty")
@settings_option
@click.option(
    "--all", "everything", is_flag=True, help="Every deleted post, not only the expired ones."
)
def empty(settings_path: Path | None, everything: bool) -> None:
    """Delete for good the posts trashed more than [trash] days ago (every one with --all)."""

    async def work(site: Any) -> tuple[int, int]:
        await site.storage.migrate_schema(startup=True)
        if everything:
            return await site.storage.empty_trash(), 0
        before = datetime.now(UTC) - timedelta(days=site.settings.trash.days)
        removed = await site.storage.empty_trash(before=before)
        return removed, len(await site.storage.list_trash())

    removed, left = with_site(settings_path, work)
    click.echo(
        f"Deleted {removed} post(s) for good." + (f" {left} stay in the trash." if left else "")
    )
