"""``cms migrate``, ``cms export`` and ``cms import``: the database schema and whole-site
copies, for moving a site between storage backends (docs/storage.md)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from cms.cli.options import CONFIG_ERROR_EXIT, fail, settings_option
from cms.contracts import DependencyUnavailable, MigrationReport, SiteNotEmpty
from cms.core.plugin_host import PluginError
from cms.core.settings import SettingsError, load_settings

__all__ = ["export_command", "import_command", "migrate_command", "with_site"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_settings_option = settings_option


def _fail(message: str, code: int = 1) -> NoReturn:
    fail(message, code)


def with_site(settings_path: Path | None, work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Configure the site, open its storage, run ``work(site)``, close; errors as one line."""
    from cms.core.site import Site

    async def run() -> T:
        site = Site(load_settings(settings_path))
        await site.configure()
        await site.storage.open()
        try:
            # Export and import read and write media files through the media store.
            if site.media is not None:
                await site.media.open()
            try:
                return await work(site)
            finally:
                if site.media is not None:
                    await site.media.close()
        finally:
            await site.storage.close()

    try:
        return asyncio.run(run())
    except (SettingsError, PluginError) as error:
        _fail(str(error), CONFIG_ERROR_EXIT)
    except DependencyUnavailable as error:
        _fail(f"{error}; check [storage] in the settings and that the server is up")


