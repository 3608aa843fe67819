"""Media files in a folder of this machine: ``[media] backend = "local"`` (the default).

Right for one machine (``cms serve --workers N`` included) and for several that share
the folder over a network filesystem; several hosts without one use ``s3``. See
``docs/media.md``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cms import hookimpl
from cms.contracts import MediaStoreBackend

from .store import LocalMediaStore

__all__ = ["LocalMediaOptions", "LocalMediaStore"]


class LocalMediaOptions(BaseModel):
    """``[media] options`` for ``backend = "local"``."""

    model_config = ConfigDict(extra="forbid")

    dir: str | None = Field(
        None,
        min_length=1,
        description="Folder, relative to settings (default: [images] options.media_dir)",
    )


def _create(options: LocalMediaOptions, site: Any) -> LocalMediaStore:
    folder = options.dir
    if folder is None:
        # Sites from before [media] named the folder among the image handler's options.
        images = site.settings.images
        folder = str((images.options if images is not None else {}).get("media_dir", "media"))
    return LocalMediaStore(site.settings.resolve_path(folder))


@hookimpl
def register_media_stores() -> list[MediaStoreBackend]:
    return [MediaStoreBackend("local", LocalMediaOptions, _create, "A folder of this machine")]
