"""``cms media migrate --to NAME``: copy the media library's files to another media store.

Every file an image of the library names (source copies and renditions) is copied from
the store ``[media]`` names to the one ``[media.targets.NAME]`` describes, then read back
and checked against the SHA-256 of the original. A file already in the target with the
right bytes is skipped, so a run that was interrupted (or failed on a few files) is simply
run again. Nothing is removed from the source: switch ``[media]`` when the run is clean.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from cms.cli.options import fail, run_or_fail, settings_option
from cms.content.media_files import library_keys
from cms.contracts import DependencyUnavailable, MediaStore, SchemaOutOfDate
from cms.core.settings import SettingsError, load_settings

__all__ = ["media"]

#: Files copied at once: object stores answer each request slowly, not in turn.
CONCURRENCY = 8


@click.group()
def media() -> None:
    """The media library's files: where they live."""


@dataclass
class MigrationTally:
    """What a migration did."""

    total: int = 0
    copied: int = 0
    present: int = 0
    failed: list[str] = field(default_factory=list)


@media.command("migrate")
@settings_option
@click.option(
    "--to", "target_name", required=True, help="The [media.targets.NAME] table to copy to."
)
def migrate(settings_path: Path | None, target_name: str) -> None:
    """Copy every media file to the store [media.targets.NAME] describes, verifying each
    by its SHA-256; run it again to resume. The source is left as it is."""
    try:
        tally = run_or_fail(_migrate(settings_path, target_name))
    except (DependencyUnavailable, SchemaOutOfDate) as error:
        fail(f"{error}; nothing more was copied (run the command again to resume)", code=1)
    for problem in tally.failed:
        click.echo(f"Not copied: {problem}", err=True)
    click.echo(
        f"{tally.total} file(s): {tally.copied} copied, {tally.present} already there, "
        f"{len(tally.failed)} failed; every file in the target checked by its SHA-256."
    )
    if tally.failed:
        click.echo("Run the command again once the problems above are fixed.", err=True)
        sys.exit(1)
    settings = load_settings(settings_path)
    target = settings.media.targets[target_name]
    click.echo("\nEvery file is there. To serve from it, change [media] in settings.toml to:\n")
    click.echo("[media]")
    click.echo(f'backend = "{target.backend or target_name}"')
    if target.options:
        click.echo(f"options = {_inline_table(target.options)}")


def _inline_table(options: dict[str, Any]) -> str:
    # TOML's inline table; JSON spells strings, numbers and booleans the same way.
    return "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in options.items()) + " }"


async def _migrate(settings_path: Path | None, target_name: str) -> MigrationTally:
    from cms.core.site import Site

    site = Site(load_settings(settings_path))
    await site.configure()
    source = site.media
    if source is None:
        raise SettingsError("[images]: no image backend is configured; no media to migrate")
    target = await site.media_target(target_name)
    if source.path("a.b") is not None and source.path("a.b") == target.path("a.b"):
        raise SettingsError(f"[media.targets.{target_name}] is the store [media] names already")
    await site.storage.open()
    try:
        await site.storage.migrate_schema(startup=True)
        keys = await library_keys(site.storage)
    finally:
        await site.storage.close()
    await source.open()
    await target.open()
    try:
        tally = MigrationTally(total=len(keys))
        with click.progressbar(length=len(keys), label="Copying", file=sys.stderr) as bar:
            await _copy_all(source, target, keys, tally, bar.update)
        return tally
    finally:
        await target.close()
        await source.close()


async def _copy_all(
    source: MediaStore,
    target: MediaStore,
    keys: list[str],
    tally: MigrationTally,
    advance: Callable[[int], None],
) -> None:
    running = asyncio.Semaphore(CONCURRENCY)

    async def one(key: str) -> None:
        async with running:
            try:
                if await _copy(source, target, key):
                    tally.copied += 1
                else:
                    tally.present += 1
            except FileNotFoundError:
                tally.failed.append(f"{key}: missing from the source store")
            except ValueError as error:
                tally.failed.append(f"{key}: {error}")
            advance(1)

    await asyncio.gather(*(one(key) for key in keys))


async def _copy(source: MediaStore, target: MediaStore, key: str) -> bool:
    """Copy one file unless the target holds it with the same bytes; True when copied.
    ValueError when the copy read back differs from the original."""
    async with source.local_file(key) as original:
        expected = await asyncio.to_thread(_sha256, original)
        if await target.exists(key):
            if await _digest_in(target, key) == expected:
                return False
            await target.delete(key)  # what an interrupted copy left, or other bytes
        staged = await asyncio.to_thread(target.temporary_path, Path(key).suffix)
        try:
            await asyncio.to_thread(_copy_file, original, staged)
            await target.save(key, staged)
        finally:
            await asyncio.to_thread(staged.unlink, True)
    if await _digest_in(target, key) != expected:
        await target.delete(key)
        raise ValueError("the copy read back from the target differs from the original")
    return True


async def _digest_in(store: MediaStore, key: str) -> str:
    async with store.local_file(key) as path:
        return await asyncio.to_thread(_sha256, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        while chunk := content.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_file(source: Path, target: Path) -> None:
    with source.open("rb") as reading, target.open("wb") as writing:
        while chunk := reading.read(1 << 20):
            writing.write(chunk)
