"""Importers from other systems: ``cms import --from wordpress|ghost FILE`` (docs/importing.md).

A reader (:mod:`.wordpress`, :mod:`.ghost`) turns an export into a
:class:`~.source.SourceDocument` without touching the site; :func:`import_document` plans it
against the site and writes it in one transaction, or nothing.
"""

from __future__ import annotations

from cms.content.importers.apply import ImportReport, Progress, import_document
from cms.content.importers.ghost import read_ghost
from cms.content.importers.source import MAX_EXPORT_BYTES, BadExport, SourceDocument
from cms.content.importers.wordpress import read_wordpress

__all__ = [
    "MAX_EXPORT_BYTES",
    "READERS",
    "BadExport",
    "ImportReport",
    "Progress",
    "SourceDocument",
    "import_document",
    "read_ghost",
    "read_wordpress",
]

#: The systems ``cms import --from`` reads, by name.
READERS = {"wordpress": read_wordpress, "ghost": read_ghost}
