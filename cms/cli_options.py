"""Kept for plugins written against cms 0.1: the code lives in :mod:`cms.cli.options`."""

from cms.cli.options import (
    CONFIG_ERROR_EXIT,
    fail,
    load_or_fail,
    run_or_fail,
    settings_option,
)

__all__ = ["CONFIG_ERROR_EXIT", "fail", "load_or_fail", "run_or_fail", "settings_option"]
