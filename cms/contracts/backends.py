"""What a plugin offers through ``register_storage_backends``, ``register_session_stores``,
``register_image_handlers`` and ``register_media_stores``: a named backend, the model of
its options, and a factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from cms.contracts.images import ImageHandler
from cms.contracts.media import MediaStore
from cms.contracts.sessions import SessionStore
from cms.contracts.storage import Storage

if TYPE_CHECKING:
    # For annotations only: the site is what a factory receives.
    from cms.core.site import Site

__all__ = [
    "Backend",
    "ImageHandlerBackend",
    "MediaStoreBackend",
    "SessionStoreBackend",
    "StorageBackend",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Backend(Generic[T]):
    """A backend a plugin offers, chosen by ``name`` in settings (``[storage] backend =
    name``...). ``options`` validates that section's ``options``; ``create(options, site)``
    makes the backend from the validated options."""

    name: str
    options: type[BaseModel]
    create: Callable[[Any, Site], T]
    description: str = ""


#: ``[storage] backend = name``.
StorageBackend = Backend[Storage]
#: ``[sessions] backend = name``.
SessionStoreBackend = Backend[SessionStore]
#: ``[images] backend = name``.
ImageHandlerBackend = Backend[ImageHandler]
#: ``[media] backend = name``.
MediaStoreBackend = Backend[MediaStore]
