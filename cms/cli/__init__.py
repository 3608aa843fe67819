"""The ``cms`` command: one module per command group, assembled by :mod:`cms.cli.main`."""

from cms.cli.main import main, make_cli

__all__ = ["main", "make_cli"]
