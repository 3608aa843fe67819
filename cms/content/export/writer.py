"""Writing an export: one consistent snapshot of the site, its records and media files, in one
``.tar.gz``."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from cms import __version__
from cms.content.export.archive import _first_error
from cms.content.export.records import (
    BATCH_SIZE,
    FILES,
    FORMAT,
    MANIFEST,
    MEDIA_DIR,
    VERSION,
    ExportError,
    ExportSummary,
    MediaRecord,
    Progress,
    _field_type,
    _no_progress,
    _record_models,
)
from cms.contracts import RECORD_KINDS, MediaStore, RecordReader
from cms.core.site import Site

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
        media = await _media_files(store, folder, progress)
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
        files = {name: (path, size) for name, (path, _, size) in media.items()}
        await asyncio.to_thread(_write_archive, target, folder, manifest, files)
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
    store: MediaStore | None, folder: Path, progress: Progress
) -> dict[str, tuple[Path, str, int]]:
    """Every media file the media records name, as ``{"media/<key>": (local path, sha256,
    size)}`` (a store that is not on this machine is copied into ``folder`` first);
    ExportError when one is missing from the media store."""
    wanted: dict[str, tuple[int, str]] = {}
    with (folder / FILES["media"]).open("rb") as lines:
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
    found: dict[str, tuple[Path, str, int]] = {}
    with progress("Exporting media files", len(wanted)) as advance:
        for name, (media_id, key) in wanted.items():
            try:
                path = store.path(key) or await _download(store, key, folder / "_media" / key)
                digest, size = await asyncio.to_thread(_digest_of, path)
            except FileNotFoundError:
                raise ExportError(
                    f"media {media_id}: file {key} is missing from the media store "
                    "(cms images rebuild makes lost renditions again)"
                ) from None
            found[name] = (path, digest, size)
            advance(1)
    return found


async def _download(store: MediaStore, key: str, target: Path) -> Path:
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    out = await asyncio.to_thread(target.open, "wb")
    try:
        async for chunk in store.read(key):
            await asyncio.to_thread(out.write, chunk)
    finally:
        out.close()
    return target


def _digest_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as content:
        while chunk := content.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _write_archive(
    target: Path,
    folder: Path,
    manifest: dict[str, Any],
    media: dict[str, tuple[Path, int]] | None = None,
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
            for name, (path, size) in (media or {}).items():
                member = tarfile.TarInfo(name)
                member.size, member.mode, member.mtime = size, 0o600, info.mtime
                with path.open("rb") as content:
                    archive.addfile(member, content)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
