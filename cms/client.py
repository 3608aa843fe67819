"""Kept for scripts written against cms 0.1: the REST client lives in :mod:`cms.cli.rest_client`."""

from cms.cli.rest_client import (
    ApiError,
    Client,
    Page,
    Post,
    PostChanged,
    RemotePost,
)

__all__ = ["ApiError", "Client", "Page", "Post", "PostChanged", "RemotePost"]