@contextmanager
def _progress_bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (so stdout stays clean for scripts)."""
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _print_report(report: MigrationReport, *, dry_run: bool = False) -> None:
    if report.backup:
        click.echo(f"Backed up the database to {report.backup}")
    for change in report.applied:
        click.echo(f"{'would apply: ' if dry_run else ''}{change}")
    if report.kept:
        click.echo("Left as is (cms never drops or changes these by itself):")
        for note in report.kept:
            click.echo(f"  {note}")
    if report.blocking:
        click.echo("Not applied (each needs a versioned revision, see docs/storage.md):")
        for problem in report.blocking:
            click.echo(f"  {problem}")
    count = len(report.applied)
    if dry_run:
        click.echo(f"{count} change(s) pending." if count else "The schema is up to date.")
    else:
        click.echo(f"{count} change(s) applied." if count else "The schema is up to date.")


@click.command("migrate")
@_settings_option
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing")
def migrate_command(settings_path: Path | None, dry_run: bool) -> None:
    """Bring the database schema up to date with the core and the installed plugins.

    Adds what is declared and missing (tables, columns, indexes) and runs pending core
    revisions; SQLite is backed up first. Never drops or changes anything: the columns of
    uninstalled plugins keep their data and are listed, as are changed types.
    """

    async def work(site: Any) -> MigrationReport:
        report: MigrationReport = await site.storage.migrate_schema(dry_run=dry_run)
        return report

    report = with_site(settings_path, work)
    _print_report(report, dry_run=dry_run)
    if report.blocking:
        sys.exit(1)


#: Problems ``cms export`` lists one per line before it sums up the rest.
MAX_LISTED = 20


@click.command("export")
@_settings_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Archive to write [default: cms-export-<UTC time>.tar.gz]",
)
def export_command(settings_path: Path | None, output: Path | None) -> None:
    """Write the whole site (posts with plugin fields, users with their password hashes
    and roles, API tokens by digest, media) to one .tar.gz archive."""
    from cms.content.export import ExportError, export_site

    target = output or Path(f"cms-export-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.tar.gz")
    if not target.parent.is_dir():
        _fail(f"cannot write {target}: folder {target.parent} does not exist")

    async def work(site: Any) -> Any:
        schema: MigrationReport = await site.storage.migrate_schema(dry_run=True)
        if schema.applied:
            raise ExportError(
                f"the database schema is not up to date ({schema.applied[0]}"
                f"{', ...' if len(schema.applied) > 1 else ''}): run cms migrate first"
            )
        for note in schema.kept:
            if note.startswith("column ") and "kept with its data" in note:
                # Only declared fields are exported: say so rather than drop data silently.
                click.echo(f"Warning: {note}; it is not exported", err=True)
        return await export_site(site, target, progress=_progress_bar)

    try:
        summary = with_site(settings_path, work)
    except ExportError as error:
        _fail(f"cannot export: {error}")
    except OSError as error:
        _fail(f"cannot write {target}: {error.strerror or error}")
    counts = _counted(summary.counts)
    click.echo(f"Exported {counts} to {target}")
    for problem in summary.problems[:MAX_LISTED]:
        click.echo(f"Warning: {problem}", err=True)
    if summary.problems:
        more = len(summary.problems) - MAX_LISTED
        click.echo(
            f"Warning: {len(summary.problems)} stored record(s) break the site's rules"
            + (f" ({more} more not listed)" if more > 0 else "")
            + ": they are in the archive as stored, and cms import refuses the archive "
            "until they are fixed (in the site, then export again)",
            err=True,
        )


@click.command("import")
@_settings_option
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--from",
    "system",
    type=click.Choice(["wordpress", "ghost"]),
    default=None,
    help="Read another system's export (WordPress WXR, Ghost JSON) into this site",
)
@click.option(
    "--media-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="With --from: a copy of its uploads folder, where images are taken from",
)
@click.option("--dry-run", is_flag=True, help="With --from: say what would happen; write nothing")
def import_command(
    settings_path: Path | None,
    archive: Path,
    system: str | None,
    media_dir: Path | None,
    dry_run: bool,
) -> None:
    """Load an archive written by cms export into this site, which must be empty; or,
    with --from, another system's export into this site, which may have content.

    Everything is checked first (checksums, every record by the rules the site applies
    when saving, plugin fields); posts' HTML is made again from their Markdown; then all
    of it is written in one transaction, or nothing is. A file that is damaged or breaks
    a rule exits with status 2 and one line naming the problem (docs/importing.md for
    --from).
    """
    if system is not None:
        from cms.cli.importing import import_foreign

        import_foreign(settings_path, system, archive, media_dir=media_dir, dry_run=dry_run)
        return
    if media_dir is not None or dry_run:
        _fail("--media-dir and --dry-run go with --from wordpress|ghost", 2)
    from cms.content.export import ExportError, check_archive, load_archive, read_archive

    def refuse(error: ExportError) -> NoReturn:
        _fail(f"cannot import {archive}: {error}. Nothing was imported.", 2)

    with tempfile.TemporaryDirectory(prefix="cms-import-") as tmp:
        try:
            # The file is checked whole before the database is even opened.
            checked = read_archive(archive, Path(tmp))
        except ExportError as error:
            refuse(error)

        async def work(site: Any) -> Any:
            # Records are checked before the schema is touched: a bad file changes nothing.
            await check_archive(site, checked, progress=_progress_bar)
            report: MigrationReport = await site.storage.migrate_schema()
            for change in report.applied:
                click.echo(f"schema: {change}", err=True)
            return await load_archive(site, checked, progress=_progress_bar)

        try:
            summary = with_site(settings_path, work)
        except ExportError as error:
            refuse(error)
        except SiteNotEmpty as error:
            _fail(
                f"cannot import {archive}: {error}. Import fills a new, empty site only: "
                "point [storage] at an empty database (cms migrate creates its tables)."
            )
    counts = _counted(summary.counts)
    click.echo(f"Imported {counts} from {archive}")


#: Always named in a summary, even at 0; other kinds only when there are some.
_MAIN_KINDS = ("users", "posts")


def _counted(counts: dict[str, int]) -> str:
    """``2 users, 5 posts, 3 tags``: what moved, by kind."""
    return ", ".join(
        f"{count} {kind.replace('_', ' ')}"
        for kind, count in counts.items()
        if count or kind in _MAIN_KINDS
    )
