"""Importing an export: everything checked first, then written in one transaction, media files
included."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from cms.content.export.archive import Archive, read_archive
from cms.content.export.records import (
    MEDIA_DIR,
    ExportError,
    ExportSummary,
    MediaRecord,
    Progress,
    _no_progress,
    _record_models,
)
from cms.content.export.validate import _batches, _render_posts, _rendered_lines, validate_archive
from cms.contracts import RECORD_KINDS, MediaStore, SiteNotEmpty
from cms.core.site import Site


async def import_site(
    site: Site, source: Path, *, progress: Progress = _no_progress
) -> ExportSummary:
    """Load an export file into this (empty) site: see :func:`read_archive` and
    :func:`load_archive`."""
    with tempfile.TemporaryDirectory(prefix="cms-import-") as tmp:
        archive = await asyncio.to_thread(read_archive, source, Path(tmp))
        return await load_archive(site, archive, progress=progress)


async def check_archive(site: Site, archive: Archive, *, progress: Progress = _no_progress) -> None:
    """Check every record of an unpacked archive by this site's rules and make every post's
    html again from its body; raise ExportError naming the problems. Reads no table, so it
    can run before the site's schema exists (``cms import`` checks before it migrates)."""
    async with site.storage.exporting() as reader:
        supported = reader.kinds
    await asyncio.to_thread(validate_archive, archive, site, supported)
    if archive.counts["media"] and site.images is None:
        raise ExportError(
            f"the export holds {archive.counts['media']} media record(s); this site has no "
            "[images] backend to keep their files"
        )
    if archive.counts["posts"]:
        await _render_posts(site, archive, _record_models(site)["posts"], progress)
    archive.checked_for = site


async def load_archive(
    site: Site, archive: Archive, *, progress: Progress = _no_progress
) -> ExportSummary:
    """Load an unpacked archive into this (empty) site: every record is checked first
    (:func:`check_archive`, unless it ran for this site already), then all are written in
    one transaction. Raise ExportError for bad records, SiteNotEmpty for a site with
    content; either way nothing is written."""
    storage = site.storage
    async with storage.exporting() as reader:
        # Refuse a site with content before the long checks; importing() checks again.
        counts = {kind: await reader.count(kind) for kind in ("users", "posts", "tokens")}
        if any(counts.values()):
            raise SiteNotEmpty(counts)
    if archive.checked_for is not site:
        await check_archive(site, archive, progress=progress)
    models = _record_models(site)
    # Files first, then the rows: a row never names a file that is not there. They are
    # named after their content, so one left behind by a failed import is harmless; those
    # this import added are removed again all the same.
    added = await _import_media_files(site, archive, progress)
    try:
        async with storage.importing() as writer:
            for kind in RECORD_KINDS:
                total = archive.counts[kind]
                if not total:
                    continue
                with progress(f"Importing {kind}", total) as advance:
                    lines = _rendered_lines(archive) if kind == "posts" else archive.lines(kind)
                    batches = _batches(lines, models[kind])
                    while batch := await asyncio.to_thread(next, batches, None):
                        await writer.write(kind, [record.model_dump() for record in batch])
                        advance(len(batch))
    except BaseException:
        if added and site.images is not None:
            await asyncio.shield(_delete_files(site.images.store, added))
        raise
    return ExportSummary(archive.source, dict(archive.counts), archive.manifest)


async def _import_media_files(site: Site, archive: Archive, progress: Progress) -> list[str]:
    """Put the archive's media files into the site's media store; return the keys added."""
    if not archive.counts["media"] or site.images is None:
        return []
    store = site.images.store
    keys: dict[str, None] = {}
    for _, line in archive.lines("media"):
        keys.update(dict.fromkeys(MediaRecord.model_validate_json(line, strict=True).files()))
    added: list[str] = []
    try:
        with progress("Importing media files", len(keys)) as advance:
            for key in keys:
                if await _save_copy(store, archive.folder / MEDIA_DIR / key, key):
                    added.append(key)
                advance(1)
    except BaseException:
        await asyncio.shield(_delete_files(store, added))
        raise
    return added


async def _delete_files(store: MediaStore, keys: list[str]) -> None:
    for key in keys:
        await store.delete(key)


async def _save_copy(store: MediaStore, source: Path, key: str) -> bool:
    # save() moves its file in: give it a copy at a temporary path of its own (the
    # archive's folder may be on another filesystem, and stays as it is).
    staged = await asyncio.to_thread(store.temporary_path, ".import")
    try:
        await asyncio.to_thread(shutil.copyfile, source, staged)
        return await store.save(key, staged)
    finally:
        await asyncio.to_thread(staged.unlink, True)
