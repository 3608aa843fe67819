"""The layer contracts of `make lint` bite: each import moved upward breaks one, by name.

A copy of cms/ in a temporary folder gets one bad import at a time; import-linter, with
the project's own contracts, must pass on the copy as it is and fail on each change. The
plugin rules (scripts/check_plugin_imports.py) are tried the same way on a copy of plugins/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of cms/ beside a pyproject.toml holding only the project's contracts."""
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "cms", root / "cms", ignore=shutil.ignore_patterns("__pycache__"))
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]
    (root / ".importlinter").write_text(_ini(contracts), encoding="utf-8")
    return root


def _ini(section: dict[str, object]) -> str:
    """pyproject's [tool.importlinter] as the INI file import-linter also reads."""
    lines = ["[importlinter]"]
    contracts = section.get("contracts", [])
    for key, value in section.items():
        if key != "contracts":
            lines.append(f"{key} = {_value(value)}")
    assert isinstance(contracts, list)
    for number, contract in enumerate(contracts):
        lines.append(f"\n[importlinter:contract:{number}]")
        lines += [f"{key} = {_value(value)}" for key, value in contract.items()]
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    if isinstance(value, list):
        return "\n    " + "\n    ".join(str(item) for item in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_its_layers(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        ("cms/contracts/records.py", "import cms.web.app", "Layers"),
        ("cms/core/settings.py", "import cms.content.posts", "Layers"),
        ("cms/content/users.py", "import cms.web.auth", "Layers"),
        ("cms/web/keys.py", "import cms.cli.main", "Layers"),
        ("cms/content/users.py", "import aiohttp", "free of the web framework"),
        ("cms/contracts/errors.py", "import aiohttp_session", "free of the web framework"),
    ],
)
def test_an_import_moved_upward_breaks_a_contract(
    tree: Path, module: str, bad_import: str, broken: str
) -> None:
    path = tree / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\n{bad_import}  # moved upward\n", encoding="utf-8")
        result = lint_imports(tree)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0, result.stdout
    broken_lines = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken_lines) == 1 and broken in broken_lines[0], result.stdout


@pytest.mark.parametrize(
    ("plugin_file", "bad_import", "message"),
    [
        ("sql_storage/schema.py", "from cms.core.site import Site", "only the public cms API"),
        ("pillow_images/views.py", "import cms.web.app", "only the public cms API"),
        ("redis_sessions/storage.py", "from cms.plugins.sql_storage import SqlStorage", "never"),
    ],
)
def test_a_plugin_reaching_past_the_public_api_fails_the_check(
    tmp_path: Path, plugin_file: str, bad_import: str, message: str
) -> None:
    plugins = tmp_path / "plugins"
    shutil.copytree(ROOT / "plugins", plugins, ignore=shutil.ignore_patterns("__pycache__"))
    check = [sys.executable, str(ROOT / "scripts" / "check_plugin_imports.py"), str(plugins)]
    kept = subprocess.run(check, capture_output=True, text=True, check=False)
    assert kept.returncode == 0, kept.stdout
    path = plugins / plugin_file
    path.write_text(path.read_text(encoding="utf-8") + f"\n{bad_import}\n", encoding="utf-8")
    broken = subprocess.run(check, capture_output=True, text=True, check=False)
    assert broken.returncode == 1
    assert f"{path}:" in broken.stdout and message in broken.stdout, broken.stdout
