"""Kept for plugins written against cms 0.1: the code lives in :mod:`cms.web.views.base`."""

from cms.web.views.base import (
    BaseView,
    decode_cursor,
    encode_cursor,
)

__all__ = ["BaseView", "decode_cursor", "encode_cursor"]
