"""Multipart forms read as a stream: text fields with a size limit, files straight to disk.

``request.post()`` holds a whole form in memory (files too) before a view sees it. Views
that take uploads set ``streams_uploads = True``; for them the CSRF middleware reads only
the first part, which must be the ``csrf_token`` (the hidden input comes first in the
form, so browsers send it first), and the view streams the rest: each file goes to a
temporary path of the media store while a counter stops it at the size limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict

from cms.contracts import ImageHandler, ImageRejected, MediaStore

__all__ = [
    "CHUNK_SIZE",
    "MALFORMED_MULTIPART",
    "StreamedForm",
    "UploadedFile",
    "leading_csrf_token",
    "megabytes",
    "multipart_reader",
    "read_page_form",
    "read_streamed_form",
    "save_part",
    "streams_uploads",
]

CHUNK_SIZE = 64 * 1024
#: The CSRF token is 43 characters; anything much longer is not one.
_MAX_TOKEN_BYTES = 256

#: What reading a body that is not valid multipart raises (no boundary, bad part headers).
MALFORMED_MULTIPART: tuple[type[Exception], ...] = (ValueError, HttpProcessingError)

_READER_KEY: web.RequestKey[MultipartReader] = web.RequestKey("cms_multipart_reader")


@dataclass
class UploadedFile:
    """A file part saved at a temporary path: its size, the SHA-256 of its bytes, and the
    name the sender gave it (information only)."""

    path: Path
    original_name: str
    size: int
    sha256: str

    async def remove(self) -> None:
        """Delete the temporary file (done with it, or the form failed)."""
        await asyncio.to_thread(self.path.unlink, True)


@dataclass
class StreamedForm:
    """A multipart form as read by :func:`read_streamed_form`."""

    fields: MultiDict[str] = field(default_factory=MultiDict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    async def remove_files(self) -> None:
        """Delete every saved file."""
        for upload in self.files.values():
            await upload.remove()


def streams_uploads(request: web.Request) -> bool:
    """Whether the matched view reads multipart forms as a stream (``streams_uploads``)."""
    return bool(getattr(request.match_info.handler, "streams_uploads", False))


async def leading_csrf_token(request: web.Request) -> str | None:
    """The ``csrf_token`` when it is the first part of the multipart body, else None.

    The reader is kept, so the view goes on with the next part (see
    :func:`multipart_reader`). A body that is not multipart at all is a 400.
    """
    try:
        reader = await request.multipart()
        request[_READER_KEY] = reader
        part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != "csrf_token" or part.filename:
            return None
        raw = await _read_limited(part, _MAX_TOKEN_BYTES)
    except MALFORMED_MULTIPART:  # not multipart: no boundary, no first part, bad headers
        raise web.HTTPBadRequest(reason="The form could not be read; send it again") from None
    if raw is None:
        return None
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return None


async def multipart_reader(request: web.Request) -> MultipartReader:
    """The request's multipart reader: the one the CSRF check began, or a new one."""
    if _READER_KEY in request:
        return request[_READER_KEY]
    reader = await request.multipart()
    request[_READER_KEY] = reader
    return reader


async def _read_limited(part: BodyPartReader, limit: int) -> bytes | None:
    """A part's bytes, or None past ``limit`` (what is left of it stays unread)."""
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK_SIZE):
        data.extend(chunk)
        if len(data) > limit:
            return None
    return bytes(data)


async def save_part(
    part: BodyPartReader, store: MediaStore, *, max_bytes: int, what: str = "The file"
) -> UploadedFile:
    """Stream a file part to a fresh temporary path of ``store``, counting its bytes.

    Past ``max_bytes`` the file is removed and :class:`ImageRejected` (413) raised at
    once: the rest of the upload is never read.
    """
    path = await asyncio.to_thread(store.temporary_path, ".upload")
    descriptor = await asyncio.to_thread(os.open, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(descriptor, "wb") as out:
            while chunk := await part.read_chunk(CHUNK_SIZE):
                size += len(chunk)
                if size > max_bytes:
                    raise ImageRejected(
                        f"{what} is larger than {megabytes(max_bytes)}; nothing was stored",
                        status=413,
                    )
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    return UploadedFile(path, _clean_name(part.filename or ""), size, digest.hexdigest())


async def read_streamed_form(
    request: web.Request,
    *,
    store: MediaStore | None,
    file_fields: frozenset[str],
    max_file_bytes: int,
    max_field_bytes: int,
) -> StreamedForm:
    """Read a multipart form part by part: text fields (each at most ``max_field_bytes``,
    else 413) into ``fields``, non-empty files of ``file_fields`` to temporary paths of
    ``store``. Other file parts and empty file inputs are skipped. On any error the saved
    files are removed again."""
    reader = await multipart_reader(request)
    form = StreamedForm()
    try:
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader) or part.name is None:
                await part.release()
                continue
            if part.filename is not None:
                if part.name in file_fields and store is not None and part.name not in form.files:
                    upload = await save_part(part, store, max_bytes=max_file_bytes)
                    if upload.size:
                        form.files[part.name] = upload
                    else:  # an empty file input: no file chosen
                        await upload.remove()
                else:
                    await part.release()
                continue
            raw = await _read_limited(part, max_field_bytes)
            if raw is None:
                raise web.HTTPRequestEntityTooLarge(
                    max_size=max_field_bytes,
                    actual_size=max_field_bytes + 1,
                    reason=f"The field {part.name[:40]!r} is too long",
                )
            form.fields.add(part.name, raw.decode("utf-8", errors="replace"))
    except BaseException:
        await form.remove_files()
        raise
    return form


def _clean_name(name: str) -> str:
    # Only ever shown as information: drop folders some browsers send, control characters,
    # and keep it short.
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(char for char in base if char.isprintable())[:255]


def megabytes(value: int) -> str:
    """A byte limit as people read it: ``10 MB``, or ``512 bytes`` below one megabyte."""
    amount = value / (1024 * 1024)
    return f"{amount:g} MB" if amount >= 1 else f"{value} bytes"


async def read_page_form(
    request: web.Request,
    images: ImageHandler | None,
    *,
    file_field: str,
    max_field_bytes: int,
    what: str,
) -> StreamedForm:
    """:func:`read_streamed_form` for a form of the site's pages with one image field:
    an image past the handler's limit is a themed 413 naming ``what`` and the limit, a body
    that is not valid multipart a 400 (nothing is kept of either)."""
    limit = images.max_bytes if images is not None else 0
    try:
        return await read_streamed_form(
            request,
            store=images.store if images is not None else None,
            file_fields=frozenset({file_field}),
            max_file_bytes=limit,
            max_field_bytes=max_field_bytes,
        )
    except ImageRejected:
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit,
            actual_size=limit + 1,
            reason=f"{what} is larger than {megabytes(limit)}; nothing was saved. "
            "Go back and choose a smaller one.",
        ) from None
    except MALFORMED_MULTIPART:
        raise web.HTTPBadRequest(reason="The form could not be read; send it again") from None
