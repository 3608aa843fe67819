"""``cms themes check NAME``: find what would break a theme before a visitor does.

In the spirit of Ghost's gscan: the ``extends`` chain resolves and every ``theme.toml`` in
it is valid; every required template resolves through the theme and its parents; every
template compiles; the templates a template extends, includes or imports (by a literal
name) exist; every ``static('...')`` with a literal name is a file of the theme chain; and
nothing breaks the Content-Security-Policy (inline scripts, styles or event handlers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2 import nodes

from cms.core.settings import SettingsError
from cms.core.theming import DEFAULT_THEME, Theme, bundled_themes_dir, load_theme
from cms.web.templating import (
    ENVIRONMENT_OPTIONS,
    THEME_FILTERS,
    ThemeFileLoader,
    theme_loader,
)

__all__ = ["PUBLIC_TEMPLATES", "ThemeProblem", "ThemeReport", "check_theme", "required_templates"]

#: Templates the core's public views render; a theme (with its parents) must have them.
PUBLIC_TEMPLATES = ("index.html", "post.html", "error.html", "login.html", "setup.html")

# The CSP (cms.web.middlewares) forbids inline code and styles; these would be blocked.
_CSP_BREAKERS = (
    (re.compile(r"<style[\s>]", re.IGNORECASE), "an inline <style> element"),
    (
        re.compile(r"<[a-z][^<>]*\sstyle\s*=\s*[\"']", re.IGNORECASE),
        "an inline style= attribute",
    ),
    # JSON data blocks (ld+json) are not run, so the policy lets them be.
    (
        re.compile(
            r"<script(?![^>]*\s(?:src\s*=|type\s*=\s*[\"']?application/(?:ld\+)?json))[^>]*>",
            re.IGNORECASE,
        ),
        "an inline <script>",
    ),
    (
        re.compile(r"<[a-z][^<>]*\son[a-z]+\s*=\s*[\"']", re.IGNORECASE),
        "an inline event handler (on...=)",
    ),
)


@dataclass(frozen=True)
class ThemeProblem:
    """One thing wrong with a theme: where, and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class ThemeReport:
    """What ``check_theme`` found."""

    theme: str
    problems: list[ThemeProblem] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    templates_checked: int = 0
    static_references: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def required_templates() -> list[str]:
    """The public templates, plus every admin template the bundled default theme has
    (the admin views render those, and new ones arrive with new admin pages)."""
    admin = bundled_themes_dir() / DEFAULT_THEME / "templates" / "admin"
    return [
        *PUBLIC_TEMPLATES,
        *sorted(f"admin/{path.relative_to(admin).as_posix()}" for path in admin.rglob("*.html")),
    ]


def check_theme(
    name: str,
    base_dir: Path | None = None,
    *,
    plugin_templates: Mapping[str, Sequence[Path]] | None = None,
    prepare_environment: Callable[[jinja2.Environment], None] | None = None,
) -> ThemeReport:
    """Check theme ``name`` as the site in ``base_dir`` would find it.

    ``plugin_templates`` are the plugins' template folders (templates may include them);
    ``prepare_environment`` lets plugins add their filters and globals, so templates that
    use them compile.
    """
    report = ThemeReport(theme=name)
    try:
        theme = load_theme(name, base_dir, key="theme")
    except SettingsError as error:
        report.problems.append(ThemeProblem("", str(error)))
        return report
    report.chain = [member.name for member in theme.chain]
    for member in theme.chain:
        report.problems += _check_folder(member)

    # ENVIRONMENT_OPTIONS turns autoescape on, as for the site.
    env = jinja2.Environment(  # noqa: S701
        loader=theme_loader(theme, plugin_templates=plugin_templates), **ENVIRONMENT_OPTIONS
    )
    env.filters.update(THEME_FILTERS)
    if prepare_environment is not None:
        prepare_environment(env)
    own = ThemeFileLoader(theme.template_dirs)
    available = set(own.list_templates())
    for required in required_templates():
        if required not in available:
            hint = "" if theme.manifest.extends else f' (or set extends = "{DEFAULT_THEME}")'
            report.problems.append(
                ThemeProblem(
                    required,
                    f"required template is missing: add templates/{required}{hint}",
                )
            )
    for template in sorted(available):
        if not template.endswith((".html", ".htm", ".xml", ".txt", ".j2", ".jinja")):
            continue
        report.templates_checked += 1
        report.problems += _check_template(env, own, template, theme, report)
    return report


