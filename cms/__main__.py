"""``python -m cms``: the same command line as ``cms`` (``cms serve --reload`` uses it)."""

from cms.cli.main import main

main()
