"""Reading an export safely: the gzip, the tar members, the manifest and checksums, unpacked into a
folder."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from cms.content.export.records import (
    _HEX64,
    _MEDIA_KEY,
    _NO_NUL,
    _SHA256,
    FILES,
    FORMAT,
    IMAGE_PATTERN,
    MANIFEST,
    MEDIA_DIR,
    MEDIA_KEY_PATTERN,
    TOKEN_PREFIX_PATTERN,
    VERSION,
    ExportError,
)
from cms.contracts.fields import (
    MEDIA_HASH_PATTERN,
    NO_CONTROL_CHARS,
    SLUG_PATTERN,
)
from cms.core.site import Site

# -- reading ---------------------------------------------------------------------------------


@dataclass
class Archive:
    """An export unpacked into a folder, its manifest read and its checksums verified."""

    source: Path
    folder: Path
    manifest: dict[str, Any]
    counts: dict[str, int]
    #: The site :func:`check_archive` checked the records for (and rendered the posts of).
    checked_for: Site | None = field(default=None, compare=False)

    def lines(self, kind: str) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of one record file (none when the file is absent)."""
        if not (self.folder / FILES[kind]).exists():
            return
        with (self.folder / FILES[kind]).open("rb") as content:
            yield from enumerate(content, start=1)


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: Literal["cms-export"]
    version: Literal[1, 2, 3]
    created_at: AwareDatetime
    counts: dict[str, Annotated[int, Field(ge=0)]]
    checksums: dict[str, Annotated[str, Field(pattern=_SHA256.pattern)]]
    fields: list[dict[str, str]] = Field(default_factory=list)


def read_archive(source: Path, folder: Path) -> Archive:
    """Unpack ``source`` into ``folder`` and check it whole; raise ExportError."""
    _check_gzip(source)
    digests: dict[str, str] = {}
    try:
        with tarfile.open(source, mode="r:gz") as archive:
            for member in archive:
                name = _member_name(member)
                if member.isdir() and (name == MEDIA_DIR or name.startswith(MEDIA_DIR + "/")):
                    continue
                if not member.isfile():
                    raise ExportError(f"member {member.name!r} is not a regular file")
                if name in digests:
                    raise ExportError(f"member {name!r} appears twice")
                digests[name] = _unpack(archive, member, folder / name)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ExportError(f"the file is truncated or damaged ({error})") from None
    if MANIFEST not in digests:
        raise ExportError(f"{MANIFEST} is missing: this is not a cms export")
    manifest = _read_manifest(folder / MANIFEST)
    expected = manifest.checksums
    for name, checksum in expected.items():
        if name not in digests:
            raise ExportError(f"{name} is missing from the archive (truncated?)")
        if checksum != f"sha256:{digests[name]}":
            raise ExportError(f"{name} does not match its checksum: the file is damaged")
    unexpected = sorted(set(digests) - set(expected) - {MANIFEST})
    if unexpected:
        raise ExportError(f"the manifest does not list {', '.join(unexpected)}")
    unknown = sorted(set(manifest.counts) - set(FILES))
    if unknown:
        raise ExportError(
            f"the export holds record kinds this cms does not know: {', '.join(unknown)}"
        )
    for kind, name in FILES.items():
        if manifest.counts.get(kind, 0) and name not in expected:
            raise ExportError(f"the manifest counts {kind} but lists no {name}")
    raw = json.loads((folder / MANIFEST).read_bytes())
    return Archive(source, folder, raw, {kind: manifest.counts.get(kind, 0) for kind in FILES})


