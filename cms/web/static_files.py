"""Theme static files, minified and compressed once: CSS and JavaScript are minified
(rcssmin, rjsmin: comments and needless spaces out; 28 KiB of the default theme's CSS is
21 KiB), then they and SVG and other text go out gzipped (and brotli-coded when the
``brotli`` package is installed) to clients that take it. Under ``cms serve --reload``
files go out as they are on disk, as a theme author edits them.

Static names carry a hash of their content (``style.3f2a9c1b0e.css``), so a file's bytes
never change under its name: each is read and compressed the first time it is asked for,
then served from memory. Files that are not text (images, fonts) or are too small to gain
go out as they are, by ``FileResponse``.
"""

from __future__ import annotations

import gzip
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import rcssmin
import rjsmin
from aiohttp import web

from cms.web.compression import COMPRESS_MIN_BYTES, add_vary

__all__ = ["STATIC_CACHE_KEY", "CompressedFile", "StaticCache"]

_TEXT_TYPES = frozenset(
    {
        "application/javascript",
        "application/json",
        "application/manifest+json",
        "application/xml",
        "image/svg+xml",
        "text/javascript",
    }
)
#: Together, at most this much is kept in memory per process (theme files are small).
MAX_CACHED_BYTES = 16 * 1024 * 1024


def _brotli() -> ModuleType | None:
    try:
        import brotli  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    module: ModuleType = brotli
    return module


@dataclass(frozen=True)
class CompressedFile:
    """A text file's bytes as they are, gzipped, and brotli-coded (when available)."""

    content_type: str
    plain: bytes
    gzipped: bytes
    brotli: bytes | None

    def response(self, request: web.Request, headers: dict[str, str]) -> web.Response:
        accepted = request.headers.get("Accept-Encoding", "").lower()
        body, coding = self.plain, None
        if self.brotli is not None and "br" in accepted:
            body, coding = self.brotli, "br"
        elif "gzip" in accepted:
            body, coding = self.gzipped, "gzip"
        response = web.Response(body=body, headers=headers)
        response.content_type = self.content_type
        if self.content_type.startswith("text/") or self.content_type in _TEXT_TYPES:
            response.charset = "utf-8"
        if coding is not None:
            response.headers["Content-Encoding"] = coding
        add_vary(response, "Accept-Encoding")
        return response


class StaticCache:
    """Compressed text files by path, made on first use."""

    def __init__(self) -> None:
        self._files: dict[Path, CompressedFile | None] = {}
        self._size = 0
        self._brotli = _brotli()

    def get(self, path: Path) -> CompressedFile | None:
        """The compressed forms of ``path``, or None for a file served as it is."""
        if path in self._files:
            return self._files[path]
        found = self._compress(path)
        if found is not None:
            size = len(found.plain) + len(found.gzipped) + len(found.brotli or b"")
            if self._size + size > MAX_CACHED_BYTES:
                return found  # served compressed, not kept
            self._size += size
        self._files[path] = found
        return found

    def _compress(self, path: Path) -> CompressedFile | None:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if not (content_type.startswith("text/") or content_type in _TEXT_TYPES):
            return None
        plain = _minified(content_type, path.read_bytes())
        if len(plain) < COMPRESS_MIN_BYTES:
            return None
        gzipped = gzip.compress(plain, compresslevel=9, mtime=0)
        coded = self._brotli.compress(plain) if self._brotli is not None else None
        return CompressedFile(content_type, plain, gzipped, coded)


def _minified(content_type: str, content: bytes) -> bytes:
    """CSS and JavaScript without what browsers skip; other files as they are."""
    if content_type == "text/css":
        minified: bytes = rcssmin.cssmin(content)
        return minified
    if content_type in ("text/javascript", "application/javascript"):
        minified = rjsmin.jsmin(content)
        return minified
    return content


STATIC_CACHE_KEY: web.AppKey[StaticCache] = web.AppKey("cms_static_cache")
