"""The media library's helpers for plugins: templates' image helpers (from
:mod:`cms.web.images`), and :class:`ScratchFolder` for media stores."""

from cms.content.post_images import rerender_posts_using
from cms.core.scratch import ScratchFolder
from cms.web.images import (
    IMAGE_SETS_VAR,
    ImageSet,
    all_media,
    delete_media,
    image_set,
    image_sets,
    image_srcset,
    image_url,
    picture,
    store_upload,
)

__all__ = [
    "IMAGE_SETS_VAR",
    "ImageSet",
    "ScratchFolder",
    "all_media",
    "delete_media",
    "image_set",
    "image_sets",
    "image_srcset",
    "image_url",
    "picture",
    "rerender_posts_using",
    "store_upload",
]
