"""Bringing a read export into this site: what is new is planned against what the site has
(users, slugs, earlier imports), checked by the site's rules, then written in one
transaction, or nothing is.

Images go into the media store first (a row never names a file that is not there); those
this import added are removed again when it fails. Items an earlier import of the same
source brought are recognised by their source id and left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cms.content.importers.media import ImportedImages, locate_images, store_images
from cms.content.importers.plan import ImportPlan, ImportReport, new_url, tag_slug
from cms.content.importers.source import BadExport, SourceDocument, SourcePost
from cms.content.importers.text import Converted, convert_html, image_addresses
from cms.contracts import ImportTarget, ImportWriter, MediaStore
from cms.core.site import Site

__all__ = ["ImportReport", "Progress", "import_document"]

Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
#: Posts written per statement.
BATCH = 500
#: The longest old path a redirect is made for (what storage keeps).
MAX_REDIRECT_PATH = 500


@contextmanager
def _no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda count: None


class DryRunDone(Exception):
    """Raised inside the transaction of a dry run, so it ends without a write."""


async def _known(target: ImportTarget, source: str) -> dict[tuple[str, str], int]:
    async with target.merging() as writer:
        return await writer.known_sources(source)


async def import_document(
    site: Site,
    document: SourceDocument,
    *,
    media_dir: Path | None = None,
    dry_run: bool = False,
    progress: Progress = _no_progress,
) -> ImportReport:
    """Import what a reader read; raise :class:`BadExport` for an item the site's rules
    refuse (nothing written then)."""
    storage = site.storage
    if not isinstance(storage, ImportTarget):
        raise BadExport(f"the {storage.name} storage backend cannot take imports")
    report = ImportReport(document.system, dry_run)
    report.skipped.update(document.skipped)
    known = await _known(storage, document.source)
    unique = list({post.source_id: post for post in reversed(document.posts)}.values())[::-1]
    if len(unique) < len(document.posts):
        # The first item of an id wins: ids name the items a later import recognises.
        report.skipped["items repeating another's id"] += len(document.posts) - len(unique)
    fresh = [post for post in unique if ("post", post.source_id) not in known]
    report.already["posts and pages"] = len(unique) - len(fresh)
    addresses = [a for post in fresh for a in [*image_addresses(post.html), post.image_url] if a]
    images = locate_images(addresses, media_dir, document.media_marker)
    if media_dir is None and images.missing:
        report.notes.append(
            f"{len(images.missing)} image(s) stay at the old site's address: give "
            "--media-dir (a copy of its uploads folder) to bring them"
        )
        images.missing = []
    report.missing_files = images.missing
    if images.files and site.images is None and not dry_run:
        raise BadExport("this site has no [images] backend to keep the export's images")
    try:
        if not dry_run and site.images is not None:
            with progress("Storing images", len(images.files)) as advance:
                await store_images(images, site.images)
                advance(len(images.files))
        report.refused_files = images.refused
        stored = {image.content_hash for image in images.stored.values()}
        # A dry run stores nothing: it counts the files it found.
        report.counts["images"] = len(set(images.files.values()) if dry_run else stored)
        await _write(site, storage, document, fresh, images, report, progress)
    except BaseException:
        if images.added and site.images is not None:
            await asyncio.shield(_delete_files(site.images.store, images.added))
        raise
    return report


async def _delete_files(store: MediaStore, keys: list[str]) -> None:
    for key in keys:
        await store.delete(key)


def _convert_all(
    posts: list[SourcePost], moved: dict[str, str], wordpress: bool
) -> list[Converted]:
    return [convert_html(post.html, images=moved, wordpress=wordpress) for post in posts]


async def _write(
    site: Site,
    storage: ImportTarget,
    document: SourceDocument,
    fresh: list[SourcePost],
    images: ImportedImages,
    report: ImportReport,
    progress: Progress,
) -> None:
    moved = images.new_addresses(site.images.store.url if site.images is not None else None)
    wordpress = document.system == "WordPress"
    converted: list[Converted] = []
    with progress("Converting posts", len(fresh)) as advance:
        for start in range(0, len(fresh), BATCH):
            chunk = fresh[start : start + BATCH]
            converted.extend(await asyncio.to_thread(_convert_all, chunk, moved, wordpress))
            advance(len(chunk))
    for result in converted:
        report.shortcodes.update(result.shortcodes)
        report.counts["captions"] += result.captions
    plan = ImportPlan(site, document, report)
    prepared: list[tuple[SourcePost, dict[str, Any]]] = []
    # Checked and rendered before the write lock is taken: writers of the site wait only
    # for the writes.
    with progress("Checking posts", len(fresh)) as advance:
        for post, text in zip(fresh, converted, strict=True):
            cover = images.stored.get(post.image_url or "")
            values = await plan.prepare(post, text.body, cover.content_hash if cover else None)
            prepared.append((post, values))
            advance(1)
    try:
        async with storage.merging() as writer:
            known = await writer.known_sources(document.source)
            authors = await plan.users(writer, known)
            taken = await writer.taken_slugs()
            if not report.dry_run:
                by_hash = {image.content_hash: (a, image) for a, image in images.stored.items()}
                for address, image in by_hash.values():
                    await writer.add_media(image, original_name=images.files[address].name)
            pending: list[tuple[SourcePost, dict[str, Any]]] = []
            tags: set[str] = set()
            with progress("Importing posts", len(prepared)) as advance:
                for post, values in prepared:
                    if ("post", post.source_id) in known:
                        continue  # brought by an import that ran meanwhile
                    plan.place(post, values, taken, authors.get(post.author or ""))
                    tags.update(slug for _, slug in values["tags"])
                    pending.append((post, values))
                    report.counts["pages" if post.kind == "page" else "posts"] += 1
                    if len(pending) >= BATCH:
                        await _flush(writer, plan, pending, report)
                        advance(len(pending))
                        pending = []
                await _flush(writer, plan, pending, report)
                advance(len(pending))
            report.counts["tags"] = len(tags)
            authors_here = {post.author for post, _ in prepared if post.author}
            archives = _archive_redirects(document, plan, tags, authors_here)
            report.counts["redirects"] += len(archives)
            if report.dry_run:
                raise DryRunDone
            await writer.set_redirects(archives)
            await writer.remember_sources(document.source, plan.sources, when=datetime.now(UTC))
    except DryRunDone:
        pass


def _archive_redirects(
    document: SourceDocument, plan: ImportPlan, tags: set[str], authors: set[str]
) -> list[tuple[str, str]]:
    """The other site's pages of the tags and authors this import brought posts of, to
    their pages here."""
    redirects: list[tuple[str, str]] = []
    for path, (kind, key) in document.archive_paths.items():
        if len(path) > MAX_REDIRECT_PATH:
            continue
        if kind == "tag" and (slug := tag_slug(key)) in tags:
            redirects.append((path, f"/tags/{slug}"))
        elif kind == "author" and key in authors and key in plan.usernames:
            redirects.append((path, f"/authors/{plan.usernames[key]}"))
    return redirects


async def _flush(
    writer: ImportWriter,
    plan: ImportPlan,
    pending: list[tuple[SourcePost, dict[str, Any]]],
    report: ImportReport,
) -> None:
    if not pending:
        return
    # Only addresses readers knew: a draft had none (and a path longer than a redirect
    # keeps is no address anybody typed).
    redirects = [
        (post.old_path, new_url(post.kind, values["slug"]))
        for post, values in pending
        if post.old_path
        and post.status != "draft"
        and len(post.old_path) <= MAX_REDIRECT_PATH
        and post.old_path.rstrip("/") != new_url(post.kind, values["slug"])
    ]
    report.counts["redirects"] += len(redirects)
    if report.dry_run:
        return
    ids = await writer.add_posts([values for _, values in pending])
    plan.sources.extend(
        ("post", post.source_id, post_id) for (post, _), post_id in zip(pending, ids, strict=True)
    )
    await writer.set_redirects(redirects)
