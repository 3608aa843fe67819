"""The layer rules for plugins (`make lint`): a plugin imports only the public cms API, and
the built-in plugins never import each other.

import-linter checks the layers inside cms/ (pyproject.toml); the built-in plugins live in
plugins/ and are installed as ``cms.plugins.<name>``, where it does not look.

Usage: ``python scripts/check_plugin_imports.py [PLUGINS_DIR]``; exit 1 naming each broken
import, ``file:line``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

#: What plugins may import of cms: the package itself (cms.hookimpl, cms.PostField...) and
#: the modules kept as its public API.
PUBLIC = frozenset(
    {
        "cms",
        "cms.contracts",
        "cms.hookspecs",
        "cms.site",
        "cms.settings",
        "cms.keys",
        "cms.views.base",
        "cms.media",
        "cms.cli_options",
        "cms.client",
        "cms.testing",
    }
)


def imports(path: Path, package: str) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every import in ``path``, relative ones made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    # What a relative import counts from: the package of the module (for __init__.py,
    # the package itself).
    parts = package.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module


def problems(plugins_dir: Path) -> list[str]:
    found: list[str] = []
    for plugin in sorted(p for p in plugins_dir.iterdir() if (p / "__init__.py").is_file()):
        own = f"cms.plugins.{plugin.name}"
        for path in sorted(plugin.rglob("*.py")):
            package = ".".join([own, *path.parent.relative_to(plugin).parts])
            for line, module in imports(path, package):
                where = f"{path}:{line}"
                if module == own or module.startswith(own + "."):
                    continue
                if module.startswith("cms.plugins"):
                    found.append(f"{where}: imports {module}: plugins never import each other")
                elif (module == "cms" or module.startswith("cms.")) and module not in PUBLIC:
                    found.append(
                        f"{where}: imports {module}: plugins import only the public cms API "
                        f"({', '.join(sorted(PUBLIC))})"
                    )
    return found


def main(argv: list[str]) -> int:
    plugins_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).parent.parent / "plugins"
    found = problems(plugins_dir)
    for problem in found:
        print(problem)
    if not found:
        print(f"Plugin imports kept: only the public cms API, none of each other ({plugins_dir})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
