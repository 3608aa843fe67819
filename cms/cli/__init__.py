"""The ``cms`` command: one module per command group."""

from cms.cli.main import cli, main

__all__ = ["cli", "main"]
