"""Both bundled themes in a real chromium against a real ``cms serve``: the same content
looks clearly different, nothing breaks the Content-Security-Policy, small screens do not
scroll sideways; and ``scripts/screenshots.py`` (``make screenshots``) makes small PNGs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.screenshots import CHROMIUM_ARGS, MAX_PNG_BYTES, build_sample_site, serving
from tests.test_browser import CHROMIUM, need_chromium

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
POST = "/posts/a-short-history-of-the-semicolon"


def look_at(url: str, *, width: int, height: int = 900) -> dict[str, Any]:
    """Visit the front page and a post; return what the page computed, and any problems."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    seen: dict[str, Any] = {"problems": problems}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(15_000)
            # Console errors include CSP violations (a blocked inline style or script).
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            for name, path in (("index", "/"), ("post", POST)):
                response = page.goto(url + path)
                assert response is not None and response.status == 200
                seen[name] = page.evaluate(
                    """() => {
                      const style = (selector, property) => {
                        const element = document.querySelector(selector);
                        return element ? getComputedStyle(element)[property] : null;
                      };
                      const grid = document.querySelector('.story-grid');
                      return {
                        background: style('body', 'backgroundColor'),
                        headingFont: style('h1.post__title, .lead-story__title', 'fontFamily'),
                        leadStories: document.querySelectorAll('.lead-story').length,
                        cards: document.querySelectorAll('.story-card, .post-card').length,
                        gridColumns: grid ?
                          getComputedStyle(grid).gridTemplateColumns.split(' ').length : 0,
                        headerAlign: style('.article-header, .post__header', 'textAlign'),
                        sideways: document.documentElement.scrollWidth > window.innerWidth,
                        sheets: [...document.styleSheets].map(s => s.href),
                      };
                    }"""
                )
        finally:
            browser.close()
    return seen


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_chromium()
    return build_sample_site(tmp_path_factory.mktemp("themes") / "site")


@pytest.mark.parametrize("width", [1200, 375])
def test_default_and_journal_look_clearly_different(
    sample_site: Path, tmp_path: Path, width: int
) -> None:
    seen: dict[str, dict[str, Any]] = {}
    for theme in ("default", "journal"):
        with serving(sample_site, theme, tmp_path / f"{theme}.log") as url:
            seen[theme] = look_at(url, width=width)
        assert seen[theme]["problems"] == [], (theme, seen[theme]["problems"])
        for name in ("index", "post"):
            assert not seen[theme][name]["sideways"], (theme, name, width)
    default, journal = seen["default"], seen["journal"]
    assert default["index"]["background"] == "rgb(255, 255, 255)"
    assert journal["index"]["background"] == "rgb(246, 241, 231)"  # warm paper
    assert default["index"]["leadStories"] == 0 and default["index"]["cards"] == 7
    assert journal["index"]["leadStories"] == 1 and journal["index"]["cards"] == 6
    assert journal["index"]["gridColumns"] == (3 if width >= 960 else 1)
    assert "Georgia" in journal["post"]["headingFont"]
    assert "Georgia" not in default["post"]["headingFont"]
    assert journal["post"]["headerAlign"] == "center"
    assert default["post"]["headerAlign"] != "center"
    assert [Path(s).name.split(".")[0] for s in journal["post"]["sheets"]] == ["style", "journal"]


def test_make_screenshots_writes_small_pngs(tmp_path: Path) -> None:
    need_chromium()
    out = tmp_path / "shots"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "screenshots.py"), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "default-index.png",
        "default-post.png",
        "journal-index.png",
        "journal-post.png",
    ]
    for path in out.iterdir():
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert 10_000 < len(data) < MAX_PNG_BYTES, (path.name, len(data))
