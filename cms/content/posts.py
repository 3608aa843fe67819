"""Saving and deleting posts: validation, plugin hooks and rendering in one place,
shared by the admin views and (later) the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from slugify import slugify

from cms.content.events import announce
from cms.content.rendering import render_body
from cms.contracts import DeleteRefused, Post, PostNotFound, User
from cms.contracts.fields import FieldValidationError
from cms.core import hookspecs
from cms.core.site import Site

if TYPE_CHECKING:
    from aiohttp import web


__all__ = ["delete_post", "save_post", "slug_from_title"]

SLUG_MAX_LENGTH = 80


def slug_from_title(title: str) -> str:
    """A URL slug from a title (``post`` when nothing usable remains)."""
    slug: str = slugify(title, max_length=SLUG_MAX_LENGTH, word_boundary=True)
    return slug or "post"


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
) -> Post:
    """Validate ``values`` and create (``post_id`` None) or update a post.

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
    data["html"] = await render_body(site, data["body"], data)
    was_visible = False
    if post_id is not None and _tells_visibility(site):
        before = await site.storage.get_post(post_id)
        was_visible = before is not None and before.is_published
    if post_id is None:
        post = await site.storage.create_post(data, author_id=user.id if user else None)
        created = True
    else:
        post = await site.storage.update_post(
            post_id, data, editor_id=user.id if user else None, expected_version=expected_version
        )
        created = False
    await announce(site, hookspecs.post_saved, post=post, created=created, cms=site)
    if post.is_published and not was_visible:
        await announce(site, hookspecs.post_published, post=post, cms=site)
    elif was_visible and not post.is_published:
        await announce(site, hookspecs.post_unpublished, post=post, cms=site)
    return post


async def delete_post(
    site: Site, post_id: int, *, user: User | None = None, expected_version: int | None = None
) -> Post:
    """Delete a post and tell plugins; raises PostNotFound, VersionConflict, or
    DeleteRefused when a plugin vetoes it (nothing is deleted then)."""
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
    post = await site.storage.delete_post(post_id, expected_version=expected_version)
    await announce(site, hookspecs.post_deleted, post=post, cms=site)
    if post.is_published:
        await announce(site, hookspecs.post_unpublished, post=post, cms=site)
    return post


def _tells_visibility(site: Site) -> bool:
    return site.plugins.implements(hookspecs.post_published) or site.plugins.implements(
        hookspecs.post_unpublished
    )
