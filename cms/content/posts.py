"""Saving and deleting posts: validation, plugin hooks and rendering in one place,
shared by the admin views and (later) the API."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from slugify import slugify

from cms.content.rendering import render_body
from cms.contracts import Post, User
from cms.contracts.fields import FieldValidationError
from cms.core.plugin_host import PluginError
from cms.core.site import Site

log = logging.getLogger("cms")

__all__ = ["delete_post", "save_post", "slug_from_title"]

SLUG_MAX_LENGTH = 80


def slug_from_title(title: str) -> str:
    """A URL slug from a title (``post`` when nothing usable remains)."""
    slug: str = slugify(title, max_length=SLUG_MAX_LENGTH, word_boundary=True)
    return slug or "post"


async def save_post(
    site: Site,
    # The web request (plugins' prepare_post receives it), or None from the command line;
    # the content layer only passes it on.
    request: object | None,
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
    if site.plugins.implements("prepare_post"):
        await site.plugins.call("prepare_post", post=data, request=request, cms=site)
    data["slug"] = data.get("slug") or slug_from_title(data["title"])
    data["html"] = await render_body(site, data["body"], data)
    if post_id is None:
        post = await site.storage.create_post(data, author_id=user.id if user else None)
        created = True
    else:
        post = await site.storage.update_post(
            post_id, data, editor_id=user.id if user else None, expected_version=expected_version
        )
        created = False
    await _announce(site, "post_saved", post=post, created=created, cms=site)
    return post


async def delete_post(site: Site, post_id: int, *, expected_version: int | None = None) -> Post:
    """Delete a post and tell plugins; raises PostNotFound or VersionConflict."""
    post = await site.storage.delete_post(post_id, expected_version=expected_version)
    await _announce(site, "post_deleted", post=post, cms=site)
    return post


async def _announce(site: Site, hook: str, **kwargs: Any) -> None:
    """Tell plugins about a change that has happened already. A plugin that fails is
    logged by name; the change stands, so the user is not told it failed and tempted to
    repeat it."""
    try:
        await site.plugins.call(hook, **kwargs)
    except PluginError:
        log.exception("%s: a plugin failed after the change was stored", hook)
