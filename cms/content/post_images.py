"""Posts whose text shows images of the media library (``![alt](media:<hash>)``): their
HTML holds the images' rendition URLs, so when renditions change it is rendered again."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cms.content.rendering import media_hashes, render_body
from cms.contracts import Post, PostNotFound, VersionConflict
from cms.core.site import Site

__all__ = ["rerender_posts_using"]


def _render_context(post: Post) -> dict[str, Any]:
    # What saving passes to render_body (and its plugins), as far as a stored post says.
    return {
        **post.extra,
        "title": post.title,
        "slug": post.slug,
        "kind": post.kind,
        "status": post.status,
        "body": post.body,
        "image": post.image,
        "featured": post.featured,
        "custom_excerpt": post.custom_excerpt,
    }


async def rerender_posts_using(site: Site, content_hashes: Iterable[str]) -> int:
    """Render again the posts whose text names any of these images and store the HTML
    where it changed, as a new version without a revision (the text is the same): after
    ``cms images rebuild`` the old renditions' files are gone. Return how many changed.

    A post saved meanwhile is left alone: that save rendered it with the new renditions.
    """
    wanted = set(content_hashes)
    usage = await site.storage.media_usage(sorted(wanted))
    changed = 0
    for post_id in sorted({post_id for posts in usage.values() for post_id, _ in posts}):
        post = await site.storage.get_post(post_id)
        if post is None or not media_hashes(post.body) & wanted:
            continue  # only a cover: covers are looked up when pages render
        html = await render_body(site, post.body, _render_context(post))
        if html == post.html:
            continue
        # Not an edit: whoever last edited the post still did (the admin's list says so).
        editor = await site.storage.get_user_by_username(post.editor) if post.editor else None
        try:
            await site.storage.update_post(
                post.id,
                {"html": html},
                editor_id=editor.id if editor is not None else None,
                expected_version=post.version,
            )
        except (PostNotFound, VersionConflict):
            continue
        changed += 1
    return changed
