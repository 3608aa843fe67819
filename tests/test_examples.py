"""The example plugin package in examples/cms-seo: its own tests, and the site it makes.

It is installed into a throwaway environment (tests/plugin_packages.py), from a copy, so
neither the project's venv nor the working tree changes: an installed plugin joins every
site of its environment, and the rest of the suite counts fields and plugins exactly.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import aiohttp
import pytest

from tests.cli_support import Server, cms_env, free_port, output_of, submit_form
from tests.plugin_packages import OverlayVenv

ROOT = Path(__file__).resolve().parent.parent
SEO = ROOT / "examples" / "cms-seo"
#: What `cms plugin new cms-subtitle` wrote with cms 0.1, kept as it was (see its README).
PLUGIN_MADE_BY_0_1 = ROOT / "tests" / "fixtures" / "plugin_made_by_0_1" / "cms-subtitle"
ADMIN_PASSWORD = "correct horse battery"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seo_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[OverlayVenv, Path]:
    """A throwaway environment with a copy of cms-seo installed in editable mode."""
    base = tmp_path_factory.mktemp("seo")
    package = base / "cms-seo"
    shutil.copytree(SEO, package, ignore=shutil.ignore_patterns("*.egg-info", "build", ".*"))
    overlay = OverlayVenv.create(base / "venv")
    installed = overlay.pip_install_editable(package)
    assert installed.returncode == 0, output_of(installed)
    return overlay, package


def test_a_plugin_made_by_cms_0_1_passes_its_own_tests(tmp_path: Path) -> None:
    """Plugin authors' code written against an earlier release keeps working: the package
    the 0.1 scaffold wrote, unchanged, installed here, passes its own tests."""
    package = tmp_path / "cms-subtitle"
    shutil.copytree(PLUGIN_MADE_BY_0_1, package)
    overlay = OverlayVenv.create(tmp_path / "venv")
    installed = overlay.pip_install_editable(package)
    assert installed.returncode == 0, output_of(installed)
    result = overlay.pytest(package)
    assert result.returncode == 0, output_of(result)
    counts = re.search(r"(\d+) passed", result.stdout)
    assert counts and int(counts.group(1)) >= 2, result.stdout
    assert "failed" not in result.stdout and "error" not in result.stdout.lower()


def test_the_example_passes_its_own_tests(seo_venv: tuple[OverlayVenv, Path]) -> None:
    overlay, package = seo_venv
    result = overlay.pytest(package)
    assert result.returncode == 0, output_of(result)
    counts = re.search(r"(\d+) passed", result.stdout)
    assert counts and int(counts.group(1)) >= 10, result.stdout
    assert "failed" not in result.stdout and "error" not in result.stdout.lower()


async def test_the_example_on_a_served_site(
    seo_venv: tuple[OverlayVenv, Path], tmp_path: Path
) -> None:
    """Installed, the plugin is in every site: migrate adds its column, the admin form has
    its textarea, and the post page's head carries the description."""
    overlay, _ = seo_venv
    assert overlay.cms("init", "site", cwd=tmp_path).returncode == 0
    settings = tmp_path / "site" / "settings.toml"
    migrated = overlay.cms("migrate", "--settings", settings, cwd=tmp_path)
    assert migrated.returncode == 0, output_of(migrated)
    port = free_port()
    server = Server(
        settings=settings,
        port=port,
        env=cms_env(CMS_SERVER__PORT=str(port)),
        log=tmp_path / "server.log",
        command=overlay.cms_command,
    )
    try:
        await server.start()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            base = server.url
            password = {"password": ADMIN_PASSWORD, "password_confirm": ADMIN_PASSWORD}
            status, _, body = await submit_form(
                http, f"{base}/setup", {"username": "admin", **password}
            )
            assert status == 303, body
            async with http.get(f"{base}/admin/posts/new") as response:
                form = await response.text()
            assert re.search(r'<textarea[^>]*name="meta_description"[^>]*maxlength="160"', form)
            post = {"title": "Tides", "slug": "tides", "body": "Sea.", "status": "published"}
            status, location, _ = await submit_form(
                http, f"{base}/admin/posts/new", {**post, "meta_description": "All about tides"}
            )
            assert status == 303, location
            async with http.get(f"{base}/posts/tides") as response:
                head = (await response.text()).partition("</head>")[0]
            assert re.findall(r'<meta name="description" content="([^"]*)">', head) == [
                "All about tides"
            ]
            assert '<meta property="og:description" content="All about tides">' in head
    finally:
        await server.kill()


ISOLATION_SCRIPT = """
import asyncio

import cms_seo
from cms.testing import TestSite


async def main():
    async with TestSite() as site:
        print("plain:", [f.name for f in site.site.fields], "seo" in site.site.plugins.plugins)
    async with TestSite(installed_plugins=True) as site:
        print("installed:", [f.name for f in site.site.fields])
    async with TestSite(plugins=[cms_seo]) as site:
        print("named:", site.plugin_name(cms_seo), site.site.plugins.plugins["seo"].source)


asyncio.run(main())
"""


def test_cms_testing_keeps_installed_plugins_out_unless_asked(
    seo_venv: tuple[OverlayVenv, Path], tmp_path: Path
) -> None:
    """A test site has the plugins its test names: another installed plugin would change
    its fields under the test's feet. One named by module loads through its entry point."""
    overlay, _ = seo_venv
    result = overlay.run_python("-c", ISOLATION_SCRIPT, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert result.stdout.splitlines() == [
        "plain: [] False",
        "installed: ['meta_description']",
        "named: seo package cms-seo",
    ]


def test_this_suite_refuses_an_environment_with_the_example_installed(
    seo_venv: tuple[OverlayVenv, Path],
) -> None:
    """Installed beside cms, the plugin would change every site this suite builds: the suite
    says so up front instead of failing here and there."""
    overlay, _ = seo_venv
    result = overlay.run_python(
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "-q",
        "tests/test_settings.py",
        cwd=ROOT,
    )
    assert result.returncode != 0, output_of(result)
    assert "third-party cms plugins are installed in this environment: seo (from cms-seo)" in (
        result.stdout + result.stderr
    )
