"""``cms images rebuild`` (renditions made again, after the widths or the quality change)
and ``cms images sweep`` (files no image uses, left by an interrupted upload)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from cms.cli_options import fail, run_or_fail, settings_option
from cms.contracts import DependencyUnavailable, ImageRejected, Media, SchemaOutOfDate
from cms.media import all_media, rerender_posts_using
from cms.settings import SettingsError, load_settings

__all__ = ["images"]

#: A file younger than this may belong to an upload whose row is not written yet (on this
#: or another server sharing the folder): sweep leaves it for a later run.
SWEEP_GRACE_S = 3600


@click.group()
def images() -> None:
    """The images of the media library."""


@dataclass
class RebuildReport:
    """What a rebuild did."""

    total: int = 0
    changed: int = 0
    removed: int = 0
    #: Posts whose text shows a rebuilt image, rendered again with its new renditions.
    posts: int = 0
    failed: list[str] = field(default_factory=list)


@images.command("rebuild")
@settings_option
def rebuild(settings_path: Path | None) -> None:
    """Make every image's renditions again from its source copy, with the current
    [images] options (widths, quality); files no image uses any more are removed."""
    try:
        report = run_or_fail(_rebuild(settings_path))
    except (DependencyUnavailable, SchemaOutOfDate) as error:
        fail(str(error), code=1)
    for problem in report.failed:
        click.echo(f"Not rebuilt: {problem}", err=True)
    click.echo(
        f"Rebuilt {report.total - len(report.failed)} of {report.total} image(s): "
        f"{report.changed} with new renditions; removed {report.removed} old file(s)."
        + (f" Rendered {report.posts} post(s) showing them again." if report.posts else "")
    )
    if report.failed:
        sys.exit(1)


@asynccontextmanager
async def _library(settings_path: Path | None, doing: str) -> AsyncIterator[Any]:
    """The site of ``settings_path`` with its storage open and its schema current."""
    from cms.site import Site

    site = Site(load_settings(settings_path))
    await site.configure()
    if site.images is None or site.media is None:
        raise SettingsError(f"[images]: no image backend is configured; nothing to {doing}")
    media = site.media
    await site.storage.open()
    try:
        await site.storage.migrate_schema(startup=True)
        await media.open()
        try:
            yield site
        finally:
            await media.close()
    finally:
        await site.storage.close()


async def _rebuild(settings_path: Path | None) -> RebuildReport:
    async with _library(settings_path, "rebuild") as site:
        handler = site.images
        await handler.open()
        try:
            return await _rebuild_all(site, handler)
        finally:
            await handler.close()


async def _rebuild_all(site: Any, handler: Any) -> RebuildReport:
    storage, store = site.storage, handler.store
    media = await all_media(storage)
    report = RebuildReport(total=len(media))
    obsolete: set[str] = set()
    rebuilt: set[str] = set()
    # As many at once as there are workers: the pool is the bottleneck.
    running = asyncio.Semaphore(getattr(handler, "workers", 1))
    with click.progressbar(length=len(media), label="Rebuilding", file=sys.stderr) as bar:

        async def one(item: Media) -> None:
            async with running:
                try:
                    made = await handler.rebuild(item)
                    if made.keys != item.keys:
                        await storage.update_media(item.id, made)
                        obsolete.update(set(item.keys) - set(made.keys))
                        rebuilt.add(item.content_hash)
                        report.changed += 1
                except (ImageRejected, OSError, LookupError) as error:
                    report.failed.append(f"media {item.id} ({item.original_name}): {error}")
                bar.update(1)

        await asyncio.gather(*(one(item) for item in media))
    if rebuilt:
        # Before the old files go: a post's stored HTML names its images' renditions.
        report.posts = await rerender_posts_using(site, rebuilt)
    if obsolete:
        # A file may serve two images (the same pixels uploaded with other metadata).
        used = {key for item in await all_media(storage) for key in item.keys}
        stale = sorted(obsolete - used)
        for key in stale:
            await store.delete(key)
        report.removed = len(stale)
    return report


@images.command("sweep")
@settings_option
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option(
    "--older-than",
    type=click.IntRange(min=0),
    default=SWEEP_GRACE_S,
    show_default=True,
    help="Only files at least this many seconds old (younger ones may be an upload finishing).",
)
def sweep(settings_path: Path | None, dry_run: bool, older_than: int) -> None:
    """Remove media files that no image of the library uses: what an upload interrupted
    between writing its files and recording the image leaves behind. Files younger than
    an hour are kept (an upload may be finishing)."""
    try:
        unused = run_or_fail(_sweep(settings_path, dry_run=dry_run, older_than=older_than))
    except (DependencyUnavailable, SchemaOutOfDate) as error:
        fail(str(error), code=1)
    for key in unused:
        click.echo(f"{'Would remove' if dry_run else 'Removed'} {key}")
    if dry_run:
        click.echo(f"Sweep: {len(unused)} unused file(s) would be removed.")
    else:
        click.echo(f"Sweep: removed {len(unused)} unused file(s).")


async def _sweep(settings_path: Path | None, *, dry_run: bool, older_than: int) -> list[str]:
    async with _library(settings_path, "sweep") as site:
        store = site.images.store
        # Files first, then rows: a file whose row is written meanwhile is then in use.
        cutoff = time.time() - older_than
        old = sorted([key async for key, mtime in store.list_keys() if mtime < cutoff])
        used = {key for item in await all_media(site.storage) for key in item.keys}
        unused = [key for key in old if key not in used]
        if not dry_run:
            for key in unused:
                await store.delete(key)
    return unused
