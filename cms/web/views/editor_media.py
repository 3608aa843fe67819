"""The editor's images: ``POST /admin/media/upload`` stores an image the editor was given
(button, drag and drop, paste) and ``GET /admin/media/choices`` lists the media library for
its picker. JSON both ways, for ``editor-images.js``.

Anyone who may write posts may use them (``posts.create``, as the cover upload): authors
put images in their posts. Unsafe requests carry the session's CSRF token in
``X-CSRF-Token``. Every refusal the views make is JSON ``{"error": {"code", "message"}}``
with a 4xx status, so the script can say what went wrong.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cms.content.image_sets import image_set
from cms.content.rendering import media_markdown
from cms.contracts import MAX_ID, ImageRejected, Media, MediaStore
from cms.web.auth import allowed
from cms.web.error_codes import json_refusal
from cms.web.images import store_upload
from cms.web.uploads import MALFORMED_MULTIPART, read_streamed_form
from cms.web.views.base import BaseView

__all__ = ["CHOICES_PAGE_SIZE", "EditorImageChoicesView", "EditorImageUploadView", "choice_json"]

#: Images per page of the picker.
CHOICES_PAGE_SIZE = 24
#: The picker's thumbnails are at least this wide (the narrowest rendition that is).
_THUMBNAIL_WIDTH = 320


def choice_json(store: MediaStore, media: Media) -> dict[str, Any]:
    """An image of the library as the editor's script takes it."""
    found = image_set(store, media)
    return {
        "id": media.id,
        "hash": media.content_hash,
        "name": media.original_name,
        "width": media.width,
        "height": media.height,
        "thumbnail": found.url(_THUMBNAIL_WIDTH),
        "markdown": media_markdown(media.content_hash, ""),
    }


class EditorImageUploadView(BaseView):
    """``POST /admin/media/upload``: one image in the multipart field ``file``; answers 201
    with the image (``hash``, ``markdown``, ``thumbnail``...). The same bytes twice give
    the same image."""

    #: The file streams to disk; the CSRF token comes in the X-CSRF-Token header.
    streams_uploads = True

    async def post(self) -> web.Response:
        user = await self.user()
        if user is None:
            return json_refusal(401, "Sign in to upload images.")
        if not await allowed(self.site, user, "posts.create"):
            return json_refusal(403, "Your role does not allow uploading images.")
        images = self.site.images
        if images is None:
            return json_refusal(
                404, "This site takes no uploads: no [images] backend is configured."
            )
        if self.request.content_type != "multipart/form-data":
            return json_refusal(415, "Send the image as multipart/form-data, in the field file.")
        try:
            form = await read_streamed_form(
                self.request,
                store=images.store,
                file_fields=frozenset({"file"}),
                max_file_bytes=images.max_bytes,
                max_field_bytes=1024,
            )
        except ImageRejected as error:
            return json_refusal(error.status, error.message + "; nothing was stored.")
        except MALFORMED_MULTIPART:
            return json_refusal(400, "The upload could not be read; send it again.")
        except web.HTTPException as error:
            return json_refusal(error.status, error.reason)
        upload = form.files.get("file")
        if upload is None:
            return json_refusal(422, "Send an image file in the multipart field file.")
        try:
            media = await store_upload(self.site, upload, uploader=user)
        except ImageRejected as error:
            return json_refusal(error.status, error.message + ".")
        return web.json_response(
            choice_json(images.store, media), status=201, headers={"Cache-Control": "no-store"}
        )


class EditorImageChoicesView(BaseView):
    """``GET /admin/media/choices``: the media library, newest first, a page at a time:
    ``{"images": [...], "next": <after id or null>}``; ``?after=<id>`` for the next page."""

    async def get(self) -> web.Response:
        user = await self.user()
        if user is None:
            return json_refusal(401, "Sign in to choose images.")
        if not await allowed(self.site, user, "posts.create"):
            return json_refusal(403, "Your role does not allow choosing images.")
        images = self.site.images
        if images is None:
            return web.json_response(
                {"images": [], "next": None}, headers={"Cache-Control": "no-store"}
            )
        after: int | None = None
        if value := self.request.query.get("after"):
            if not value.isdigit() or not 0 < int(value) <= MAX_ID:
                return json_refusal(400, "The page position (after) must be an image id.")
            after = int(value)
        found = await self.site.storage.list_media(
            after_id=after, limit=CHOICES_PAGE_SIZE + 1, newest_first=True
        )
        next_after = None
        if len(found) > CHOICES_PAGE_SIZE:
            found = found[:CHOICES_PAGE_SIZE]
            next_after = found[-1].id
        return web.json_response(
            {"images": [choice_json(images.store, media) for media in found], "next": next_after},
            headers={"Cache-Control": "no-store"},
        )
