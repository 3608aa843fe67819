"""Saving and deleting posts: validation, plugin hooks and rendering in one place,
shared by the admin views and (later) the API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from slugify import slugify

from cms.content.events import announce
from cms.content.rendering import render_body
from cms.contracts import (
    DeleteRefused,
    Kind,
    Post,
    PostNotFound,
    RevisionKind,
    RevisionNote,
    User,
)
from cms.contracts.fields import FieldValidationError
from cms.core import hookspecs
from cms.core.site import Site

if TYPE_CHECKING:
    from aiohttp import web


__all__ = [
    "announce_due_publications",
    "delete_post",
    "empty_expired_trash",
    "restore_from_trash",
    "save_post",
    "slug_from_title",
    "tag_pairs",
]

SLUG_MAX_LENGTH = 80
TAG_SLUG_MAX_LENGTH = 60


def slug_from_title(title: str) -> str:
    """A URL slug from a title (``post`` when nothing usable remains)."""
    slug: str = slugify(title, max_length=SLUG_MAX_LENGTH, word_boundary=True)
    return slug or "post"


def tag_pairs(names: Iterable[str]) -> list[tuple[str, str]]:
    """Tag names as typed, as ``(name, slug)`` pairs: spaces tidied, one per slug (the
    first spelling wins), in order. Raises FieldValidationError for a name with no letter
    or digit (it would have no address)."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in names:
        name = " ".join(raw.split())
        if not name:
            continue
        slug = slugify(name, max_length=TAG_SLUG_MAX_LENGTH, word_boundary=True)
        if not slug:
            raise FieldValidationError(
                {"tags": f"The tag {name!r} needs a letter or a digit (it names its address)."}
            )
        if slug not in seen:
            seen.add(slug)
            pairs.append((name, slug))
    return pairs


def _publication_time(site: Site, data: dict[str, Any]) -> None:
    """Read ``published_at`` in the site's time zone when it has no offset, and turn status
    ``scheduled`` into what storage keeps: ``published`` with a time to come."""
    when = data.get("published_at")
    if isinstance(when, datetime) and when.tzinfo is None:
        data["published_at"] = when = when.replace(tzinfo=site.settings.site.zone)
    if data.get("status") == "scheduled":
        if not isinstance(when, datetime) or when <= datetime.now(UTC):
            raise FieldValidationError(
                {"published_at": "Give a date and time to come to schedule the post."}
            )
        data["status"] = "published"


