"""The admin's media library: every uploaded image, which posts use it, upload and delete.

Editors and administrators only (``media.manage``): the library shows which posts use
each image, drafts of other people's included, and deleting is for the whole site.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cms.contracts import MAX_ID, ImageRejected, Media, MediaInUse
from cms.web.images import IMAGE_SETS_VAR, delete_media, image_set, store_upload
from cms.web.uploads import megabytes, read_page_form
from cms.web.views.base import BaseView

__all__ = ["MEDIA_PAGE_SIZE", "MediaDeleteView", "MediaLibraryView"]

MEDIA_PAGE_SIZE = 40
_NOTICES = {
    "deleted": "The image and its files were deleted.",
    "uploaded": "The image was added to the library.",
}


class MediaLibraryView(BaseView):
    """``GET /admin/media``: the images, newest first, a page at a time (keyset on the id);
    ``POST`` uploads one (multipart field ``file``, the CSRF token first)."""

    permission = "media.manage"
    uses_forms = True
    streams_uploads = True

    async def get(self) -> web.Response:
        return await self.page(after=_after_id(self.request.query.get("after")))

    async def post(self) -> web.Response:
        user = await self.authorize("media.manage")
        images = self.site.images
        if images is None:
            return await self.page(
                error="This site takes no uploads: no [images] backend is configured.", status=400
            )
        if self.request.content_type != "multipart/form-data":
            return await self.page(error="Choose an image file to upload.", status=400)
        form = await read_page_form(
            self.request, images, file_field="file", max_field_bytes=1024, what="The image"
        )
        upload = form.files.get("file")
        if upload is None:
            return await self.page(error="Choose an image file to upload.", status=422)
        try:
            await store_upload(self.site, upload, uploader=user)
        except ImageRejected as error:
            return await self.page(error=error.message + ".", status=error.status)
        url = self.request.app.router["admin-media"].url_for().with_query(notice="uploaded")
        raise web.HTTPSeeOther(url)

    async def page(
        self,
        *,
        after: int | None = None,
        error: str | None = None,
        in_use: MediaInUse | None = None,
        status: int = 200,
    ) -> web.Response:
        """The library page from ``after`` on, with an error or a refused delete on top."""
        storage = self.site.storage
        found = await storage.list_media(
            after_id=after, limit=MEDIA_PAGE_SIZE + 1, newest_first=True
        )
        next_url = None
        if len(found) > MEDIA_PAGE_SIZE:
            found = found[:MEDIA_PAGE_SIZE]
            next_url = str(self.request.url.relative().with_query(after=str(found[-1].id)))
        usage = await storage.media_usage([media.content_hash for media in found])
        images = self.site.images
        sets = (
            {media.content_hash: image_set(images.store, media) for media in found}
            if images is not None
            else {}
        )
        context: dict[str, Any] = {
            "items": [_item(media, usage.get(media.content_hash, [])) for media in found],
            "next_url": next_url,
            "first_page": after is None,
            "notice": _NOTICES.get(self.request.query.get("notice", "")),
            "error": error,
            "in_use": in_use,
            "uploads": images is not None,
            "image_limit": megabytes(images.max_bytes) if images is not None else None,
            IMAGE_SETS_VAR: sets,
        }
        return await self.render("admin/media.html", context, status=status)


class MediaDeleteView(BaseView):
    """``POST /admin/media/{id}/delete``: the row and its files, unless a post uses it
    (then a 409 naming the posts, and nothing changes). No ``get``: a GET is 405."""

    permission = "media.manage"
    uses_forms = True

    async def post(self) -> web.Response:
        await self.authorize("media.manage")
        media_id = self.id_param("image")
        try:
            deleted = await delete_media(self.site, media_id)
        except MediaInUse as refused:
            library = MediaLibraryView(self.request)
            return await library.page(in_use=refused, status=409)
        if deleted is None:
            raise web.HTTPNotFound(reason="There is no such image; it may have been deleted")
        url = self.request.app.router["admin-media"].url_for().with_query(notice="deleted")
        raise web.HTTPSeeOther(url)


def _item(media: Media, used_by: list[tuple[int, str]]) -> dict[str, Any]:
    return {
        "media": media,
        "used_by": used_by,
        "files": len(media.keys),
        "bytes": sum(rendition.size for rendition in media.renditions),
    }


def _after_id(value: str | None) -> int | None:
    """The page position from the query string; a damaged one is a 400, never a 500."""
    if not value:
        return None
    try:
        after = int(value)
    except ValueError:
        after = 0
    if not 0 < after <= MAX_ID:
        raise web.HTTPBadRequest(reason="That page link is damaged; start from the first page")
    return after
