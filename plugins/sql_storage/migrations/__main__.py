"""Start a new core revision: ``python -m cms.plugins.sql_storage.migrations new "message"``.

Writes ``versions/r<next id>_<slug>.py`` from ``script.py.mako``, revising the newest one;
fill in ``upgrade()`` (docs/storage.md, "Writing a core revision").
"""

from __future__ import annotations

import sys

from . import script_directory


def main(argv: list[str]) -> int:
    """Create the revision file and print its path; return the exit status."""
    if len(argv) != 2 or argv[0] != "new" or not argv[1].strip():
        print('usage: python -m cms.plugins.sql_storage.migrations new "what it changes"')
        return 2
    scripts = script_directory()
    head = scripts.get_current_head()
    next_id = f"{int(head or '0') + 1:04d}"
    created = scripts.generate_revision(next_id, argv[1].strip(), head="head")
    if created is None:
        print("no revision was written", file=sys.stderr)
        return 1
    print(created.path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
