"""Theme discovery, manifests (``theme.toml``) and the static files a theme serves."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cms.settings import SettingsError

__all__ = ["Theme", "ThemeManifest", "discover_themes", "load_theme"]

DEFAULT_THEME = "default"
_THEME_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ThemeManifest(BaseModel):
    """What ``theme.toml`` may say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_THEME_NAME.pattern)
    version: str = "0.0.0"
    description: str = ""
    extends: str | None = Field(None, pattern=_THEME_NAME.pattern)
    settings: dict[str, Any] = Field(default_factory=dict)


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
        """Theme settings, a child's values over its parents'."""
        merged: dict[str, Any] = {}
        for theme in reversed(self.chain):
            merged.update(theme.manifest.settings)
        return merged

    @property
    def template_dirs(self) -> list[Path]:
        return [theme.path / "templates" for theme in self.chain]

    def collect_static(self) -> None:
        """Index static files of the chain (a child's file wins) under cache-busting names."""
        found: dict[str, Path] = {}
        for theme in reversed(self.chain):
            static_dir = theme.path / "static"
            if static_dir.is_dir():
                for path in sorted(static_dir.rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        found[path.relative_to(static_dir).as_posix()] = path
        self.static_files = {}
        self.static_names = {}
        for name, path in found.items():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            stem, dot, suffix = name.rpartition(".")
            hashed = (
                f"{stem}.{digest}.{suffix}" if dot and "/" not in suffix else f"{name}.{digest}"
            )
            self.static_names[name] = hashed
            self.static_files[hashed] = path


def bundled_themes_dir() -> Path:
    return Path(str(files("cms.themes")))


def discover_themes(base_dir: Path | None = None) -> dict[str, tuple[Path, str]]:
    """Every theme by name: the site's ``themes/`` folder wins over the bundled ones."""
    found: dict[str, tuple[Path, str]] = {}
    bundled = bundled_themes_dir()
    sources = [(bundled, "bundled")]
    if base_dir is not None and (base_dir / "themes").resolve() != bundled.resolve():
        sources.append((base_dir / "themes", "site"))
    for folder, source in sources:
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.iterdir()):
            if (candidate / "theme.toml").is_file() and _THEME_NAME.match(candidate.name):
                found[candidate.name] = (candidate, source)
    return found


def read_manifest(path: Path) -> ThemeManifest:
    manifest_file = path / "theme.toml"
    try:
        data = tomllib.loads(manifest_file.read_text(encoding="utf-8"))
        data.setdefault("name", path.name)
        return ThemeManifest.model_validate(data)
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{manifest_file}: cannot be read: {error}") from None
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        key = ".".join(str(part) for part in first["loc"])
        raise SettingsError(f"{manifest_file}: {key}: {first['msg']}") from None


def load_theme(name: str, base_dir: Path | None = None, *, key: str = "[site] theme") -> Theme:
    """Load a theme and its parents; an unknown name stops with the list of themes."""
    available = discover_themes(base_dir)
    allowed = ", ".join(sorted(available))
    if not _THEME_NAME.match(name) or name not in available:
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
        manifest = read_manifest(path)
        themes.append(Theme(name=current, path=path, source=source, manifest=manifest))
        current = manifest.extends
    for child, parent in pairwise(themes):
        child.parent = parent
    theme = themes[0]
    theme.collect_static()
    return theme
