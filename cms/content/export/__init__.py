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

from cms.content.export.archive import Archive, read_archive
from cms.content.export.importer import check_archive, import_site, load_archive
from cms.content.export.records import (
    FORMAT,
    VERSION,
    ExportError,
    ExportSummary,
    Progress,
    post_record_model,
)
from cms.content.export.writer import export_site

__all__ = [
    "FORMAT",
    "VERSION",
    "Archive",
    "ExportError",
    "ExportSummary",
    "Progress",
    "check_archive",
    "export_site",
    "import_site",
    "load_archive",
    "post_record_model",
    "read_archive",
]
