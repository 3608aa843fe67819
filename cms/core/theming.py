"""Themes: where they are found, what ``theme.toml`` may say, and the static files they serve.

A theme is a folder with ``theme.toml``, ``templates/`` and ``static/``; it holds no
Python. Themes come from three places, the first of a name winning: the site's own
``themes/`` folder, installed packages (entry-point group ``cms.themes``), and the themes
bundled with cms. A theme may ``extends`` another and ship only what it changes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cms.core.settings import SettingsError

__all__ = [
    "DEFAULT_THEME",
    "THEME_ENTRY_POINT_GROUP",
    "Theme",
    "ThemeLocation",
    "ThemeManifest",
    "ThemeSettings",
    "bundled_themes_dir",
    "discover_themes",
    "is_theme_name",
    "load_theme",
    "read_manifest",
    "theme_locations",
]

log = logging.getLogger("cms")

DEFAULT_THEME = "default"
#: Installed packages offer themes under this entry-point group: ``name = "package"``.
THEME_ENTRY_POINT_GROUP = "cms.themes"
# A theme name is one plain path segment: never "..", a slash or an absolute path.
_THEME_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def is_theme_name(name: str) -> bool:
    """Whether ``name`` can name a theme (so it can never leave the themes' folders)."""
    return bool(_THEME_NAME.match(name))


class ThemeSettings(BaseModel):
    """``[settings]`` of ``theme.toml``, read by templates as ``theme.<key>``.

    The keys below are typed and validated. Other keys are allowed and belong to the
    theme (e.g. ``tagline`` for its masthead); their names must be lowercase identifiers
    so templates can reach them.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    posts_per_page: int = Field(10, ge=1, le=200)
    colour_scheme: Literal["auto", "light", "dark"] = "auto"
    image_widths: list[int] = Field(default_factory=lambda: [480, 960, 1600], min_length=1)

    @field_validator("image_widths")
    @classmethod
    def _sensible_widths(cls, widths: list[int]) -> list[int]:
        if any(not 16 <= width <= 4096 for width in widths):
            raise ValueError("every width must be between 16 and 4096 pixels")
        return sorted(set(widths))

    @model_validator(mode="after")
    def _usable_names(self) -> ThemeSettings:
        for key in self.model_extra or {}:
            if not _SETTING_NAME.match(key):
                raise ValueError(
                    f"setting name {key!r} must be a lowercase identifier (letters, digits, _)"
                )
        return self


class ThemeManifest(BaseModel):
    """What ``theme.toml`` may say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_THEME_NAME.pattern)
    version: str = "0.0.0"
    description: str = ""
    extends: str | None = Field(None, pattern=_THEME_NAME.pattern)
    settings: ThemeSettings = Field(default_factory=ThemeSettings)


class ThemeLocation(NamedTuple):
    """Where a theme was found: its folder and a word for its source."""

    path: Path
    source: str


@dataclass
class Theme:
    """A theme and, through ``parent``, the chain of themes it extends."""

    name: str
    path: Path
    source: str
    manifest: ThemeManifest
    parent: Theme | None = None
    static_files: dict[str, Path] = field(default_factory=dict)
    static_names: dict[str, str] = field(default_factory=dict)

    @property
    def chain(self) -> list[Theme]:
        """This theme first, then its parents."""
        themes: list[Theme] = []
        theme: Theme | None = self
        while theme is not None:
            themes.append(theme)
            theme = theme.parent
        return themes

    @property
    def settings(self) -> dict[str, Any]:
        """Theme settings: the defaults, then each parent's, then this theme's own."""
        merged: dict[str, Any] = ThemeSettings().model_dump()
        for theme in reversed(self.chain):
            merged.update(theme.manifest.settings.model_dump(exclude_unset=True))
        return merged

    @property
    def template_dirs(self) -> list[Path]:
        """``templates/`` of this theme and its parents, nearest first."""
        return [theme.path / "templates" for theme in self.chain]

    @property
    def static_dirs(self) -> list[Path]:
        """``static/`` of this theme and its parents, nearest first."""
        return [theme.path / "static" for theme in self.chain]

    def collect_static(self) -> None:
        """Index static files of the chain (a child's file wins) under cache-busting names.

        Both indexes are swapped in at once, so a request never sees a half-built one.
        """
        found: dict[str, Path] = {}
        for static_dir in reversed(self.static_dirs):
            for name, path in _theme_files(static_dir):
                found[name] = path
        static_files: dict[str, Path] = {}
        static_names: dict[str, str] = {}
        for name, path in found.items():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            stem, dot, suffix = name.rpartition(".")
            hashed = (
                f"{stem}.{digest}.{suffix}" if dot and "/" not in suffix else f"{name}.{digest}"
            )
            static_names[name] = hashed
            static_files[hashed] = path
        self.static_files, self.static_names = static_files, static_names


