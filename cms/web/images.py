"""The media library in the core: storing an upload through the site's image handler,
and the template helpers themes show images with. A default plugin of cms.

A post's ``image`` holds the content hash of an image of the media library. Before a page
renders, :func:`extra_template_vars` loads the media rows of the posts in its context
(one query), so :func:`picture`, :func:`image_srcset` and :func:`image_url` need no
database while the template runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jinja2
from markupsafe import Markup

from cms.content.events import announce
from cms.content.image_sets import ImageSet, image_set, image_sets
from cms.content.media_files import all_media
from cms.contracts import ImageHandler, Media, MediaStore, Post, User
from cms.core import hookspecs
from cms.core.hookspecs import hookimpl
from cms.core.site import Site
from cms.web.uploads import UploadedFile

__all__ = [
    "IMAGE_SETS_VAR",
    "ImageSet",
    "all_media",
    "delete_media",
    "image_set",
    "image_sets",
    "image_srcset",
    "image_url",
    "picture",
    "store_upload",
]

#: The template variable that holds the preloaded images, by content hash.
IMAGE_SETS_VAR = "cms_images"
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9-]*$")
# Attributes picture() writes itself.
_OWN_ATTRIBUTES = frozenset({"src", "srcset", "sizes", "width", "height", "alt"})


async def store_upload(site: Site, upload: UploadedFile, *, uploader: User | None) -> Media:
    """Turn a saved upload into a media row: the image handler checks it and stores its
    files, then the row is written. Raise ImageRejected (nothing stored then) or
    LookupError when the site has no image handler.

    The temporary upload is removed whatever happens; the files of a failed upload too.
    """
    images = image_handler(site)
    try:
        stored = await images.ingest(upload.path, upload.original_name)
    finally:
        await upload.remove()
    try:
        media = await site.storage.create_media(
            stored,
            original_name=upload.original_name,
            uploader_id=uploader.id if uploader is not None else None,
        )
    except BaseException:
        await _delete(images.store, stored.added)
        raise
    # The same bytes were uploaded before: the row is theirs, so what this upload added
    # and that row does not use goes again.
    kept = set(media.keys)
    await _delete(images.store, [key for key in stored.added if key not in kept])
    await announce(site, hookspecs.media_saved, media=media, cms=site)
    return media


async def delete_media(site: Site, media_id: int) -> Media | None:
    """Delete an image of the media library that no post uses: the row, then the files no
    other image shares (renditions are named after their bytes, so two uploads that differ
    only in metadata share them). None when there is no such image; MediaInUse (nothing
    changed) when posts use it. Without an image handler only the row goes."""
    deleted = await site.storage.delete_media(media_id)
    if deleted is None:
        return None
    if site.images is not None:
        shared = {key for media in await all_media(site.storage) for key in media.keys}
        await _delete(site.images.store, [key for key in deleted.keys if key not in shared])
    await announce(site, hookspecs.media_deleted, media=deleted, cms=site)
    return deleted


def image_handler(site: Site) -> ImageHandler:
    """The site's image handler; LookupError when ``[images]`` names none."""
    if site.images is None:
        raise LookupError("this site takes no uploads: no [images] backend is configured")
    return site.images


async def _delete(store: MediaStore, keys: Iterable[str]) -> None:
    for key in keys:
        await store.delete(key)


# -- templates -------------------------------------------------------------------------------


def _posts_in(context: Mapping[str, Any]) -> Iterator[Post]:
    for value in context.values():
        if isinstance(value, Post):
            yield value
        elif isinstance(value, list | tuple):
            yield from (item for item in value if isinstance(item, Post))


@hookimpl(trylast=True)
async def extra_template_vars(context: Mapping[str, Any], cms: Site) -> dict[str, Any] | None:
    """Load the images of the posts a page shows (and its author's avatar), in one query."""
    hashes = [post.image for post in _posts_in(context)]
    author = context.get("author")
    if isinstance(author, User):
        hashes.append(author.avatar)
    found = await image_sets(cms, hashes)
    return {IMAGE_SETS_VAR: found} if found else None


def _lookup(context: Any, image: Any) -> ImageSet | None:
    if not isinstance(image, str) or not image:
        return None
    sets = context.get(IMAGE_SETS_VAR) or {}
    found = sets.get(image)
    return found if isinstance(found, ImageSet) else None


def _is_address(image: Any) -> bool:
    # An address rather than a media hash: an absolute URL or a path on this site.
    return isinstance(image, str) and (
        image.startswith(("https://", "http://")) or (image.startswith("/") and "//" not in image)
    )


def _attributes(extra: Mapping[str, Any]) -> Markup:
    parts = Markup("")
    for name, value in extra.items():
        name = name.rstrip("_").replace("_", "-")  # class_ -> class
        if value is None or value is False or not _ATTRIBUTE.match(name):
            continue
        if name in _OWN_ATTRIBUTES:
            continue
        if value is True:
            parts += Markup(" {}").format(name)
        else:
            parts += Markup(' {}="{}"').format(name, value)
    return parts


@jinja2.pass_context
def picture(
    context: Any, image: Any, sizes: str = "100vw", alt: str = "", **attributes: Any
) -> Markup:
    """A responsive ``<picture>`` for a post's image: WebP renditions for the browsers that
    take them, JPEG (PNG, GIF) for the others, both as ``srcset`` with ``sizes``; ``width``
    and ``height`` keep the layout steady while it loads. Extra keyword arguments become
    attributes of the ``<img>`` (``class``, ``loading="eager"``, ``fetchpriority``...);
    ``loading="lazy"`` and ``decoding="async"`` are the defaults. Empty for no image.
    """
    attributes.setdefault("loading", "lazy")
    attributes.setdefault("decoding", "async")
    extra = _attributes(attributes)
    found = _lookup(context, image)
    if found is None:
        if _is_address(image):
            return Markup('<img src="{}" alt="{}"{}>').format(image, alt, extra)
        return Markup("")
    fallback = found.fallback_format
    if fallback is None:
        return Markup("")
    widest = found.renditions[fallback][-1]
    sources = Markup("")
    if found.renditions.get("webp"):
        sources = Markup('<source type="image/webp" srcset="{}" sizes="{}">').format(
            found.srcset("webp"), sizes
        )
    return Markup(
        '<picture>{}<img src="{}" srcset="{}" sizes="{}" width="{}" height="{}" alt="{}"{}>'
        "</picture>"
    ).format(
        sources,
        found.url(800, fallback),
        found.srcset(fallback),
        sizes,
        widest[1],
        widest[2],
        alt,
        extra,
    )


@jinja2.pass_context
def image_srcset(context: Any, image: Any, format: str | None = None) -> str:
    """The ``srcset`` of a post's image in one format (JPEG/PNG by default; ``"webp"``),
    for themes that write their own markup. Empty for no image."""
    found = _lookup(context, image)
    return found.srcset(format) if found is not None else ""


@jinja2.pass_context
def image_url(context: Any, image: Any, width: int | None = None, format: str | None = None) -> str:
    """The URL of one rendition of a post's image: the narrowest at least ``width`` wide
    (the widest without), in ``format`` (JPEG/PNG by default). Empty for no image."""
    found = _lookup(context, image)
    if found is not None:
        return found.url(width, format)
    return image if _is_address(image) else ""


@hookimpl(trylast=True)
def prepare_jinja2_environment(env: jinja2.Environment) -> None:
    """Give themes ``picture()``, ``image_srcset()`` and ``image_url()``."""
    env.globals.update(picture=picture, image_srcset=image_srcset, image_url=image_url)
