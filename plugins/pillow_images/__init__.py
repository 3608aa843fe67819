"""Images on Pillow: ``[images] backend = "pillow"``.

Uploads are checked (format, size, pixels) and turned into renditions at the configured
widths in WebP and JPEG (PNG for transparency) in a pool of worker processes; the files
go to the site's media store (``[media]``) and are served under ``/media/``. See
``docs/images.md``.
"""

from __future__ import annotations

import os
from typing import Any

import click
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cms import hookimpl
from cms.contracts import ImageHandlerBackend

from .handler import PillowImageHandler
from .views import MEDIA_ROUTE, MediaFileView

__all__ = ["PillowImageHandler", "PillowOptions"]

MEGABYTE = 1024 * 1024


def _default_workers() -> int:
    # Half the CPUs (at least one, at most four): the other half keeps serving pages.
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class PillowOptions(BaseModel):
    """``[images] options`` for ``backend = "pillow"``."""

    model_config = ConfigDict(extra="forbid")

    widths: list[int] = Field(
        default_factory=lambda: [320, 800, 1600],
        min_length=1,
        max_length=12,
        description="Rendition widths in pixels (never wider than the upload)",
    )
    max_bytes: int = Field(
        10 * MEGABYTE, ge=1024, le=1024 * MEGABYTE, description="Largest upload (413 past it)"
    )
    max_pixels: int = Field(
        40_000_000,
        ge=1,
        le=1_000_000_000,
        description="Most pixels an upload may have, every frame counted (422 past it)",
    )
    allow_animation: bool = Field(
        False, description="Keep animated GIF/WebP animated (else the first frame is used)"
    )
    quality: int = Field(80, ge=1, le=100, description="WebP and JPEG quality")
    workers: int = Field(
        default_factory=_default_workers, ge=1, le=64, description="Worker processes"
    )
    nice: int = Field(
        10,
        ge=0,
        le=19,
        description="How much lower the workers' priority is (above 0: SCHED_IDLE on Linux)",
    )
    media_dir: str = Field(
        "media",
        min_length=1,
        description="Before [media]: the local media folder ([media] options.dir now wins)",
    )

    @field_validator("widths")
    @classmethod
    def _sensible_widths(cls, value: list[int]) -> list[int]:
        for width in value:
            if not 16 <= width <= 8192:
                raise ValueError(f"{width} is not a width from 16 to 8192")
        if len(set(value)) != len(value):
            raise ValueError("a width is listed twice")
        return sorted(value)


def _create(options: PillowOptions, site: Any) -> PillowImageHandler:
    return PillowImageHandler(
        site.media,
        widths=tuple(options.widths),
        max_bytes=options.max_bytes,
        max_pixels=options.max_pixels,
        allow_animation=options.allow_animation,
        quality=options.quality,
        workers=options.workers,
        nice=options.nice,
    )


@hookimpl
def register_image_handlers() -> list[ImageHandlerBackend]:
    return [
        ImageHandlerBackend(
            "pillow", PillowOptions, _create, "Pillow in worker processes; files in a folder"
        )
    ]


@hookimpl
def register_routes(cms: Any) -> list[web.RouteDef]:
    """``GET /media/...``, when this plugin's handler is the site's."""
    if not isinstance(cms.images, PillowImageHandler):
        return []
    return [web.view(MEDIA_ROUTE, MediaFileView, name="media")]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .commands import images

    cli.add_command(images)
