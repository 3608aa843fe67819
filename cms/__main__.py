"""``python -m cms``: the same command line as ``cms`` (``cms serve --reload`` uses it)."""

from cms.cli import main

main()
