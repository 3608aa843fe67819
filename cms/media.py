"""Kept for plugins written against cms 0.1: the code lives in :mod:`cms.web.images`."""

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
    "all_media",
    "delete_media",
    "image_set",
    "image_sets",
    "image_srcset",
    "image_url",
    "picture",
    "store_upload",
]