async def save_post(
    site: Site,
    # The web request (plugins' prepare_post receives it), or None from the command line;
    # the content layer only passes it on (aiohttp is imported for the annotation only).
    request: web.Request | None,
    values: Mapping[str, Any],
    *,
    user: User | None,
    post_id: int | None = None,
    expected_version: int | None = None,
    kind: Kind | None = None,
    revision: RevisionKind = "save",
) -> Post:
    """Validate ``values`` and create (``post_id`` None) or update a post, or a page with
    ``kind="page"`` (a new post is a post unless told; an update keeps its kind). The
    result is kept as a revision of ``revision`` kind (``[revisions] keep`` bounds them).

    Raises FieldValidationError (field -> message), PostNotFound or VersionConflict.
    """
    try:
        validated = site.post_model.model_validate(dict(values))
    except ValidationError as error:
        raise FieldValidationError.from_pydantic(error) from None
    data: dict[str, Any] = validated.model_dump()
    if data.get("image") and not await site.storage.find_media([data["image"]]):
        raise FieldValidationError(
            {"image": "There is no uploaded image with this hash; upload the image first."}
        )
    if site.plugins.implements(hookspecs.prepare_post):
        await site.plugins.call(hookspecs.prepare_post, post=data, request=request, cms=site)
    data["slug"] = data.get("slug") or slug_from_title(data["title"])
    before: Post | None = None
    if post_id is not None and (kind is None or _tells_visibility(site)):
        before = await site.storage.get_post(post_id)
    if kind is None:
        kind = before.kind if before is not None else "post"
    data["kind"] = kind
    if kind == "page" and data["slug"] in site.reserved_slugs:
        raise FieldValidationError(
            {
                "slug": f"/{data['slug']} is an address the site itself uses; "
                "choose another slug for this page."
            }
        )
    if data.get("tags") is not None:
        data["tags"] = tag_pairs(data["tags"])
    if "custom_excerpt" in data:
        data["custom_excerpt"] = (data["custom_excerpt"] or "").strip() or None
    if (
        data.get("status") == "published"
        and data.get("published_at") is None
        and before is not None
        and before.published_at is not None
        and before.published_at > datetime.now(UTC)
    ):
        # Published without a time, where a time to come was set: publish now.
        data["published_at"] = datetime.now(UTC)
    _publication_time(site, data)
    data["html"] = await render_body(site, data["body"], data)
    was_visible = before is not None and before.is_published
    note = RevisionNote(revision, keep=site.settings.revisions.keep)
    if post_id is None:
        post = await site.storage.create_post(
            data, author_id=user.id if user else None, revision=note
        )
        created = True
    else:
        post = await site.storage.update_post(
            post_id,
            data,
            editor_id=user.id if user else None,
            expected_version=expected_version,
            revision=note,
        )
        created = False
    await announce(site, hookspecs.post_saved, post=post, created=created, cms=site)
    if post.is_published and not was_visible:
        await announce(site, hookspecs.post_published, post=post, cms=site)
    elif was_visible and not post.is_published:
        await announce(site, hookspecs.post_unpublished, post=post, cms=site)
    return post


async def announce_due_publications(site: Site) -> list[Post]:
    """Announce (``post_published``) the scheduled posts whose time has come, each once
    across every process and host: storage hands a due post to one claimer only."""
    posts = await site.storage.claim_due_publications()
    for post in posts:
        await announce(site, hookspecs.post_published, post=post, cms=site)
    return posts


async def delete_post(
    site: Site, post_id: int, *, user: User | None = None, expected_version: int | None = None
) -> Post:
    """Delete a post (it goes to the trash, restorable for ``[trash] days``) and tell
    plugins; raises PostNotFound, VersionConflict, or DeleteRefused when a plugin vetoes it
    (nothing is deleted then)."""
    if site.plugins.implements(hookspecs.veto_post_delete):
        post = await site.storage.get_post(post_id)
        if post is None:
            raise PostNotFound(post_id)
        vetoes = await site.plugins.call_named(
            hookspecs.veto_post_delete, post=post, user=user, cms=site
        )
        if vetoes:
            plugin, message = vetoes[0]
            raise DeleteRefused(str(message), plugin=plugin)
    post = await site.storage.trash_post(
        post_id, expected_version=expected_version, user_id=user.id if user else None
    )
    await announce(site, hookspecs.post_deleted, post=post, cms=site)
    if post.is_published:
        await announce(site, hookspecs.post_unpublished, post=post, cms=site)
    return post


async def restore_from_trash(site: Site, trash_id: int) -> Post:
    """Bring a post back from the trash and tell plugins (``post_saved`` as a new post, and
    ``post_published`` when it is visible); PostNotFound when the entry is gone."""
    post = await site.storage.restore_trashed(trash_id)
    await announce(site, hookspecs.post_saved, post=post, created=True, cms=site)
    if post.is_published:
        await announce(site, hookspecs.post_published, post=post, cms=site)
    return post


async def empty_expired_trash(site: Site) -> int:
    """Delete for good what was trashed more than ``[trash] days`` ago."""
    before = datetime.now(UTC) - timedelta(days=site.settings.trash.days)
    return await site.storage.empty_trash(before=before)


def _tells_visibility(site: Site) -> bool:
    return site.plugins.implements(hookspecs.post_published) or site.plugins.implements(
        hookspecs.post_unpublished
    )
