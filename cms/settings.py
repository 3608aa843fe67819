"""Kept for plugins written against cms 0.1: the code lives in :mod:`cms.core.settings`."""

from cms.core.settings import (
    Settings,
    SettingsError,
    describe_validation_error,
    load_settings,
    plugin_settings,
)

__all__ = [
    "Settings",
    "SettingsError",
    "describe_validation_error",
    "load_settings",
    "plugin_settings",
]
