"""The media API: ``POST /api/media`` (upload an image) and ``GET /api/media/{id}``.

An upload is one multipart field ``file``, streamed to disk as it arrives (never held in
memory) and refused with 413 past the image handler's ``max_bytes``. The answer is the
media JSON; a post shows the image when its ``image`` is set to the media's ``hash``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import BodyPartReader, web
from pydantic import BaseModel, Field

from cms.contracts import ImageRejected, Media
from cms.web.api.errors import ApiHTTPError
from cms.web.api.views import ApiView, json_response
from cms.web.auth import allowed
from cms.web.images import store_upload
from cms.web.uploads import MALFORMED_MULTIPART, multipart_reader, save_part

__all__ = [
    "MediaItemView",
    "MediaOut",
    "MediaResponse",
    "MediaUploadView",
    "RenditionOut",
    "media_json",
    "media_openapi_paths",
]

#: Room for the multipart framing around the file (boundaries, part headers).
FRAMING_BYTES = 64 * 1024
#: A part other than ``file`` is read at most this far (its value is not used).
_OTHER_PART_BYTES = 64 * 1024
_MAX_ID = 2**31 - 1

ImageFormat = Literal["jpeg", "png", "gif", "webp"]


class RenditionOut(BaseModel):
    """One file of an image: one width in one format."""

    url: str = Field(description="Where browsers fetch it; cached for good (the name changes).")
    width: int
    height: int
    format: ImageFormat
    size: int = Field(description="Bytes.")


class MediaOut(BaseModel):
    """An image of the media library."""

    id: int
    hash: str = Field(
        description="Hex SHA-256 of the uploaded bytes: set a post's image to it to show it."
    )
    original_name: str = Field(description="The uploaded file's name (information only).")
    width: int = Field(description="Upright width of the image, in pixels.")
    height: int = Field(description="Upright height of the image, in pixels.")
    format: ImageFormat = Field(description="Format of the upload.")
    animated: bool
    created_at: datetime
    uploader: str | None = Field(description="Username of whoever uploaded it first.")
    renditions: list[RenditionOut] = Field(
        description="Every width in WebP and in JPEG (PNG for transparency), narrowest first; "
        "metadata (EXIF, GPS, XMP) removed, colours in sRGB."
    )


class MediaResponse(BaseModel):
    """One image."""

    data: MediaOut


def media_json(site: Any, media: Media) -> MediaOut:
    """A media row as the API shows it."""
    store = site.images.store if site.images is not None else None
    renditions = sorted(media.renditions, key=lambda r: (r.width, r.format))
    return MediaOut(
        id=media.id,
        hash=media.content_hash,
        original_name=media.original_name,
        width=media.width,
        height=media.height,
        format=media.format,
        animated=media.animated,
        created_at=media.created_at,
        uploader=media.uploader,
        renditions=[
            RenditionOut(
                url=store.url(r.key) if store is not None else "",
                width=r.width,
                height=r.height,
                format=r.format,
                size=r.size,
            )
            for r in renditions
        ],
    )


class MediaUploadView(ApiView):
    """``POST /api/media``: one image in the multipart field ``file``."""

    #: The CSRF middleware must not read the body (see cms.web.uploads).
    streams_uploads = True

    async def post(self) -> web.Response:
        user = await self.require_caller()
        if not await allowed(self.site, user, "posts.create"):
            raise ApiHTTPError(403, "Your role does not allow uploading images")
        images = self.site.images
        if images is None:
            raise ApiHTTPError(404, "This site takes no uploads: no [images] backend is configured")
        request = self.request
        if request.content_type != "multipart/form-data":
            raise ApiHTTPError(
                415, "Send the image as multipart/form-data, the file in the field named file"
            )
        limit = images.max_bytes
        if request.content_length is not None and request.content_length > limit + FRAMING_BYTES:
            raise ApiHTTPError(413, f"The file is larger than {_size(limit)}; nothing was stored")
        try:
            reader = await multipart_reader(request)
            upload = None
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    await part.release()
                    continue
                if part.name == "file" and part.filename is not None:
                    upload = await save_part(part, images.store, max_bytes=limit)
                    break  # the rest of the body is not needed
                await _skip(part)
        except ImageRejected as error:
            raise ApiHTTPError(error.status, error.message) from None
        except MALFORMED_MULTIPART:  # a body that is not valid multipart
            raise ApiHTTPError(400, "The body is not valid multipart/form-data") from None
        if upload is None:
            raise ApiHTTPError(
                422, "Send the image as a file in the multipart field named file", code="invalid"
            )
        try:
            media = await store_upload(self.site, upload, uploader=user)
        except ImageRejected as error:
            code = "too_large" if error.status == 413 else "invalid_image"
            raise ApiHTTPError(error.status, error.message, code=code) from None
        location = str(request.app.router["api-media-item"].url_for(id=str(media.id)))
        return json_response(
            MediaResponse(data=media_json(self.site, media)),
            status=201,
            headers={"Location": location, "Cache-Control": "no-store"},
        )


class MediaItemView(ApiView):
    """``GET /api/media/{id}``: one image, for signed-in callers."""

    async def get(self) -> web.Response:
        user = await self.require_caller()
        if not await allowed(self.site, user, "admin.access"):
            raise ApiHTTPError(403, "Your role does not allow this")
        media_id = int(self.request.match_info["id"])
        media = await self.site.storage.get_media(media_id) if 0 < media_id <= _MAX_ID else None
        if media is None:
            raise ApiHTTPError(404, "There is no such image")
        return json_response(
            MediaResponse(data=media_json(self.site, media)),
            headers={"Cache-Control": "private, no-cache"},
        )


async def _skip(part: BodyPartReader) -> None:
    read = 0
    while chunk := await part.read_chunk(16 * 1024):
        read += len(chunk)
        if read > _OTHER_PART_BYTES:
            raise ApiHTTPError(413, f"The field {part.name!r} is too large")


def _size(limit: int) -> str:
    megabytes = limit / (1024 * 1024)
    return f"{megabytes:g} MB" if megabytes >= 1 else f"{limit} bytes"


_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}


def _errors(descriptions: dict[int, str]) -> dict[str, Any]:
    return {
        str(status): {"description": text, "content": _ERROR_REF}
        for status, text in descriptions.items()
    }


def media_openapi_paths(media_ref: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI paths of the media API; ``media_ref`` refers to ``MediaResponse``."""
    ok = {"content": {"application/json": {"schema": media_ref}}}
    common = {
        401: "No token, or a token that is unknown, revoked or expired.",
        403: "The caller's role does not allow this.",
        405: "This address does not accept that method.",
        503: "The database cannot be reached right now; retry after Retry-After seconds.",
    }
    return {
        "/api/media": {
            "post": {
                "operationId": "uploadMedia",
                "summary": "Upload an image (JPEG, PNG, GIF or WebP)",
                "security": [{"bearerAuth": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {
                                        "type": "string",
                                        "format": "binary",
                                        "description": "The image; its name must end in "
                                        ".jpg, .jpeg, .png, .gif or .webp, matching its "
                                        "content.",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Stored (or stored already: the same bytes give the "
                        "same image).",
                        "headers": {
                            "Location": {
                                "description": "The image's address in the API.",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        },
                        **ok,
                    },
                    **_errors(
                        {
                            **common,
                            400: "The body is not valid multipart/form-data.",
                            404: "This site takes no uploads.",
                            413: "The file is larger than the site's limit (10 MB by default).",
                            415: "The body is not multipart/form-data.",
                            422: "No file, or not an image the site accepts: another format, "
                            "a name that does not match the content, a damaged file, or "
                            "more pixels than allowed.",
                        }
                    ),
                },
            }
        },
        "/api/media/{id}": {
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": _MAX_ID},
                }
            ],
            "get": {
                "operationId": "getMedia",
                "summary": "One image of the media library",
                "security": [{"bearerAuth": []}],
                "responses": {
                    "200": {"description": "The image.", **ok},
                    **_errors({**common, 404: "No such image."}),
                },
            },
        },
    }
