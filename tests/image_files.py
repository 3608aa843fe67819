"""Image files for the upload tests, made in the test with Pillow (or by hand, for files
Pillow refuses to make, like a decompression bomb)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageCms

#: GPS coordinates written into the test photos (Berlin); none may survive processing.
GPS_IFD = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)}
XMP_MARKER = b"http://ns.adobe.com/xap/1.0/"
RED = (220, 20, 20)
BLUE = (20, 20, 220)


def rotated_photo(width: int = 4000, height: int = 3000, *, quality: int = 85) -> bytes:
    """A JPEG stored sideways with EXIF orientation 6 (turn 90° clockwise to view), GPS
    tags, an XMP packet and an ICC profile. Stored: left half red, right half blue; so
    upright, the top half is red and the bottom half blue, and it is ``height`` wide."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Test Camera Maker"
    exif[0x8825] = GPS_IFD
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (
        b'<?xpacket begin=""?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif, icc_profile=icc, xmp=xmp)
    return out.getvalue()


def photo(width: int, height: int, *, seed: int = 0, quality: int = 85) -> bytes:
    """A plain JPEG with some structure (``seed`` makes each one different)."""
    image = Image.new("RGB", (width, height), (seed * 37 % 256, 120, 200))
    step = max(1, width // 16)
    for x in range(0, width, step * 2):
        image.paste((255, (x + seed) % 256, 0), (x, 0, min(width, x + step), height))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(width: int, height: int, mode: str = "RGB", color: object = (0, 128, 0)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color).save(out, "PNG")  # type: ignore[arg-type]
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def sparse_png(width: int, height: int) -> bytes:
    """A 1-bit black PNG written row by row: a 20000 x 20000 one is about 50 KB on disk
    and 400 million pixels decoded (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def animated_gif(width: int, height: int, frames: int) -> bytes:
    images = [
        Image.new("RGB", (width, height), (index * 50 % 256, 90, 255 - index * 30 % 256))
        for index in range(frames)
    ]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return out.getvalue()


def transparent_png(width: int, height: int) -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, width // 2, height))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"
SVG_DRAWING = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)
EPS_FILE = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
