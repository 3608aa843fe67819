"""The wheel: built-in plugins as ``cms.plugins.*``, themes as data of ``cms.themes``,
an entry point per built-in plugin, and the ``cms`` console script."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _git_status() -> str | None:
    """``git status --porcelain`` (read-only), or None where git is unavailable."""
    try:
        result = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """Build the wheel once from the repository root into a temporary folder."""
    outdir = tmp_path_factory.mktemp("wheel")
    leftovers = [ROOT / "build", ROOT / "dist"]
    existed = {path: path.exists() for path in leftovers}
    status_before = _git_status()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(outdir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        for path, was_there in existed.items():
            if not was_there and path.exists():
                shutil.rmtree(path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert _git_status() == status_before, "building the wheel changed the working tree"
    wheels = list(outdir.glob("cms-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        yield archive


def builtin_plugins() -> list[str]:
    """Every package folder in the repository's plugins/ directory."""
    return sorted(
        path.name
        for path in (ROOT / "plugins").iterdir()
        if path.is_dir() and (path / "__init__.py").is_file()
    )


def dist_info_file(archive: zipfile.ZipFile, name: str) -> str:
    matches = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
    assert len(matches) == 1, f"{name}: {matches}"
    return archive.read(matches[0]).decode("utf-8")


def entry_points(archive: zipfile.ZipFile) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(dist_info_file(archive, "entry_points.txt"))
    return parser


def test_no_top_level_plugins_or_themes(wheel: zipfile.ZipFile) -> None:
    top_level = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert "plugins" not in top_level
    assert "themes" not in top_level
    assert "tests" not in top_level
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"cms"}


def test_builtin_plugins_and_default_theme_are_inside_cms(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for required in (
        "cms/__init__.py",
        "cms/py.typed",
        "cms/plugins/__init__.py",
        "cms/plugins/sql_storage/__init__.py",
        "cms/plugins/cookie_sessions/__init__.py",
        "cms/themes/default/theme.toml",
        "cms/themes/default/templates/base.html",
        "cms/themes/default/static/style.css",
        "cms/themes/journal/theme.toml",
        "cms/themes/journal/templates/partials/cover.html",
        "cms/themes/journal/static/journal.css",
    ):
        assert required in names, required


def test_every_source_file_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    """A new module, plugin package, template or static file must not be left behind."""
    names = set(wheel.namelist())
    expected: list[str] = []
    for folder, prefix in (("cms", "cms"), ("plugins", "cms/plugins"), ("themes", "cms/themes")):
        for path in sorted((ROOT / folder).rglob("*")):
            relative = path.relative_to(ROOT / folder)
            if not path.is_file() or "__pycache__" in relative.parts:
                continue
            if path.suffix in (".pyc", ".pyo") or path.name.startswith("."):
                continue
            expected.append(f"{prefix}/{relative.as_posix()}")
    missing = [name for name in expected if name not in names]
    assert not missing, f"not packaged: {missing}"
    assert any(name.startswith("cms/themes/default/templates/admin/") for name in names)


def test_entry_points_list_every_builtin_plugin(wheel: zipfile.ZipFile) -> None:
    parser = entry_points(wheel)
    assert parser.has_section("cms"), dist_info_file(wheel, "entry_points.txt")
    declared = {name: value.strip() for name, value in parser.items("cms")}
    plugins = builtin_plugins()
    assert plugins, "plugins/ holds no plugin packages"
    assert sorted(declared) == plugins
    for name in plugins:
        assert declared[name] == f"cms.plugins.{name}"


def test_console_script(wheel: zipfile.ZipFile) -> None:
    parser = entry_points(wheel)
    assert parser.get("console_scripts", "cms").strip() == "cms.cli:main"


def test_metadata_names_the_runtime_dependencies(wheel: zipfile.ZipFile) -> None:
    metadata = dist_info_file(wheel, "METADATA")
    requires = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    names = {
        requirement.split("[")[0].split(">")[0].split("=")[0].strip().lower()
        for requirement in requires
    }
    for needed in ("aiohttp", "aiohttp-jinja2", "pluggy", "click", "sqlalchemy", "aiosqlite"):
        assert needed in names, (needed, sorted(names))
    assert "aioredis" not in names
