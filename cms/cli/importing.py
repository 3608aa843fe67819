"""``cms import --from wordpress|ghost FILE``: another system's export into this site
(docs/importing.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from cms.cli.options import fail
from cms.cli.storage import with_site
from cms.contracts import MigrationReport

__all__ = ["import_foreign"]

#: Slugs renamed and files missing are listed up to this many each, then summed up.
MAX_LISTED = 20


@contextmanager
def _progress_bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when the output is a terminal; nothing otherwise."""
    if not sys.stdout.isatty() or total <= 0:
        yield lambda count: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _listed(title: str, lines: list[str]) -> None:
    if not lines:
        return
    click.echo(f"{title} ({len(lines)}):")
    for line in lines[:MAX_LISTED]:
        click.echo(f"  {line}")
    if len(lines) > MAX_LISTED:
        click.echo(f"  ... and {len(lines) - MAX_LISTED} more")


def _summary(report: Any, source: Path) -> None:
    counts = report.counts
    verb = "Would import" if report.dry_run else "Imported"
    main = ", ".join(
        f"{counts[kind]} {kind}"
        for kind in ("posts", "pages", "tags", "users", "images", "redirects")
    )
    click.echo(f"{verb} {main} from {source} ({report.system}).")
    extra = [
        f"{count} {kind}"
        for kind, count in sorted(counts.items())
        if kind not in ("posts", "pages", "tags", "users", "images", "redirects") and count
    ]
    if extra:
        click.echo(f"Also: {', '.join(extra)}.")
    already = [f"{count} {kind}" for kind, count in sorted(report.already.items()) if count]
    if already:
        click.echo(f"Imported before, left as they are: {', '.join(already)}.")
    skipped = [f"{count} {kind}" for kind, count in sorted(report.skipped.items()) if count]
    if skipped:
        click.echo(f"Not imported: {', '.join(skipped)}.")
    if report.shortcodes:
        shown = ", ".join(f"[{name}] x{count}" for name, count in report.shortcodes.most_common())
        click.echo(f"Shortcodes kept as text: {shown}.")
    _listed("Slugs renamed", [f"{old} -> {new}" for old, new in report.renamed])
    _listed("Image files missing from --media-dir", report.missing_files)
    _listed("Image files refused", [f"{name}: {why}" for name, why in report.refused_files])
    for note in report.notes:
        click.echo(f"Note: {note}")
    if report.dry_run:
        click.echo("Dry run: nothing was written.")


def import_foreign(
    settings_path: Path | None,
    system: str,
    source: Path,
    *,
    media_dir: Path | None,
    dry_run: bool,
) -> None:
    """Read ``source`` with the reader of ``system``, then import it (or, dry, say what an
    import would do). A bad file: one line, exit status 2, nothing written."""
    from cms.content.importers import READERS, BadExport, import_document

    def refuse(message: str) -> NoReturn:
        fail(f"cannot import {source}: {message}. Nothing was imported.", 2)

    if not source.is_file():
        refuse("no such file")
    try:
        # The whole file is read and checked before the database is even opened.
        document = READERS[system](source)
    except BadExport as error:
        refuse(str(error))
    except OSError as error:
        refuse(error.strerror or str(error))

    async def work(site: Any) -> Any:
        if dry_run:
            pending: MigrationReport = await site.storage.migrate_schema(dry_run=True)
            if pending.applied:
                raise BadExport(
                    "the database schema is not up to date: run cms migrate first "
                    "(a dry run changes nothing)"
                )
        else:
            report: MigrationReport = await site.storage.migrate_schema()
            for change in report.applied:
                click.echo(f"schema: {change}", err=True)
        if site.images is not None:
            await site.images.open()
        try:
            return await import_document(
                site, document, media_dir=media_dir, dry_run=dry_run, progress=_progress_bar
            )
        finally:
            if site.images is not None:
                await site.images.close()

    try:
        summary = with_site(settings_path, work)
    except BadExport as error:
        refuse(str(error))
    _summary(summary, source)