def _check_folder(theme: Theme) -> list[ThemeProblem]:
    """Manifest name, no Python, no links out of the theme."""
    problems: list[ThemeProblem] = []
    where = f"{theme.name}/theme.toml"
    if theme.manifest.name != theme.name:
        problems.append(
            ThemeProblem(
                where,
                f"name = {theme.manifest.name!r}, but the theme is found as {theme.name!r}; "
                "they must match",
            )
        )
    for path in _files(theme.path):
        relative = path.relative_to(theme.path).as_posix()
        if path.is_symlink():
            problems.append(
                ThemeProblem(f"{theme.name}/{relative}", "is a link; themes must hold real files")
            )
        elif path.suffix == ".py" and path.name != "__init__.py":
            problems.append(
                ThemeProblem(
                    f"{theme.name}/{relative}", "themes hold no Python; move it to a plugin"
                )
            )
    return problems


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        if path.is_symlink() or path.is_file():
            yield path


def _check_template(
    env: jinja2.Environment,
    own: ThemeFileLoader,
    template: str,
    theme: Theme,
    report: ThemeReport,
) -> list[ThemeProblem]:
    try:
        source, filename, _ = own.get_source(env, template)
    except jinja2.TemplateNotFound:
        return [ThemeProblem(template, "cannot be read")]
    where = _where(filename, theme, template)
    problems: list[ThemeProblem] = []
    try:
        tree = env.parse(source, template, filename)
        env.compile(tree, template, filename)
    except jinja2.TemplateSyntaxError as error:
        return [ThemeProblem(f"{where}:{error.lineno}", f"does not compile: {error.message}")]
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        # Each of these nodes has a ``template`` expression; Jinja's stubs type them as Stmt.
        expression: nodes.Expr = node.template  # type: ignore[attr-defined]
        try:
            names = expression.as_const()
        except nodes.Impossible:
            continue  # a name computed at render time
        # A list or tuple is a choice: one of them must exist.
        candidates = [names] if isinstance(names, str) else names
        if not isinstance(candidates, list | tuple) or not candidates:
            continue
        try:
            env.select_template(list(candidates))
        except jinja2.TemplatesNotFound:
            if isinstance(node, nodes.Include) and node.ignore_missing:
                continue
            problems.append(
                ThemeProblem(
                    f"{where}:{node.lineno}",
                    f"uses template {names!r}, which no template folder has",
                )
            )
        except jinja2.TemplateSyntaxError:
            pass  # reported where that template itself is checked
    for call in tree.find_all(nodes.Call):
        if not (isinstance(call.node, nodes.Name) and call.node.name == "static"):
            continue
        if not call.args or not isinstance(call.args[0], nodes.Const):
            continue
        asset = call.args[0].value
        if not isinstance(asset, str):
            continue
        report.static_references += 1
        if asset.lstrip("/") not in theme.static_names:
            problems.append(
                ThemeProblem(
                    f"{where}:{call.lineno}",
                    f"static({asset!r}) names no file in static/ of {theme.name!r} or its parents",
                )
            )
    for pattern, what in _CSP_BREAKERS:
        for match in pattern.finditer(source):
            line = source.count("\n", 0, match.start()) + 1
            problems.append(
                ThemeProblem(
                    f"{where}:{line}",
                    f"{what}: the Content-Security-Policy blocks it; use a file under static/",
                )
            )
    return problems


def _where(filename: str, theme: Theme, template: str) -> str:
    """``theme/templates/name`` for the member of the chain the file belongs to."""
    path = Path(filename)
    for member in theme.chain:
        try:
            relative = path.relative_to((member.path / "templates").resolve())
        except ValueError:
            continue
        return f"{member.name}/templates/{relative.as_posix()}"
    return template
