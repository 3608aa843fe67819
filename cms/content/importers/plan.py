"""Deciding, item by item, what an import makes of another system's export here: users
(new, or matched by name), posts' values by the site's rules, free slugs."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from slugify import slugify

from cms.content.importers.source import BadExport, SourceDocument, SourcePost
from cms.content.importers.text import plain_text
from cms.content.posts import TAG_SLUG_MAX_LENGTH, slug_from_title
from cms.content.rendering import render_body
from cms.contracts import UNUSABLE_PASSWORD, ImportWriter
from cms.contracts.fields import FieldValidationError
from cms.core.site import Site

__all__ = ["ImportPlan", "ImportReport", "new_url", "tag_slug"]

_EXCERPT_MAX = 500
_TITLE_MAX = 300
_TAG_NAME_MAX = 60
_USERNAME_BAD = re.compile(r"[^A-Za-z0-9_.@-]+")
#: Plugin fields an import fills when the site has them (``PostField`` names).
META_TITLE_FIELD = "meta_title"
META_DESCRIPTION_FIELD = "meta_description"
IMAGE_CAPTION_FIELD = "image_caption"


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


def tag_slug(raw_slug: str, name: str = "") -> str:
    """A tag's slug here, from its slug there (or its name)."""
    slug: str = slugify(raw_slug, max_length=TAG_SLUG_MAX_LENGTH) or slugify(
        name, max_length=TAG_SLUG_MAX_LENGTH
    )
    return slug


def _tags(post: SourcePost) -> list[tuple[str, str]]:
    pairs: dict[str, str] = {}
    for name, raw_slug in post.tags:
        slug = tag_slug(raw_slug, name)
        if slug:
            pairs.setdefault(slug, " ".join(name.split())[:_TAG_NAME_MAX])
    return [(name, slug) for slug, name in pairs.items()]


def new_url(kind: str, slug: str) -> str:
    """The address of a post or page of this slug."""
    return f"/{slug}" if kind == "page" else f"/posts/{slug}"


class ImportPlan:
    """The posts and users to add, decided against what the site holds now."""

    def __init__(self, site: Site, document: SourceDocument, report: ImportReport) -> None:
        self.site = site
        self.document = document
        self.report = report
        # Plugin fields by name, with the longest text each takes (None: no limit).
        self.fields = {field.name: field.max_length for field in site.fields}
        #: ``(kind, source id, local id)`` of what this import brings, to remember.
        self.sources: list[tuple[str, str, int]] = []
        #: Each source author's username here (lower-cased: names are case-insensitive).
        self.usernames: dict[str, str] = {}

    async def users(
        self, writer: ImportWriter, known: dict[tuple[str, str], int]
    ) -> dict[str, int]:
        """Each source author's user id here: made anew (no password yet), or the user an
        earlier import made, or the site's user of that name."""
        existing = await writer.users_by_key()
        keys = {user_id: key for key, user_id in existing.items()}
        ids: dict[str, int] = {}
        for user in self.document.users:
            local = known.get(("user", user.source_id))
            if local is not None:
                self.report.already["users"] += 1
                if local in keys:
                    self.usernames[user.login] = keys[local]
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
                self.usernames[user.login] = name.lower()
                self.sources.append(("user", user.source_id, local))
            ids[user.login] = local
        return ids

    async def prepare(self, post: SourcePost, body: str, image: str | None) -> dict[str, Any]:
        """The post's values, checked by the site's rules, its HTML rendered: everything but
        its final slug and author (:meth:`place`). BadExport names a post the rules refuse."""
        excerpt = _trimmed(plain_text(post.excerpt or ""), _EXCERPT_MAX)
        values: dict[str, Any] = {
            "title": _trimmed(post.title, _TITLE_MAX) or "(untitled)",
            "slug": _post_slug(post),
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
            created_at=post.created_at or post.published_at or now,
            updated_at=post.updated_at or post.created_at or post.published_at or now,
        )
        if checked["status"] == "draft":
            checked["published_at"] = None
        elif checked["published_at"] is None:
            checked["published_at"] = checked["created_at"]
        checked["html"] = await render_body(self.site, checked["body"], checked)
        return checked

    def place(
        self, post: SourcePost, values: dict[str, Any], taken: set[str], author: int | None
    ) -> None:
        """Give prepared values a slug no post has (a number added, the change listed) and
        their author's id, under the import's write lock."""
        base = values["slug"]
        # A page's address must not be one the site itself uses (/tags, /search...).
        reserved = self.site.reserved_slugs if post.kind == "page" else frozenset()
        values["slug"] = _free(base, taken, reserved)
        if values["slug"] != base:
            self.report.renamed.append((base, values["slug"]))
        values["author_id"] = author if author is not None and author > 0 else None

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
