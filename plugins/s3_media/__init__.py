"""Media files in an S3-compatible object store: ``[media] backend = "s3"``.

For several hosts behind a load balancer: every host reads and writes the same bucket, so
an image uploaded on one is served by all. Credentials come from the environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``...) or the usual AWS
files, never from settings.toml. See ``docs/media.md``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cms import hookimpl
from cms.contracts import MediaStoreBackend

if TYPE_CHECKING:
    from .store import S3MediaStore

__all__ = ["S3MediaOptions", "S3MediaStore"]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^(?:[A-Za-z0-9_-]+/)*$")


class S3MediaOptions(BaseModel):
    """``[media] options`` for ``backend = "s3"``."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(description="Bucket name (it must exist)")
    endpoint_url: str | None = Field(
        None, description="For S3-compatible stores (MinIO, R2...): their address"
    )
    region: str | None = Field(None, description="Region (default: from the AWS config)")
    prefix: str = Field("", description='Folder for cms\'s files in the bucket ("site/")')
    public_base_url: str | None = Field(
        None, description="Where browsers fetch files directly (a CDN or public bucket URL)"
    )
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description='"path" for most self-hosted stores'
    )
    timeout: float = Field(5.0, gt=0, le=120, description="Seconds to connect")
    scratch_dir: str = Field(
        "media-scratch", min_length=1, description="Local folder for uploads in progress"
    )

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not _BUCKET.match(value):
            raise ValueError("3 to 63 lowercase letters, digits, dots or hyphens")
        return value

    @field_validator("prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError('folders ending in "/" (letters, digits, "-", "_"), or ""')
        return value

    @field_validator("endpoint_url", "public_base_url")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("an http:// or https:// address")
        return value


def __getattr__(name: str) -> Any:
    # The store (aiobotocore, botocore: a quarter of a second) is imported when a site
    # uses it, not by every ``cms`` command that loads the plugins.
    if name == "S3MediaStore":
        from .store import S3MediaStore

        return S3MediaStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _create(options: S3MediaOptions, site: Any) -> S3MediaStore:
    from .store import S3MediaStore

    return S3MediaStore(
        bucket=options.bucket,
        scratch=site.settings.resolve_path(options.scratch_dir),
        endpoint_url=options.endpoint_url,
        region=options.region,
        prefix=options.prefix,
        public_base_url=options.public_base_url,
        addressing_style=options.addressing_style,
        timeout=options.timeout,
    )


@hookimpl
def register_media_stores() -> list[MediaStoreBackend]:
    return [
        MediaStoreBackend("s3", S3MediaOptions, _create, "An S3-compatible bucket (aiobotocore)")
    ]
