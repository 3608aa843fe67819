"""What runs in the worker processes: checking an upload and making its files with Pillow.

Nothing here touches the event loop, the database or the media store: a job reads one
file and writes the new files into one folder, and answers with a plain dict (picklable,
so a refusal crosses the process boundary as data, not as an exception).

Checks, in order: the name's extension; the format sniffed from the first bytes (JPEG,
PNG, GIF, WebP; SVG, EPS, HTML and everything else refused); Pillow opening it as that
format only; the pixel budget, every frame counted, with Pillow's decompression-bomb
warning raised as an error; a full ``load()``, so truncated files fail here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import multiprocessing.connection
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageOps, ImageSequence

__all__ = [
    "EXTENSIONS",
    "JobConfig",
    "describe",
    "initialize",
    "process_source",
    "process_upload",
    "sniff",
]

#: Extensions an upload's name may end in, and the format each promises.
EXTENSIONS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".gif": "gif", ".webp": "webp"}
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}
_NAMES = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WebP"}
#: File extension of each format the renditions are written in.
SUFFIXES = {"jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp"}
DAMAGED = "The image is damaged or truncated and cannot be read"


@dataclass(frozen=True)
class JobConfig:
    """What a job needs to know of the plugin's options."""

    widths: tuple[int, ...]
    max_pixels: int
    allow_animation: bool
    quality: int


def initialize(nice: int) -> None:
    """Start-up of a worker process: a lower priority than the web process (``nice``;
    on Linux also ``SCHED_IDLE`` unless ``nice`` is 0), so pages stay fast while images
    are made; and an end with the web process, however it ends."""
    if nice:
        with contextlib.suppress(OSError):  # not allowed here: the normal priority, then
            os.nice(nice)
        # Linux: run only when the CPU has nothing else to do; a request waking the web
        # process takes the CPU at once instead of after the worker's time slice.
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    parent = multiprocessing.parent_process()
    if parent is not None:
        # A worker holds both ends of its own job queue, so it would never notice a web
        # process killed with SIGKILL: it watches the parent's sentinel instead.
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    Image.init()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def sniff(head: bytes) -> str | None:
    """The accepted format the first bytes of a file announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def describe(head: bytes) -> str:
    """What a refused file seems to be, for the message."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        return "an EPS/PostScript file"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "an SVG drawing"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script")):
        return "an HTML page"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF image"
    if head.startswith(b"BM"):
        return "a BMP image"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIC/AVIF image"
    return "not an image in one of these formats"


def _refuse(message: str, status: int = 422) -> dict[str, Any]:
    return {"ok": False, "status": status, "message": message}


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        while chunk := content.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def process_upload(
    source: str, original_name: str, out_dir: str, config: JobConfig
) -> dict[str, Any]:
    """Check an uploaded file and write its source copy and renditions into ``out_dir``."""
    path = Path(source)
    suffix = Path(original_name).suffix.lower()
    claimed = EXTENSIONS.get(suffix)
    if claimed is None:
        shown = f" ({suffix})" if suffix else ""
        return _refuse(
            f"Name the file after what it is: .jpg, .jpeg, .png, .gif or .webp{shown}. "
            "Only JPEG, PNG, GIF and WebP images are accepted"
        )
    with path.open("rb") as content:
        head = content.read(64)
    found = sniff(head)
    if found is None:
        return _refuse(
            f"Only JPEG, PNG, GIF and WebP images are accepted; this file is {describe(head)}"
        )
    if found != claimed:
        return _refuse(
            f"The file is a {_NAMES[found]} image but its name ends in {suffix}; "
            f"rename it to .{SUFFIXES[found]}"
        )
    result = _process(path, found, Path(out_dir), config, make_source=True)
    if result.get("ok"):
        result["content_hash"] = _hash_file(path)
        result["format"] = found
    return result


def process_source(source: str, kind: str, out_dir: str, config: JobConfig) -> dict[str, Any]:
    """Make renditions again from a stored source copy (``cms images rebuild``)."""
    return _process(Path(source), kind, Path(out_dir), config, make_source=False)


