"""Bringing a read export into this site: what is new is planned against what the site has
(users, slugs, earlier imports), checked by the site's rules, then written in one
transaction, or nothing is.

Images go into the media store first (a row never names a file that is not there); those
this import added are removed again when it fails. Items an earlier import of the same
source brought are recognised by their source id and left alone.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from slugify import slugify

from cms.content.importers.media import ImportedImages, locate_images, store_images
from cms.content.importers.source import BadExport, SourceDocument, SourcePost
from cms.content.importers.text import Converted, convert_html, image_addresses, plain_text
from cms.content.posts import TAG_SLUG_MAX_LENGTH, slug_from_title
from cms.content.rendering import render_body
from cms.contracts import UNUSABLE_PASSWORD, ImportTarget, ImportWriter, MediaStore
from cms.contracts.fields import FieldValidationError
from cms.core.site import Site

__all__ = ["ImportReport", "Progress", "import_document"]

Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
#: Posts written per statement.
BATCH = 500
_EXCERPT_MAX = 500
_TITLE_MAX = 300
_TAG_NAME_MAX = 60
_USERNAME_BAD = re.compile(r"[^A-Za-z0-9_.@-]+")
#: Plugin fields an import fills when the site has them (``PostField`` names).
META_TITLE_FIELD = "meta_title"
META_DESCRIPTION_FIELD = "meta_description"
IMAGE_CAPTION_FIELD = "image_caption"


@contextmanager
def _no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda count: None


class DryRunDone(Exception):
    """Raised inside the transaction of a dry run, so it ends without a write."""


@dataclass
class ImportReport:
    """What an import did (or, dry, would do)."""

    system: str
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    #: Items an earlier import of this source brought: left as they are.
    already: Counter[str] = field(default_factory=Counter)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    refused_files: list[tuple[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    shortcodes: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def _username(login: str) -> str:
    name = _USERNAME_BAD.sub("-", login).strip("-_.@")[:150]
    return name or "author"


def _trimmed(text: str | None, limit: int) -> str | None:
    text = " ".join((text or "").split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _free(base: str, taken: set[str], reserved: frozenset[str], limit: int = 200) -> str:
    """``base``, or the first of ``base-2``, ``base-3``... that is free; taken from then on."""
    candidate, number = base[:limit], 1
    while candidate in taken or candidate in reserved:
        number += 1
        suffix = f"-{number}"
        candidate = base[: limit - len(suffix)].rstrip("-") + suffix
    taken.add(candidate)
    return candidate


def _post_slug(post: SourcePost) -> str:
    # The slug there (percent-decoded by the reader), made of what cms's slugs allow:
    # "επίπεδο-2" becomes "epipedo-2".
    slug: str = slugify(post.slug, max_length=80, word_boundary=True) if post.slug else ""
    return slug or slug_from_title(post.title)


def _tags(post: SourcePost) -> list[tuple[str, str]]:
    pairs: dict[str, str] = {}
    for name, raw_slug in post.tags:
        slug = slugify(raw_slug, max_length=TAG_SLUG_MAX_LENGTH) or slugify(
            name, max_length=TAG_SLUG_MAX_LENGTH
        )
        if slug:
            pairs.setdefault(slug, " ".join(name.split())[:_TAG_NAME_MAX])
    return [(name, slug) for slug, name in pairs.items()]


def _new_url(kind: str, slug: str) -> str:
    return f"/{slug}" if kind == "page" else f"/posts/{slug}"


class _Plan:
    """The posts and users to add, decided against what the site holds now."""

    def __init__(self, site: Site, document: SourceDocument, report: ImportReport) -> None:
        self.site = site
        self.document = document
        self.report = report
        # Plugin fields by name, with the longest text each takes (None: no limit).
        self.fields = {field.name: field.max_length for field in site.fields}

    async def users(
        self, writer: ImportWriter, known: dict[tuple[str, str], int]
    ) -> dict[str, int]:
        """Each source author's user id here: made anew (no password yet), or the user an
        earlier import made, or the site's user of that name."""
        existing = await writer.users_by_key()
        ids: dict[str, int] = {}
        for user in self.document.users:
            local = known.get(("user", user.source_id))
            if local is not None:
                self.report.already["users"] += 1
            else:
                name = _username(user.login)
                local = existing.get(name.lower())
                if local is not None:
                    self.report.counts["users matched by name"] += 1
                else:
                    self.report.counts["users"] += 1
                    local = -len(existing) - 1
                    if not self.report.dry_run:
                        local = await writer.add_user(
                            name,
                            role="author",
                            display_name=_trimmed(user.display_name, 150),
                            password_hash=UNUSABLE_PASSWORD,
                        )
                    existing[name.lower()] = local
                self.sources.append(("user", user.source_id, local))
            ids[user.login] = local
        return ids

    sources: list[tuple[str, str, int]]

    async def post_values(
        self, post: SourcePost, body: str, image: str | None, taken: set[str], author: int | None
    ) -> dict[str, Any]:
        base = _post_slug(post)
        # A page's address must not be one the site itself uses (/tags, /search...).
        reserved = self.site.reserved_slugs if post.kind == "page" else frozenset()
        slug = _free(base, taken, reserved)
        if slug != base:
            self.report.renamed.append((base, slug))
        excerpt = _trimmed(plain_text(post.excerpt or ""), _EXCERPT_MAX)
        values: dict[str, Any] = {
            "title": _trimmed(post.title, _TITLE_MAX) or "(untitled)",
            "slug": slug,
            "body": body,
            "status": "published" if post.status != "draft" else "draft",
            "published_at": post.published_at,
            "featured": post.featured,
            "image": image,
            "custom_excerpt": excerpt,
        }
        self._meta(post, values)
        try:
            checked = self.site.post_model.model_validate(values).model_dump()
        except ValidationError as error:
            problems = FieldValidationError.from_pydantic(error).errors
            field_name, message = next(iter(problems.items()))
            raise BadExport(
                f"{post.kind} {post.source_id} ({post.title[:60]!r}): {field_name}: {message}"
            ) from None
        now = datetime.now(UTC)
        checked.update(
            kind=post.kind,
            tags=_tags(post),
            author_id=author if author is not None and author > 0 else None,
            created_at=post.created_at or post.published_at or now,
            updated_at=post.updated_at or post.created_at or post.published_at or now,
        )
        if checked["status"] == "draft":
            checked["published_at"] = None
        elif checked["published_at"] is None:
            checked["published_at"] = checked["created_at"]
        checked["html"] = await render_body(self.site, checked["body"], checked)
        return checked

    def _fit(self, name: str, text: str) -> str | None:
        """``text`` as long as the plugin field ``name`` takes (cut with an ellipsis)."""
        return _trimmed(text, self.fields.get(name) or 100_000)

    def _meta(self, post: SourcePost, values: dict[str, Any]) -> None:
        """Meta title and description, and the cover's caption, where a field holds them."""
        if post.meta_title:
            if META_TITLE_FIELD in self.fields:
                values[META_TITLE_FIELD] = self._fit(META_TITLE_FIELD, post.meta_title)
            else:
                self.report.skipped["meta titles (no meta_title field)"] += 1
        if post.meta_description:
            if META_DESCRIPTION_FIELD in self.fields:
                values[META_DESCRIPTION_FIELD] = self._fit(
                    META_DESCRIPTION_FIELD, post.meta_description
                )
            elif not values["custom_excerpt"]:
                values["custom_excerpt"] = _trimmed(post.meta_description, _EXCERPT_MAX)
                self.report.counts["meta descriptions kept as excerpts"] += 1
            else:
                self.report.skipped["meta descriptions (the post has an excerpt)"] += 1
        if post.image_caption and post.image_url:
            if IMAGE_CAPTION_FIELD in self.fields:
                values[IMAGE_CAPTION_FIELD] = self._fit(
                    IMAGE_CAPTION_FIELD, plain_text(post.image_caption)
                )
            else:
                self.report.skipped["cover image captions (no image_caption field)"] += 1


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
    fresh = [post for post in document.posts if ("post", post.source_id) not in known]
    report.already["posts and pages"] = len(document.posts) - len(fresh)
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
        report.counts["images"] = len({image.content_hash for image in images.stored.values()})
        await _write(site, storage, document, fresh, images, report, progress)
    except BaseException:
        if images.added and site.images is not None:
            await asyncio.to_thread(_delete_files, site.images.store, images.added)
        raise
    return report


