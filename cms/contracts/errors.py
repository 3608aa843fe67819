"""The exceptions that cross the contracts; each message is for people."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cms.contracts.records import Media, Post

__all__ = [
    "DeleteRefused",
    "DependencyUnavailable",
    "ImageRejected",
    "MediaInUse",
    "PostNotFound",
    "SchemaOutOfDate",
    "SiteNotEmpty",
    "UsernameTaken",
    "VersionConflict",
]


class MediaInUse(Exception):
    """An image of the media library cannot be deleted: posts still show it.

    ``posts`` lists them as ``(post id, title)``, by id.
    """

    def __init__(self, media: Media, posts: list[tuple[int, str]]) -> None:
        super().__init__(f"media {media.id} is the image of {len(posts)} post(s)")
        self.media = media
        self.posts = posts


class DeleteRefused(Exception):
    """A plugin refused a delete (``veto_post_delete``); ``message`` says why, for people."""

    def __init__(self, message: str, *, plugin: str) -> None:
        super().__init__(message)
        self.message = message
        self.plugin = plugin


class PostNotFound(LookupError):
    """The post does not exist (any more)."""


class VersionConflict(Exception):
    """The post changed since the version the caller based its edit on."""

    def __init__(self, current: Post) -> None:
        super().__init__(f"post {current.id} is at version {current.version}")
        self.current = current


class UsernameTaken(ValueError):
    """Another user already has this name."""


class DependencyUnavailable(Exception):
    """A backend (database, session store, media store) cannot be reached right now.

    ``reason`` is for the log (it may name hosts); ``message``, when given, is what the
    visitor's 503 says."""

    def __init__(self, dependency: str, reason: str = "", *, message: str = "") -> None:
        super().__init__(f"{dependency} is unavailable" + (f": {reason}" if reason else ""))
        self.dependency = dependency
        self.reason = reason
        self.message = message


class ImageRejected(ValueError):
    """An upload cms does not take: ``status`` 413 (too large) or 422 (not an image it
    accepts); the message says why, for people. Nothing of it is stored."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class SchemaOutOfDate(Exception):
    """Start-up found schema changes it does not make by itself; ``cms migrate`` does."""

    def __init__(self, message: str, changes: list[str]) -> None:
        super().__init__(message)
        self.changes = changes


class SiteNotEmpty(Exception):
    """An import needs a site without users, posts or tokens."""

    def __init__(self, counts: dict[str, int]) -> None:
        held = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
        super().__init__(f"the site is not empty ({held})")
        self.counts = counts
