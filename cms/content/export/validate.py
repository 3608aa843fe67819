"""Checking every record of an unpacked export against the site's rules, before anything
is written."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from cms.content.export.archive import Archive, _first_error, _post_label
from cms.content.export.records import (
    _RENDERED_POSTS,
    BATCH_SIZE,
    FILES,
    MAX_ERRORS,
    MEDIA_DIR,
    ExportError,
    MediaRecord,
    Progress,
    _record_models,
)
from cms.content.image_sets import ImageSet, image_set_of
from cms.content.rendering import render_body
from cms.contracts import RECORD_KINDS, Rendition
from cms.contracts.fields import (
    MEDIA_HASH_PATTERN,
)
from cms.core.site import Site

# -- validating ------------------------------------------------------------------------------


@dataclass
class _Checks:
    """What one pass over the records found; ``errors`` as "file line n: message"."""

    errors: list[str] = field(default_factory=list)
    hidden: int = 0

    def add(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
        else:
            self.hidden += 1


def validate_archive(archive: Archive, site: Site, supported: tuple[str, ...]) -> None:
    """Check every record of ``archive`` for this site; raise ExportError listing problems."""
    declared = {f.name for f in site.fields}
    missing = [f for f in archive.manifest.get("fields", []) if f.get("name") not in declared]
    if missing:
        names = ", ".join(f"{f.get('name')} (plugin {f.get('plugin') or '?'})" for f in missing)
        raise ExportError(
            f"the export has post fields this site does not declare: {names}; "
            "install those plugins first (cms plugins lists what is installed)"
        )
    for kind, count in archive.counts.items():
        if count and kind not in supported:
            raise ExportError(
                f"the export holds {count} {kind} record(s); this site cannot store {kind}"
            )
    models = _record_models(site)
    checks = _Checks()
    seen: dict[str, set[Any]] = {
        "user ids": set(),
        "usernames": set(),
        "post ids": set(),
        "slugs": set(),
        "token ids": set(),
        "token hashes": set(),
        "media ids": set(),
        "media hashes": set(),
        "setting keys": set(),
        "tag ids": set(),
        "tag slugs": set(),
        "post tags": set(),
        "old tag slugs": set(),
        "queued posts": set(),
        "menus": set(),
        "old slugs": set(),
        "redirects": set(),
        "revision ids": set(),
        "revisions": set(),
        "trash ids": set(),
        "trashed posts": set(),
        "import sources": set(),
    }
    # A post's image that is a media hash must name an image of the export (as a saved
    # post's must name an uploaded one); media come after posts, so they are checked last.
    images: list[tuple[str, str]] = []
    for kind in RECORD_KINDS:
        lines = 0
        for number, line in archive.lines(kind):
            lines += 1
            where = f"{FILES[kind]} line {number}"
            if kind == "posts":
                where += _post_label(line)
            try:
                record = models[kind].model_validate_json(line, strict=True)
            except ValidationError as error:
                checks.add(f"{where}: {_first_error(error)}")
                _remember_invalid(kind, line, seen)
                continue
            for problem in _cross_check(kind, record, seen):
                checks.add(f"{where}: {problem}")
            image = getattr(record, "image", None) if kind == "posts" else None
            if image is not None and re.match(MEDIA_HASH_PATTERN, image):
                images.append((where, image))
            if isinstance(record, MediaRecord):
                for key in record.files():
                    if not (archive.folder / MEDIA_DIR / key).is_file():
                        checks.add(f"{where}: file {MEDIA_DIR}/{key} is not in the archive")
        if lines != archive.counts[kind]:
            checks.add(
                f"{FILES[kind]} has {lines} record(s), the manifest says {archive.counts[kind]}"
            )
    for where, image in images:
        if image not in seen["media hashes"]:
            checks.add(
                f"{where}: image: {image} is not the content_hash of an image in this export "
                "(media.jsonl)"
            )
    if checks.errors:
        # One line, for the CLI: problems are separated by "; ".
        total = len(checks.errors) + checks.hidden
        listing = "; ".join(checks.errors)
        if total == 1:
            raise ExportError(listing)
        more = f"; and {checks.hidden} more" if checks.hidden else ""
        raise ExportError(f"{total} problems: {listing}{more}")


def _remember_invalid(kind: str, line: bytes, seen: dict[str, set[Any]]) -> None:
    """Note the id (or hash) of a record that is refused already, so the records that
    link to it are not listed as problems too."""
    key, what = {
        "users": ("id", "user ids"),
        "posts": ("id", "post ids"),
        "tags": ("id", "tag ids"),
        "media": ("content_hash", "media hashes"),
    }.get(kind, ("", ""))
    if not key:
        return
    try:
        value = json.loads(line).get(key)
    except (ValueError, AttributeError):
        return
    if isinstance(value, int | str):
        seen[what].add(value)


def _cross_check(kind: str, record: Any, seen: dict[str, set[Any]]) -> Iterator[str]:
    def unique(what: str, value: Any, label: str) -> Iterator[str]:
        if value in seen[what]:
            yield f"{label} {value!r} appears twice"
        seen[what].add(value)

    if kind == "users":
        yield from unique("user ids", record.id, "user id")
        yield from unique("usernames", record.username.lower(), "username")
    elif kind == "posts":
        yield from unique("post ids", record.id, "post id")
        yield from unique("slugs", record.slug, "slug")
        for link in ("author_id", "editor_id"):
            value = getattr(record, link)
            if value is not None and value not in seen["user ids"]:
                yield f"{link} {value} is not a user in this export"
    elif kind == "tokens":
        yield from unique("token ids", record.id, "token id")
        yield from unique("token hashes", record.token_hash, "token hash")
        if record.user_id not in seen["user ids"]:
            yield f"user_id {record.user_id} is not a user in this export"
    elif kind == "media":
        yield from unique("media ids", record.id, "media id")
        yield from unique("media hashes", record.content_hash, "content_hash")
        if record.uploader_id is not None and record.uploader_id not in seen["user ids"]:
            yield f"uploader_id {record.uploader_id} is not a user in this export"
    elif kind == "tags":
        yield from unique("tag ids", record.id, "tag id")
        yield from unique("tag slugs", record.slug, "tag slug")
    elif kind == "post_tags":
        yield from unique("post tags", (record.post_id, record.tag_id), "post and tag")
        yield from _links(seen, post_id=record.post_id, tag_id=record.tag_id)
    elif kind == "tag_redirects":
        yield from unique("old tag slugs", record.slug, "old tag slug")
        yield from _links(seen, tag_id=record.tag_id)
    elif kind == "publications":
        yield from unique("queued posts", record.post_id, "queued post")
        yield from _links(seen, post_id=record.post_id)
    elif kind == "menus":
        yield from unique("menus", record.name, "menu")
    elif kind == "old_slugs":
        yield from unique("old slugs", record.slug, "old slug")
        yield from _links(seen, post_id=record.post_id)
    elif kind == "redirects":
        yield from unique("redirects", record.path, "redirect from")
    elif kind == "revisions":
        yield from unique("revision ids", record.id, "revision id")
        yield from unique("revisions", (record.post_id, record.number), "post and revision")
        yield from _links(seen, post_id=record.post_id)
        if record.user_id is not None and record.user_id not in seen["user ids"]:
            yield f"user_id {record.user_id} is not a user in this export"
    elif kind == "trash":
        yield from unique("trash ids", record.id, "trash id")
        yield from unique("trashed posts", record.post_id, "trashed post")
        # A post is in the trash or among the posts, never both.
        if record.post_id in seen["post ids"]:
            yield f"post_id {record.post_id} is a post of this export, not trashed"
        if record.trashed_by is not None and record.trashed_by not in seen["user ids"]:
            yield f"trashed_by {record.trashed_by} is not a user in this export"
    elif kind == "import_sources":
        # Its local_id may name a post or user deleted for good since: kept as it is, so
        # the item is still known as imported (and not brought back by importing again).
        key = (record.source, record.kind, record.source_id)
        yield from unique("import sources", key, "import source")
    else:
        yield from unique("setting keys", record.key, "setting")


def _links(seen: dict[str, set[Any]], **links: int) -> Iterator[str]:
    """Problems with links to posts or tags that the export does not hold."""
    for name, value in links.items():
        what = "post" if name == "post_id" else "tag"
        if value not in seen[f"{what} ids"]:
            yield f"{name} {value} is not a {what} in this export"


def _batches(lines: Iterator[tuple[int, bytes]], model: type[BaseModel]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for _, line in lines:
        batch.append(model.model_validate_json(line, strict=True))
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _rendered_lines(archive: Archive) -> Iterator[tuple[int, bytes]]:
    with (archive.folder / _RENDERED_POSTS).open("rb") as content:
        yield from enumerate(content, start=1)


def _archive_images(site: Site, archive: Archive) -> dict[str, ImageSet]:
    """The archive's media records as posts show them (``![alt](media:<hash>)``), by
    content hash: their rows are written after the posts are rendered."""
    if site.images is None or not archive.counts["media"]:
        return {}
    store = site.images.store
    found: dict[str, ImageSet] = {}
    for _, line in archive.lines("media"):
        record = MediaRecord.model_validate_json(line, strict=True)
        renditions = [
            Rendition(key=r.key, width=r.width, height=r.height, format=r.format, size=r.size)
            for r in record.renditions
        ]
        found[record.content_hash] = image_set_of(
            store, record.content_hash, record.width, record.height, renditions
        )
    return found


async def _render_posts(
    site: Site, archive: Archive, model: type[BaseModel], progress: Progress
) -> None:
    """Make every post's html again from its body, as saving the post would (this site's
    render_post_body plugins or Markdown, then the sanitizer), into a file of their own.

    The archive's html is never used: themes show it unescaped, and an edited archive
    could hold any markup there. Done before the import transaction starts, so a slow
    renderer does not hold the database's write lock and a failing one writes nothing.
    """
    images = await asyncio.to_thread(_archive_images, site, archive)
    target = archive.folder / _RENDERED_POSTS
    out = await asyncio.to_thread(target.open, "wb")
    try:
        with progress("Rendering posts", archive.counts["posts"]) as advance:
            batches = _batches(archive.lines("posts"), model)
            while batch := await asyncio.to_thread(next, batches, None):
                lines = []
                for record in batch:
                    values = record.model_dump(exclude={"html"})
                    html = await render_body(site, values["body"], values, images=images)
                    lines.append(record.model_copy(update={"html": html}).model_dump_json())
                data = "".join(f"{line}\n" for line in lines).encode("utf-8")
                await asyncio.to_thread(out.write, data)
                advance(len(batch))
    finally:
        await asyncio.to_thread(out.close)