def _delete_files(store: MediaStore, keys: list[str]) -> None:
    for key in keys:
        store.delete(key)


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
    plan = _Plan(site, document, report)
    plan.sources = []
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
            with progress("Importing posts", len(fresh)) as advance:
                for post, text in zip(fresh, converted, strict=True):
                    if ("post", post.source_id) in known:
                        continue  # brought by an import that ran meanwhile
                    cover = images.stored.get(post.image_url or "")
                    values = await plan.post_values(
                        post,
                        text.body,
                        cover.content_hash if cover else None,
                        taken,
                        authors.get(post.author or ""),
                    )
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
            if report.dry_run:
                raise DryRunDone
            await writer.remember_sources(document.source, plan.sources, when=datetime.now(UTC))
    except DryRunDone:
        pass


async def _flush(
    writer: ImportWriter,
    plan: _Plan,
    pending: list[tuple[SourcePost, dict[str, Any]]],
    report: ImportReport,
) -> None:
    if not pending:
        return
    redirects = [
        (post.old_path, _new_url(post.kind, values["slug"]))
        for post, values in pending
        if post.old_path and post.old_path.rstrip("/") != _new_url(post.kind, values["slug"])
    ]
    report.counts["redirects"] += len(redirects)
    if report.dry_run:
        return
    ids = await writer.add_posts([values for _, values in pending])
    plan.sources.extend(
        ("post", post.source_id, post_id) for (post, _), post_id in zip(pending, ids, strict=True)
    )
    await writer.set_redirects(redirects)