def _theme_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """Regular files under ``folder`` by relative name; links are skipped, so nothing
    outside the theme is ever served."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for root, dirs, names in os.walk(folder):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if not (base / d).is_symlink())
        for name in sorted(names):
            path = base / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(folder).as_posix(), path


def bundled_themes_dir() -> Path:
    """The folder of the themes that ship with cms."""
    return Path(str(files("cms.themes")))


def theme_locations(base_dir: Path | None = None) -> list[tuple[str, ThemeLocation]]:
    """Every theme found, by name, highest precedence first: the site's ``themes/``
    folder, then installed packages, then the bundled themes. A name may repeat; the
    first one is the theme cms uses."""
    found: list[tuple[str, ThemeLocation]] = []
    bundled = bundled_themes_dir()
    if base_dir is not None and (base_dir / "themes").resolve() != bundled.resolve():
        found += _themes_in(base_dir / "themes", "site")
    found += _package_themes()
    found += _themes_in(bundled, "bundled")
    return found


def discover_themes(base_dir: Path | None = None) -> dict[str, ThemeLocation]:
    """The theme cms uses for each name (see ``theme_locations`` for the order)."""
    themes: dict[str, ThemeLocation] = {}
    for name, location in theme_locations(base_dir):
        themes.setdefault(name, location)
    return themes


def _themes_in(folder: Path, source: str) -> list[tuple[str, ThemeLocation]]:
    if not folder.is_dir():
        return []
    return [
        (candidate.name, ThemeLocation(candidate, source))
        for candidate in sorted(folder.iterdir())
        if is_theme_name(candidate.name) and (candidate / "theme.toml").is_file()
    ]


def _package_themes() -> list[tuple[str, ThemeLocation]]:
    """Themes of installed packages: ``[project.entry-points."cms.themes"] name = "pkg"``,
    where ``pkg``'s folder holds ``theme.toml``. The package is located, never imported."""
    found: list[tuple[str, ThemeLocation]] = []
    for entry_point in entry_points(group=THEME_ENTRY_POINT_GROUP):
        dist = entry_point.dist
        source = f"package {dist.name}" if dist else "package"
        if not is_theme_name(entry_point.name):
            log.warning("%s offers a theme with the unusable name %r", source, entry_point.name)
            continue
        try:
            spec = importlib.util.find_spec(entry_point.module)
        except (ImportError, ValueError) as error:
            log.warning("theme %r (%s) cannot be located: %s", entry_point.name, source, error)
            continue
        if spec is None:
            log.warning(
                "theme %r (%s): no package %r", entry_point.name, source, entry_point.module
            )
            continue
        if spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations)))
        elif spec.origin:
            folder = Path(spec.origin).parent
        else:
            continue
        found.append((entry_point.name, ThemeLocation(folder, source)))
    return found


def read_manifest(path: Path, name: str | None = None) -> ThemeManifest:
    """Read and validate ``theme.toml`` in ``path``; ``name`` defaults to the folder's."""
    manifest_file = path / "theme.toml"
    try:
        data = tomllib.loads(manifest_file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{manifest_file}: cannot be read: {error}") from None
    data.setdefault("name", name or path.name)
    try:
        return ThemeManifest.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = str(first["msg"]).removeprefix("Value error, ")
        value = first.get("input")
        shown = "" if isinstance(value, dict) or first["type"] == "missing" else f" = {value!r}"
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(ThemeManifest.model_fields)
            message = f"unknown key; allowed keys: {allowed}"
        raise SettingsError(f"{manifest_file}: {key}{shown}: {message}") from None


def load_theme(name: str, base_dir: Path | None = None, *, key: str = "[site] theme") -> Theme:
    """Load a theme and its parents; an unknown name stops with the list of themes."""
    available = discover_themes(base_dir)
    allowed = ", ".join(sorted(available))
    if not is_theme_name(name) or name not in available:
        raise SettingsError(f"{key} = {name!r}: unknown theme; available: {allowed}")
    seen: list[str] = []
    themes: list[Theme] = []
    current: str | None = name
    while current is not None:
        if current in seen:
            raise SettingsError(f"theme {name!r}: extends loops: {' -> '.join([*seen, current])}")
        if current not in available:
            raise SettingsError(
                f"theme {seen[-1]!r} extends {current!r}, which does not exist; "
                f"available: {allowed}"
            )
        seen.append(current)
        path, source = available[current]
        manifest = read_manifest(path, current)
        themes.append(Theme(name=current, path=path, source=source, manifest=manifest))
        current = manifest.extends
    for child, parent in pairwise(themes):
        child.parent = parent
    theme = themes[0]
    theme.collect_static()
    return theme