def _process(
    path: Path, kind: str, out_dir: Path, config: JobConfig, *, make_source: bool
) -> dict[str, Any]:
    Image.MAX_IMAGE_PIXELS = config.max_pixels
    with warnings.catch_warnings():
        # Pillow warns past MAX_IMAGE_PIXELS (and raises past twice that): refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=[_PILLOW_FORMATS[kind]]) as image:
                frames = int(getattr(image, "n_frames", 1))
                refusal = _check_pixels(image.width, image.height, frames, config.max_pixels)
                if refusal is not None:
                    return refusal
                image.seek(0)
                image.load()
                animated = frames > 1 and config.allow_animation and kind in ("gif", "webp")
                if animated:
                    return _write_animated(image, kind, out_dir, config, make_source=make_source)
                return _write_still(image, out_dir, config, make_source=make_source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return _refuse(
                "The image has too many pixels to be processed safely "
                f"(at most {config.max_pixels:,} are allowed)"
            )
        except MemoryError:
            return _refuse("The image is too large to be processed")
        except OSError as error:
            if error.errno is not None:
                raise  # the disk (full, gone), not the image: not the uploader's fault
            return _refuse(DAMAGED)
        except Exception:  # every other decoding failure of a damaged file (SyntaxError...)
            return _refuse(DAMAGED)


def _check_pixels(width: int, height: int, frames: int, budget: int) -> dict[str, Any] | None:
    total = width * height * frames
    if total <= budget:
        return None
    in_frames = f" in {frames} frames" if frames > 1 else ""
    return _refuse(
        f"The image is too large: {width} x {height} pixels{in_frames} ({total:,} in all); "
        f"at most {budget:,} pixels are allowed"
    )


def _has_alpha(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return True
    return "transparency" in image.info


def _to_srgb(image: Image.Image, alpha: bool) -> Image.Image:
    """The image in 8-bit sRGB (RGB, or RGBA with transparency), its ICC profile applied
    rather than kept: renditions carry no profile, and untagged means sRGB."""
    target = "RGBA" if alpha else "RGB"
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            color = image.convert("RGB") if image.mode == "RGBA" else image
            converted = ImageCms.profileToProfile(color, profile, srgb, outputMode="RGB")
            if converted is not None:
                if alpha:
                    converted.putalpha(image.convert("RGBA").getchannel("A"))
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken profile: use the pixels as they are
    return image.convert(target)


def _clean(image: Image.Image) -> Image.Image:
    # Pillow carries info (EXIF, XMP, ICC, comments) into some encoders: none of it goes out.
    image.info = {}
    return image


def _targets(width: int, widths: tuple[int, ...]) -> list[int]:
    """The rendition widths for an image ``width`` wide: the configured ones below it, and
    its own width when it is not wider than the widest configured (never upscaled)."""
    chosen = sorted({w for w in widths if w < width})
    if width <= max(widths):
        chosen.append(width)
    return chosen


def _scaled(width: int, height: int, target: int) -> tuple[int, int]:
    return target, max(1, round(height * target / width))


def _save(
    image: Image.Image, out_dir: Path, kind: str, config: JobConfig, prefix: str = "r-"
) -> dict[str, Any]:
    buffer = io.BytesIO()
    options: dict[str, Any] = {}
    if kind == "webp":
        options = {"quality": config.quality, "method": 4}
    elif kind == "jpeg":
        options = {"quality": config.quality, "optimize": True, "progressive": True}
    elif kind == "png":
        options = {"optimize": False, "compress_level": 6}
    _clean(image).save(buffer, _PILLOW_FORMATS[kind], **options)
    return _write(buffer.getvalue(), out_dir, kind, prefix, image.width, image.height)


def _write(
    data: bytes, out_dir: Path, kind: str, prefix: str, width: int, height: int
) -> dict[str, Any]:
    """Write encoded ``data`` to a file named by its hash; what the parent needs to know of it."""
    digest = hashlib.sha256(data).hexdigest()
    # The prefix keeps a source apart from a rendition with the very same bytes.
    target = out_dir / f"{prefix}{digest}.{SUFFIXES[kind]}"
    target.write_bytes(data)
    return {
        "path": str(target),
        "sha256": digest,
        "format": kind,
        "width": width,
        "height": height,
        "size": len(data),
    }


def _write_still(
    image: Image.Image, out_dir: Path, config: JobConfig, *, make_source: bool
) -> dict[str, Any]:
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block: the pixels are fine, the orientation unknown
        upright = image.copy()
    alpha = _has_alpha(upright)
    pixels = _to_srgb(upright, alpha)
    fallback = "png" if alpha else "jpeg"
    source = None
    if make_source:
        source_config = JobConfig(config.widths, config.max_pixels, False, 95)
        source = _save(pixels, out_dir, fallback, source_config, prefix="s-")
    renditions = []
    for target in _targets(pixels.width, config.widths):
        size = _scaled(pixels.width, pixels.height, target)
        resized = (
            pixels
            if size == pixels.size
            else pixels.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        )
        renditions.append(_save(resized, out_dir, "webp", config))
        renditions.append(_save(resized, out_dir, fallback, config))
    return {
        "ok": True,
        "width": pixels.width,
        "height": pixels.height,
        "animated": False,
        "source": source,
        "renditions": renditions,
    }


def _write_animated(
    image: Image.Image, kind: str, out_dir: Path, config: JobConfig, *, make_source: bool
) -> dict[str, Any]:
    frames: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(image):
        frame.load()  # every frame decoded: a truncated later frame fails here
        durations.append(int(frame.info.get("duration", 100)) or 100)
        frames.append(_clean(frame.convert("RGBA")))
    width, height = frames[0].size
    loop = int(image.info.get("loop", 0))
    source = None
    if make_source:
        source = _save_animation(frames, durations, loop, out_dir, "webp", 90, prefix="s-")
    renditions = []
    for target in _targets(width, config.widths):
        size = _scaled(width, height, target)
        resized = [
            f if size == f.size else f.resize(size, Image.Resampling.LANCZOS) for f in frames
        ]
        renditions.append(
            _save_animation(resized, durations, loop, out_dir, "webp", config.quality)
        )
        renditions.append(_save_animation(resized, durations, loop, out_dir, "gif", config.quality))
    return {
        "ok": True,
        "width": width,
        "height": height,
        "animated": True,
        "source": source,
        "renditions": renditions,
    }


def _save_animation(
    frames: list[Image.Image],
    durations: list[int],
    loop: int,
    out_dir: Path,
    kind: str,
    quality: int,
    prefix: str = "r-",
) -> dict[str, Any]:
    buffer = io.BytesIO()
    options: dict[str, Any] = {"quality": quality, "method": 4} if kind == "webp" else {}
    frames[0].save(
        buffer,
        _PILLOW_FORMATS[kind],
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=loop,
        **options,
    )
    return _write(buffer.getvalue(), out_dir, kind, prefix, frames[0].width, frames[0].height)
