"""The export format: a whole site in one ``.tar.gz`` (format ``cms-export``, version 1).

The archive holds ``manifest.json`` first, then one JSON Lines file per record kind
(``users.jsonl``, ``posts.jsonl``, ``tokens.jsonl``, ``media.jsonl``, ``settings.jsonl``)
and the media files under ``media/``. The manifest names the format and its version, counts
the records of each kind and gives the SHA-256 of every other member. docs/storage.md is
the specification.

Writing reads one consistent snapshot through ``Storage.exporting``; reading checks the
archive, the manifest, the checksums and every record (plugin fields included) before
anything is written through ``Storage.importing``, in one transaction.

An archive is trusted like a database backup for what it is (users, password hashes,
tokens), never for what would reach pages unchecked: every record is held to the rules the
site applies when it saves one, and a post's ``html`` (which themes show as it is) is made
again from its ``body`` by this site's renderer and sanitizer rather than read.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    create_model,
)

from cms import __version__
from cms.content.rendering import render_body
from cms.content.users import check_username
from cms.contracts import MAX_ID, RECORD_KINDS, MediaStore, RecordReader, Role, SiteNotEmpty
from cms.contracts.fields import (
    MEDIA_HASH_PATTERN,
    NO_CONTROL_CHARS,
    SLUG_PATTERN,
    PostBody,
    PostField,
    PostSlug,
    PostStatus,
    PostTitle,
)
from cms.core.site import Site

__all__ = [
    "FORMAT",
    "VERSION",
    "ExportError",
    "ExportSummary",
    "Progress",
    "check_archive",
    "export_site",
    "import_site",
    "load_archive",
    "read_archive",
]

FORMAT = "cms-export"
VERSION = 1
MANIFEST = "manifest.json"
MEDIA_DIR = "media"
FILES = {kind: f"{kind}.jsonl" for kind in RECORD_KINDS}
BATCH_SIZE = 500
#: At most this many record errors are listed; the rest are counted.
MAX_ERRORS = 20
_NO_NUL = r"^[^\x00]*$"
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX64 = r"^[0-9a-f]{64}$"
#: Where import puts the posts with their html made again (beside the unpacked members).
_RENDERED_POSTS = ".rendered-posts.jsonl"

#: ``progress(label, total)`` gives a function that advances a progress bar by n.
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


class ExportError(Exception):
    """The file is not an export this cms can read; the message says why, for people."""


@contextmanager
def _no_progress(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
    yield lambda _n: None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Moment = Annotated[AwareDatetime, AfterValidator(_utc)]


def _text(max_length: int | None = None, min_length: int = 0, pattern: str = _NO_NUL) -> Any:
    return Annotated[str, Field(min_length=min_length, max_length=max_length, pattern=pattern)]


def _username(value: str) -> str:
    if problem := check_username(value):
        raise ValueError(problem)
    return value


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserRecord(_Record):
    """A line of ``users.jsonl``: the user with its Argon2 password hash and role."""

    id: Id
    # The rules of cms users create and the admin pages.
    username: Annotated[str, AfterValidator(_username)]
    role: Role
    password_hash: _text(255, 1)  # type: ignore[valid-type]
    is_active: bool
    session_generation: Annotated[int, Field(ge=0, le=MAX_ID)]
    created_at: Moment


class TokenRecord(_Record):
    """A line of ``tokens.jsonl``: an API token by the SHA-256 digest of its secret (the
    secret itself is never stored, so exporting the digest gives no usable token)."""

    id: Id
    user_id: Id
    token_hash: Annotated[str, Field(pattern=_HEX64)]
    prefix: _text(16, 1, TOKEN_PREFIX_PATTERN)  # type: ignore[valid-type]
    label: _text(100, 0, NO_CONTROL_CHARS)  # type: ignore[valid-type]
    created_at: Moment
    expires_at: Moment | None = None
    last_used_at: Moment | None = None
    revoked_at: Moment | None = None


#: What a token's ``prefix`` (the start of its secret, shown to tell tokens apart) is made of.
TOKEN_PREFIX_PATTERN = r"^[A-Za-z0-9_-]+$"
#: A media store key: folders and a file name with an image extension, nothing that could
#: leave the media folder (no ``..``, no absolute path, no hidden name) or be served as
#: anything but an image.
MEDIA_KEY_PATTERN = r"^(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.(?:jpg|jpeg|png|gif|webp)$"
_MEDIA_KEY = re.compile(MEDIA_KEY_PATTERN)
MediaKey = Annotated[str, Field(min_length=3, max_length=300, pattern=MEDIA_KEY_PATTERN)]
_Dimension = Annotated[int, Field(ge=1, le=1_000_000)]
_ImageFormat = Literal["jpeg", "png", "gif", "webp"]


class RenditionRecord(_Record):
    """One file of a media record: ``key`` in the media store, ``media/<key>`` here."""

    key: MediaKey
    width: _Dimension
    height: _Dimension
    format: _ImageFormat
    size: Annotated[int, Field(ge=0)]


class MediaRecord(_Record):
    """A line of ``media.jsonl``: an image of the media library. Its files (``source`` and
    every rendition's ``key``) are in the archive as ``media/<key>``, each with its checksum
    in the manifest."""

    id: Id
    content_hash: Annotated[str, Field(pattern=_HEX64)]
    original_name: _text(255)  # type: ignore[valid-type]
    width: _Dimension
    height: _Dimension
    format: _ImageFormat
    animated: bool = False
    source: MediaKey
    renditions: list[RenditionRecord]
    created_at: Moment
    uploader_id: Id | None = None

    def files(self) -> list[str]:
        """The keys of every file of the record: its source, then its renditions."""
        return [self.source, *(rendition.key for rendition in self.renditions)]


class SettingRecord(_Record):
    """A line of ``settings.jsonl`` (reserved: no site setting lives in the database yet)."""

    key: _text(200, 1)  # type: ignore[valid-type]
    value: JsonValue


# What an address may hold: no space, control character, quote, angle bracket or backslash.
_URL_CHAR = r"""[^\x00-\x20\x7f"'<>\\]"""
_PATH_CHAR = r"""[^\x00-\x20\x7f"'<>\\/]"""
#: A post's ``image`` in an export: a media content hash (checked against the export's
#: media), or an address themes show as a plain ``<img>`` (docs/images.md): an absolute
#: http(s) URL, or a path on this site (no ``//`` in it).
IMAGE_PATTERN = (
    rf"^(?:[0-9a-f]{{64}}|https?://{_URL_CHAR}+|/(?:{_PATH_CHAR}+(?:/{_PATH_CHAR}+)*/?)?)$"
)

#: The core columns of a post: the site's own rules (cms.contracts.fields) where a post is saved.
_CORE_POST_FIELDS: dict[str, Any] = {
    "id": (Id, ...),
    "slug": (PostSlug, ...),
    "title": (PostTitle, ...),
    "body": (PostBody, ...),
    # Exported for readers of the archive; import makes it again from body.
    "html": (str, ...),
    "status": (PostStatus, ...),
    "published_at": (Moment | None, None),
    "created_at": (Moment, ...),
    "updated_at": (Moment, ...),
    "author_id": (Id | None, None),
    "editor_id": (Id | None, None),
    "version": (Annotated[int, Field(ge=1, le=MAX_ID)], ...),
    "image": (Annotated[str, Field(max_length=500, pattern=IMAGE_PATTERN)] | None, None),
}


def post_record_model(fields: list[PostField]) -> type[BaseModel]:
    """The model of a line of ``posts.jsonl``: core columns plus these plugin fields.

    Plugin fields are validated by their own rules but may be null even when required:
    posts written before the plugin was installed have no value.
    """
    extra: dict[str, Any] = {}
    for post_field in fields:
        extra[post_field.name] = (post_field.annotation() | None, None)
    model: type[BaseModel] = create_model(
        "PostRecord", __base__=_Record, **_CORE_POST_FIELDS, **extra
    )
    return model


def _record_models(site: Site) -> dict[str, type[BaseModel]]:
    return {
        "users": UserRecord,
        "posts": post_record_model(site.fields),
        "tokens": TokenRecord,
        "media": MediaRecord,
        "settings": SettingRecord,
    }


def _field_type(post_field: PostField) -> str:
    return "text" if post_field.type.__name__ == "Text" else post_field.type.__name__


@dataclass
class ExportSummary:
    """What an export or import moved."""

    path: Path
    counts: dict[str, int]
    manifest: dict[str, Any] = field(default_factory=dict)
    #: Stored records that break the site's rules (exported as stored; import refuses them).
    problems: list[str] = field(default_factory=list)


# -- writing ---------------------------------------------------------------------------------


class _JsonLinesWriter:
    """Writes validated records as JSON Lines and hashes the bytes as they go."""

    def __init__(self, path: Path, model: type[BaseModel]) -> None:
        self.path = path
        self.model = model
        self.digest = hashlib.sha256()
        self.count = 0
        #: Stored rows that break today's rules: exported as stored, and named.
        self.problems: list[str] = []
        self._file: IO[bytes] = path.open("wb")

    def write(self, rows: list[dict[str, Any]]) -> None:
        lines = []
        for row in rows:
            try:
                line = self.model.model_validate(row).model_dump_json()
            except ValidationError as error:
                # A backup is never refused: the row goes out as stored (import will
                # refuse it until it is fixed), and the export says which one it was.
                self.problems.append(
                    f"{self.path.name}: stored record id {row.get('id')}: {_first_error(error)}"
                )
                line = json.dumps(row, default=_stored_value, ensure_ascii=False)
            lines.append(line.encode("utf-8") + b"\n")
        data = b"".join(lines)
        self._file.write(data)
        self.digest.update(data)
        self.count += len(rows)

    def close(self) -> None:
        self._file.close()


def _stored_value(value: object) -> object:
    """JSON for a stored value the record model could not take (times as ISO 8601 UTC)."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


async def export_site(
    site: Site, target: Path, *, progress: Progress = _no_progress
) -> ExportSummary:
    """Write the whole site to ``target`` (a .tar.gz); it appears only when complete."""
    models = _record_models(site)
    target = await asyncio.to_thread(target.resolve)
    with tempfile.TemporaryDirectory(prefix=".cms-export-", dir=target.parent) as tmp:
        folder = Path(tmp)
        writers = {kind: _JsonLinesWriter(folder / FILES[kind], models[kind]) for kind in FILES}
        try:
            async with site.storage.exporting() as reader:
                await _copy_records(reader, writers, progress)
        finally:
            for writer in writers.values():
                writer.close()
        store = site.images.store if site.images is not None else None
        media = await _media_files(store, folder / FILES["media"], progress)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "generator": f"cms {__version__}",
            "source": {"storage": site.storage.name},
            "fields": [
                {"name": f.name, "type": _field_type(f), "plugin": f.plugin} for f in site.fields
            ],
            "counts": {kind: writers[kind].count for kind in FILES},
            "checksums": {
                **{FILES[kind]: f"sha256:{writers[kind].digest.hexdigest()}" for kind in FILES},
                **{name: f"sha256:{digest}" for name, (_, digest, _) in media.items()},
            },
        }
        files = {name: (key, size) for name, (key, _, size) in media.items()}
        await asyncio.to_thread(_write_archive, target, folder, manifest, store, files)
    problems = [problem for writer in writers.values() for problem in writer.problems]
    return ExportSummary(
        target,
        dict(manifest["counts"]),  # type: ignore[call-overload]
        manifest,
        problems=problems,
    )


async def _copy_records(
    reader: RecordReader, writers: dict[str, _JsonLinesWriter], progress: Progress
) -> None:
    for kind in RECORD_KINDS:
        if kind not in reader.kinds:
            continue
        total = await reader.count(kind)
        with progress(f"Exporting {kind}", total) as advance:
            async for batch in reader.records(kind, batch_size=BATCH_SIZE):
                await asyncio.to_thread(writers[kind].write, batch)
                advance(len(batch))


async def _media_files(
    store: MediaStore | None, records: Path, progress: Progress
) -> dict[str, tuple[str, str, int]]:
    """Every media file the media records name, as ``{"media/<key>": (key, sha256, size)}``;
    ExportError when one is missing from the media store."""
    wanted: dict[str, tuple[int, str]] = {}
    with records.open("rb") as lines:
        for line in lines:
            record = MediaRecord.model_validate_json(line)
            for key in record.files():
                wanted.setdefault(f"{MEDIA_DIR}/{key}", (record.id, key))
    if not wanted:
        return {}
    if store is None:
        raise ExportError(
            f"the site holds {len(wanted)} media file(s) but no [images] backend to read them"
        )
    found: dict[str, tuple[str, str, int]] = {}
    with progress("Exporting media files", len(wanted)) as advance:
        for name, (media_id, key) in wanted.items():
            digest, size = await asyncio.to_thread(_digest_of, store, key, media_id)
            found[name] = (key, digest, size)
            advance(1)
    return found


def _digest_of(store: MediaStore, key: str, media_id: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    try:
        with store.open(key) as content:
            while chunk := content.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise ExportError(
            f"media {media_id}: file {key} is missing from the media store "
            "(cms images rebuild makes lost renditions again)"
        ) from None
    return digest.hexdigest(), size


def _write_archive(
    target: Path,
    folder: Path,
    manifest: dict[str, Any],
    store: MediaStore | None = None,
    media: dict[str, tuple[str, int]] | None = None,
) -> None:
    partial = target.with_name(f".{target.name}.partial")
    # The archive holds password hashes: only its owner may read it.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with (
            os.fdopen(descriptor, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as archive,
        ):
            data = json.dumps(manifest, indent=2).encode("utf-8") + b"\n"
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(data), 0o600
            info.mtime = int(datetime.now(UTC).timestamp())
            archive.addfile(info, io.BytesIO(data))
            for name in FILES.values():
                member = archive.gettarinfo(str(folder / name), arcname=name)
                member.mode, member.uid, member.gid, member.uname, member.gname = (
                    0o600,
                    0,
                    0,
                    "",
                    "",
                )
                with (folder / name).open("rb") as content:
                    archive.addfile(member, content)
            for name, (key, size) in (media or {}).items():
                assert store is not None
                member = tarfile.TarInfo(name)
                member.size, member.mode, member.mtime = size, 0o600, info.mtime
                with store.open(key) as content:
                    archive.addfile(member, content)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


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
    version: Literal[1]
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


# -- validating ------------------------------------------------------------------------------


@dataclass
class _Checks:
    """What one pass over the records found; ``errors`` as "file line n: message"."""

    errors: list[str] = field(default_factory=list)
    hidden: int = 0

    def add(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
        else:
            self.hidden += 1


def validate_archive(archive: Archive, site: Site, supported: tuple[str, ...]) -> None:
    """Check every record of ``archive`` for this site; raise ExportError listing problems."""
    declared = {f.name for f in site.fields}
    missing = [f for f in archive.manifest.get("fields", []) if f.get("name") not in declared]
    if missing:
        names = ", ".join(f"{f.get('name')} (plugin {f.get('plugin') or '?'})" for f in missing)
        raise ExportError(
            f"the export has post fields this site does not declare: {names}; "
            "install those plugins first (cms plugins lists what is installed)"
        )
    for kind, count in archive.counts.items():
        if count and kind not in supported:
            raise ExportError(
                f"the export holds {count} {kind} record(s); this site cannot store {kind}"
            )
    models = _record_models(site)
    checks = _Checks()
    seen: dict[str, set[Any]] = {
        "user ids": set(),
        "usernames": set(),
        "post ids": set(),
        "slugs": set(),
        "token ids": set(),
        "token hashes": set(),
        "media ids": set(),
        "media hashes": set(),
        "setting keys": set(),
    }
    # A post's image that is a media hash must name an image of the export (as a saved
    # post's must name an uploaded one); media come after posts, so they are checked last.
    images: list[tuple[str, str]] = []
    for kind in RECORD_KINDS:
        lines = 0
        for number, line in archive.lines(kind):
            lines += 1
            where = f"{FILES[kind]} line {number}"
            if kind == "posts":
                where += _post_label(line)
            try:
                record = models[kind].model_validate_json(line, strict=True)
            except ValidationError as error:
                checks.add(f"{where}: {_first_error(error)}")
                _remember_invalid(kind, line, seen)
                continue
            for problem in _cross_check(kind, record, seen):
                checks.add(f"{where}: {problem}")
            image = getattr(record, "image", None) if kind == "posts" else None
            if image is not None and re.match(MEDIA_HASH_PATTERN, image):
                images.append((where, image))
            if isinstance(record, MediaRecord):
                for key in record.files():
                    if not (archive.folder / MEDIA_DIR / key).is_file():
                        checks.add(f"{where}: file {MEDIA_DIR}/{key} is not in the archive")
        if lines != archive.counts[kind]:
            checks.add(
                f"{FILES[kind]} has {lines} record(s), the manifest says {archive.counts[kind]}"
            )
    for where, image in images:
        if image not in seen["media hashes"]:
            checks.add(
                f"{where}: image: {image} is not the content_hash of an image in this export "
                "(media.jsonl)"
            )
    if checks.errors:
        # One line, for the CLI: problems are separated by "; ".
        total = len(checks.errors) + checks.hidden
        listing = "; ".join(checks.errors)
        if total == 1:
            raise ExportError(listing)
        more = f"; and {checks.hidden} more" if checks.hidden else ""
        raise ExportError(f"{total} problems: {listing}{more}")


def _remember_invalid(kind: str, line: bytes, seen: dict[str, set[Any]]) -> None:
    """Note the id (or hash) of a record that is refused already, so the records that
    link to it are not listed as problems too."""
    key, what = {"users": ("id", "user ids"), "media": ("content_hash", "media hashes")}.get(
        kind, ("", "")
    )
    if not key:
        return
    try:
        value = json.loads(line).get(key)
    except (ValueError, AttributeError):
        return
    if isinstance(value, int | str):
        seen[what].add(value)


def _cross_check(kind: str, record: Any, seen: dict[str, set[Any]]) -> Iterator[str]:
    def unique(what: str, value: Any, label: str) -> Iterator[str]:
        if value in seen[what]:
            yield f"{label} {value!r} appears twice"
        seen[what].add(value)

    if kind == "users":
        yield from unique("user ids", record.id, "user id")
        yield from unique("usernames", record.username.lower(), "username")
    elif kind == "posts":
        yield from unique("post ids", record.id, "post id")
        yield from unique("slugs", record.slug, "slug")
        for link in ("author_id", "editor_id"):
            value = getattr(record, link)
            if value is not None and value not in seen["user ids"]:
                yield f"{link} {value} is not a user in this export"
    elif kind == "tokens":
        yield from unique("token ids", record.id, "token id")
        yield from unique("token hashes", record.token_hash, "token hash")
        if record.user_id not in seen["user ids"]:
            yield f"user_id {record.user_id} is not a user in this export"
    elif kind == "media":
        yield from unique("media ids", record.id, "media id")
        yield from unique("media hashes", record.content_hash, "content_hash")
        if record.uploader_id is not None and record.uploader_id not in seen["user ids"]:
            yield f"uploader_id {record.uploader_id} is not a user in this export"
    else:
        yield from unique("setting keys", record.key, "setting")


def _batches(lines: Iterator[tuple[int, bytes]], model: type[BaseModel]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for _, line in lines:
        batch.append(model.model_validate_json(line, strict=True))
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _rendered_lines(archive: Archive) -> Iterator[tuple[int, bytes]]:
    with (archive.folder / _RENDERED_POSTS).open("rb") as content:
        yield from enumerate(content, start=1)


async def _render_posts(
    site: Site, archive: Archive, model: type[BaseModel], progress: Progress
) -> None:
    """Make every post's html again from its body, as saving the post would (this site's
    render_post_body plugins or Markdown, then the sanitizer), into a file of their own.

    The archive's html is never used: themes show it unescaped, and an edited archive
    could hold any markup there. Done before the import transaction starts, so a slow
    renderer does not hold the database's write lock and a failing one writes nothing.
    """
    target = archive.folder / _RENDERED_POSTS
    out = await asyncio.to_thread(target.open, "wb")
    try:
        with progress("Rendering posts", archive.counts["posts"]) as advance:
            batches = _batches(archive.lines("posts"), model)
            while batch := await asyncio.to_thread(next, batches, None):
                lines = []
                for record in batch:
                    values = record.model_dump(exclude={"html"})
                    html = await render_body(site, values["body"], values)
                    lines.append(record.model_copy(update={"html": html}).model_dump_json())
                data = "".join(f"{line}\n" for line in lines).encode("utf-8")
                await asyncio.to_thread(out.write, data)
                advance(len(batch))
    finally:
        await asyncio.to_thread(out.close)


async def import_site(
    site: Site, source: Path, *, progress: Progress = _no_progress
) -> ExportSummary:
    """Load an export file into this (empty) site: see :func:`read_archive` and
    :func:`load_archive`."""
    with tempfile.TemporaryDirectory(prefix="cms-import-") as tmp:
        archive = await asyncio.to_thread(read_archive, source, Path(tmp))
        return await load_archive(site, archive, progress=progress)


async def check_archive(site: Site, archive: Archive, *, progress: Progress = _no_progress) -> None:
    """Check every record of an unpacked archive by this site's rules and make every post's
    html again from its body; raise ExportError naming the problems. Reads no table, so it
    can run before the site's schema exists (``cms import`` checks before it migrates)."""
    async with site.storage.exporting() as reader:
        supported = reader.kinds
    await asyncio.to_thread(validate_archive, archive, site, supported)
    if archive.counts["media"] and site.images is None:
        raise ExportError(
            f"the export holds {archive.counts['media']} media record(s); this site has no "
            "[images] backend to keep their files"
        )
    if archive.counts["posts"]:
        await _render_posts(site, archive, _record_models(site)["posts"], progress)
    archive.checked_for = site


async def load_archive(
    site: Site, archive: Archive, *, progress: Progress = _no_progress
) -> ExportSummary:
    """Load an unpacked archive into this (empty) site: every record is checked first
    (:func:`check_archive`, unless it ran for this site already), then all are written in
    one transaction. Raise ExportError for bad records, SiteNotEmpty for a site with
    content; either way nothing is written."""
    storage = site.storage
    async with storage.exporting() as reader:
        # Refuse a site with content before the long checks; importing() checks again.
        counts = {kind: await reader.count(kind) for kind in ("users", "posts", "tokens")}
        if any(counts.values()):
            raise SiteNotEmpty(counts)
    if archive.checked_for is not site:
        await check_archive(site, archive, progress=progress)
    models = _record_models(site)
    # Files first, then the rows: a row never names a file that is not there. They are
    # named after their content, so one left behind by a failed import is harmless; those
    # this import added are removed again all the same.
    added = await _import_media_files(site, archive, progress)
    try:
        async with storage.importing() as writer:
            for kind in RECORD_KINDS:
                total = archive.counts[kind]
                if not total:
                    continue
                with progress(f"Importing {kind}", total) as advance:
                    lines = _rendered_lines(archive) if kind == "posts" else archive.lines(kind)
                    batches = _batches(lines, models[kind])
                    while batch := await asyncio.to_thread(next, batches, None):
                        await writer.write(kind, [record.model_dump() for record in batch])
                        advance(len(batch))
    except BaseException:
        if added and site.images is not None:
            store = site.images.store
            await asyncio.to_thread(_delete_files, store, added)
        raise
    return ExportSummary(archive.source, dict(archive.counts), archive.manifest)


async def _import_media_files(site: Site, archive: Archive, progress: Progress) -> list[str]:
    """Put the archive's media files into the site's media store; return the keys added."""
    if not archive.counts["media"] or site.images is None:
        return []
    store = site.images.store
    keys: dict[str, None] = {}
    for _, line in archive.lines("media"):
        keys.update(dict.fromkeys(MediaRecord.model_validate_json(line, strict=True).files()))
    added: list[str] = []
    try:
        with progress("Importing media files", len(keys)) as advance:
            for key in keys:
                if await asyncio.to_thread(
                    _save_copy, store, archive.folder / MEDIA_DIR / key, key
                ):
                    added.append(key)
                advance(1)
    except BaseException:
        await asyncio.to_thread(_delete_files, store, added)
        raise
    return added


def _delete_files(store: MediaStore, keys: list[str]) -> None:
    for key in keys:
        store.delete(key)


def _save_copy(store: MediaStore, source: Path, key: str) -> bool:
    # save() moves its file in: give it a copy at a temporary path of its own (the
    # archive's folder may be on another filesystem, and stays as it is).
    staged = store.temporary_path(".import")
    try:
        shutil.copyfile(source, staged)
        return store.save(key, staged)
    finally:
        staged.unlink(missing_ok=True)
