"""``cms themes`` (the list) and ``cms themes check NAME``, run for real, plus themes from
installed packages (entry-point group ``cms.themes``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cms.cli.theme_check import check_theme, required_templates
from tests.cli_support import cms_env, output_of, run_cms
from tests.conftest import ClientFactory, setup_admin

BROKEN_THEME = Path(__file__).resolve().parent / "themes" / "broken"


def site(tmp_path: Path, settings: str = "") -> Path:
    """An (empty-settings) site folder; returns its settings.toml."""
    path = tmp_path / "settings.toml"
    path.write_text(settings, encoding="utf-8")
    return path


def installed_theme_package(root: Path) -> Path:
    """A package ``cms_theme_sunset`` offering theme ``sunset``, installed the way pip
    leaves it: the package folder and a ``.dist-info`` with the entry point."""
    package = root / "cms_theme_sunset"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "theme.toml").write_text(
        'name = "sunset"\nversion = "2.1.0"\nextends = "journal"\n'
        'description = "Warm evening colours."\n[settings]\ntagline = "From a package"\n',
        encoding="utf-8",
    )
    (package / "templates" / "base.html").write_text(
        '{% extends "journal:base.html" %}'
        '{% block footer %}<footer id="sunset">sunset footer</footer>{% endblock %}',
        encoding="utf-8",
    )
    dist = root / "cms_theme_sunset-2.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cms-theme-sunset\nVersion: 2.1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[cms.themes]\nsunset = cms_theme_sunset\n", encoding="utf-8"
    )
    return root


# --- cms themes ---------------------------------------------------------------------


def test_themes_lists_bundled_site_and_package_themes(tmp_path: Path) -> None:
    settings = site(tmp_path, '[site]\ntheme = "journal"\n')
    shadow = tmp_path / "themes" / "default"
    shadow.mkdir(parents=True)
    (shadow / "theme.toml").write_text('version = "9.9.9"\n', encoding="utf-8")
    packages = installed_theme_package(tmp_path / "site-packages")
    env = cms_env(PYTHONPATH=str(packages))
    result = run_cms("themes", "--settings", settings, cwd=tmp_path, env=env)
    assert result.returncode == 0, output_of(result)
    lines = result.stdout.splitlines()
    journal = next(line for line in lines if line.startswith("journal "))
    assert "(bundled, extends default)  [current]" in journal, result.stdout
    default = next(line for line in lines if line.startswith("default "))
    assert "9.9.9" in default and f"site: {shadow}" in default, result.stdout
    assert any("also bundled, which the one above shadows" in line for line in lines)
    sunset = next(line for line in lines if line.startswith("sunset "))
    assert "2.1.0" in sunset and "package cms-theme-sunset" in sunset, result.stdout
    assert "extends journal" in sunset, result.stdout
    # `cms themes list` says the same.
    listed = run_cms("themes", "list", "--settings", settings, cwd=tmp_path, env=env)
    assert listed.stdout == result.stdout, output_of(listed)


def test_a_broken_manifest_is_listed_as_broken(tmp_path: Path) -> None:
    settings = site(tmp_path)
    bad = tmp_path / "themes" / "bad"
    bad.mkdir(parents=True)
    (bad / "theme.toml").write_text("[settings]\nposts_per_page = 0\n", encoding="utf-8")
    result = run_cms("themes", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    line = next(line for line in result.stdout.splitlines() if line.startswith("bad "))
    assert "BROKEN" in line and "posts_per_page" in line


async def test_a_package_theme_is_served(
    make_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packages = installed_theme_package(tmp_path / "site-packages")
    monkeypatch.syspath_prepend(str(packages))
    client = await make_client(theme="sunset")
    await setup_admin(client)
    response = await client.get("/")
    html = await response.text()
    assert response.status == 200, html
    assert '<footer id="sunset">sunset footer</footer>' in html
    assert "From a package" in html  # its settings over journal's


# --- cms themes check -----------------------------------------------------------------


@pytest.mark.parametrize("theme", ["default", "journal"])
def test_check_passes_the_bundled_themes(tmp_path: Path, theme: str) -> None:
    result = run_cms("themes", "check", theme, "--settings", site(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert f"theme {theme!r}" in result.stdout and ": OK," in result.stdout


def test_check_defaults_to_the_site_theme(tmp_path: Path) -> None:
    settings = site(tmp_path, '[site]\ntheme = "journal"\n')
    result = run_cms("themes", "--settings", settings, "check", cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert "theme 'journal' (journal -> default): OK" in result.stdout


def test_check_lists_every_problem_of_a_broken_theme(tmp_path: Path) -> None:
    settings = site(tmp_path)
    shutil.copytree(BROKEN_THEME, tmp_path / "themes" / "broken")
    result = run_cms("themes", "check", "broken", "--settings", settings, cwd=tmp_path)
    shown = output_of(result)
    assert result.returncode == 1, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    problems = [line[4:] for line in result.stdout.splitlines() if line.startswith("  - ")]
    assert result.stdout.startswith(f"theme 'broken' (broken): {len(problems)} problems"), shown
    expected = [
        "error.html: required template is missing",
        "login.html: required template is missing",
        "setup.html: required template is missing",
        "admin/posts.html: required template is missing",
        "broken/templates/index.html:5: does not compile: Encountered unknown tag 'endblock'",
        "broken/templates/partials/card.html:1: does not compile: No filter named 'shout'",
        "broken/templates/post.html:1: uses template 'layout.html', which no template folder",
        "broken/templates/post.html:3: static('missing.css') names no file in static/",
        "broken/templates/post.html:4: an inline style= attribute",
        "broken/templates/post.html:5: an inline <script>",
    ]
    for text in expected:
        assert any(problem.startswith(text) for problem in problems), f"{text!r}\n{shown}"
    # What is fine is not reported: base.html, index.html and the static file present.css.
    assert not any(problem.startswith("broken/templates/base.html") for problem in problems)
    assert not any(problem.startswith("index.html") for problem in problems), shown
    assert not any("present.css" in problem for problem in problems), shown


def test_check_of_an_unknown_or_unsafe_name(tmp_path: Path) -> None:
    for name in ("nothing", "../etc", "/etc/passwd"):
        result = run_cms("themes", "check", name, "--settings", site(tmp_path), cwd=tmp_path)
        assert result.returncode == 1, output_of(result)
        assert f"{name!r}: unknown theme; available: default, journal" in result.stdout


def test_check_finds_links_python_and_a_wrong_name(tmp_path: Path) -> None:
    folder = tmp_path / "themes" / "sly"
    (folder / "templates").mkdir(parents=True)
    (folder / "theme.toml").write_text('name = "other"\nextends = "default"\n', encoding="utf-8")
    (folder / "helpers.py").write_text("print('no')\n", encoding="utf-8")
    os.symlink("/etc/hostname", folder / "templates" / "index.html")
    report = check_theme("sly", tmp_path)
    messages = [str(problem) for problem in report.problems]
    assert not report.ok
    assert any(m.startswith("sly/theme.toml: name = 'other'") for m in messages), messages
    assert any(m.startswith("sly/helpers.py: themes hold no Python") for m in messages), messages
    assert any(m.startswith("sly/templates/index.html: is a link") for m in messages), messages


def test_check_of_a_loop_or_a_missing_parent(tmp_path: Path) -> None:
    for name, parent in (("ping", "pong"), ("pong", "ping"), ("lost", "nowhere")):
        folder = tmp_path / "themes" / name
        folder.mkdir(parents=True)
        (folder / "theme.toml").write_text(f'extends = "{parent}"\n', encoding="utf-8")
    assert [str(p) for p in check_theme("ping", tmp_path).problems] == [
        "theme 'ping': extends loops: ping -> pong -> ping"
    ]
    (problem,) = check_theme("lost", tmp_path).problems
    assert "'lost' extends 'nowhere', which does not exist" in str(problem)


def test_required_templates_follow_the_default_theme() -> None:
    required = required_templates()
    assert required[:5] == ["index.html", "post.html", "error.html", "login.html", "setup.html"]
    assert {"admin/base.html", "admin/posts.html", "admin/post_form.html"} <= set(required)


def test_a_site_theme_extending_default_and_overriding_base_passes(tmp_path: Path) -> None:
    folder = tmp_path / "themes" / "framed"
    (folder / "templates").mkdir(parents=True)
    (folder / "theme.toml").write_text('extends = "default"\n', encoding="utf-8")
    (folder / "templates" / "base.html").write_text(
        '{% extends "default:base.html" %}{% block footer %}<footer>mine</footer>{% endblock %}',
        encoding="utf-8",
    )
    result = run_cms("themes", "check", "framed", "--settings", site(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, output_of(result)


# --- cms serve --theme ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../etc", "nothing"])
def test_serve_with_an_unknown_or_unsafe_theme_stops(tmp_path: Path, name: str) -> None:
    result = run_cms("serve", "--theme", name, "--settings", site(tmp_path), cwd=tmp_path)
    shown = output_of(result)
    assert result.returncode == 2, shown
    assert result.stderr.strip().splitlines() == [
        f"Error: --theme = {name!r}: unknown theme; available: default, journal"
    ], shown
    assert not (tmp_path / "cms.db").exists()