def _check_gzip(source: Path) -> None:
    # Read the whole stream first: gzip checks its CRC and length only at the end, and a
    # truncated file fails here before anything else is looked at.
    try:
        with gzip.open(source, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except FileNotFoundError:
        raise ExportError(f"{source} does not exist") from None
    except IsADirectoryError:
        raise ExportError(f"{source} is a folder, not an export file") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ExportError(f"the file is truncated or damaged ({error})") from None


def _member_name(member: tarfile.TarInfo) -> str:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or "\\" in member.name or not path.parts:
        raise ExportError(f"member {member.name!r} has an unsafe path")
    name = str(path)
    media = path.parts[0] == MEDIA_DIR
    if media and not member.isdir() and not _MEDIA_KEY.match(name[len(MEDIA_DIR) + 1 :]):
        raise ExportError(
            f"member {member.name!r} is not a media file name (folders and names of letters, "
            "digits, _ and -, ending in .jpg, .jpeg, .png, .gif or .webp)"
        )
    if not (media or name in FILES.values() or name == MANIFEST):
        raise ExportError(f"member {member.name!r} does not belong in a cms export")
    return name


def _unpack(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    content = archive.extractfile(member)
    if content is None:
        raise ExportError(f"member {member.name!r} cannot be read")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # "x": a name that differs only in case, on a filesystem that ignores case, must
        # not replace a member whose checksum was taken already.
        out = target.open("xb")
    except (FileExistsError, NotADirectoryError):
        raise ExportError(f"member {member.name!r} clashes with another member") from None
    digest = hashlib.sha256()
    with content, out:
        while chunk := content.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _read_manifest(path: Path) -> _Manifest:
    try:
        raw = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as error:
        raise ExportError(f"{MANIFEST} is not valid JSON ({error})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ExportError(f"{MANIFEST} does not describe a {FORMAT!r} file")
    version = raw.get("version")
    if isinstance(version, int) and version > VERSION:
        raise ExportError(
            f"the export is format version {version}, made by a newer cms; "
            f"this cms reads version {VERSION}: upgrade cms first"
        )
    try:
        return _Manifest.model_validate(raw)
    except ValidationError as error:
        raise ExportError(f"{MANIFEST} is not valid: {_first_error(error)}") from None


def _first_error(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = _explain(first)
    return f"{where}: {message}" if where else message


#: What a pattern allows, in words (pydantic would show the regular expression).
_PATTERN_HELP = {
    SLUG_PATTERN: "use lowercase letters, digits and single hyphens, like my-first-post",
    NO_CONTROL_CHARS: "control characters (such as line breaks) are not allowed",
    _NO_NUL: "NUL characters are not allowed",
    IMAGE_PATTERN: "use the content hash (64 hex digits) of an image in this export, an "
    "http:// or https:// address, or a path on this site (/...), without spaces or quotes",
    MEDIA_KEY_PATTERN: "use folders and a file name of letters, digits, _ and -, ending in "
    ".jpg, .jpeg, .png, .gif or .webp",
    TOKEN_PREFIX_PATTERN: "use letters, digits, _ and -",
    _HEX64: "use 64 hex digits (0-9, a-f)",
    MEDIA_HASH_PATTERN: "use 64 hex digits (0-9, a-f)",
    _SHA256.pattern: "use sha256: and 64 hex digits",
}


def _explain(item: Any) -> str:
    context = item.get("ctx") or {}
    if item["type"] == "string_pattern_mismatch" and context.get("pattern") in _PATTERN_HELP:
        return _PATTERN_HELP[context["pattern"]]
    if item["type"] == "value_error" and "error" in context:
        return str(context["error"])  # our own validators' messages, without "Value error, "
    return str(item["msg"])


def _post_label(line: bytes) -> str:
    """`` (post 12, slug 'hello')``: which post a line of posts.jsonl is, as far as it says."""
    try:
        raw = json.loads(line)
    except ValueError:
        return ""
    if not isinstance(raw, dict):
        return ""
    parts = [
        f"{name} {_short(raw[key])}"
        for key, name in (("id", "post"), ("slug", "slug"))
        if raw.get(key) is not None
    ]
    return f" ({', '.join(parts)})" if parts else ""


def _short(value: Any) -> str:
    # repr: one line, whatever the value holds.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
