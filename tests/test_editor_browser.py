"""The post editor in a real chromium against a real ``cms serve``: the live preview follows
the typing (footnotes and task lists included), Save says so in a status, leaving with
unsaved changes asks first and without them does not, the form works without JavaScript,
and axe-core finds nothing wrong with the editor, light and dark, wide and narrow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.screenshots import AUTHOR, CHROMIUM_ARGS, THEMES, build_sample_site, serving
from tests.test_browser import CHROMIUM, need_chromium

pytestmark = pytest.mark.browser

PASSWORD = "a long sample password"  # scripts/screenshots.py's sample author
BODY = (
    "A note worth keeping[^1].\n\n"
    "- [ ] buy ink\n"
    "- [x] sharpen the quill\n\n"
    "See https://example.org for more.\n\n"
    "[^1]: Kept in the margin."
)


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_chromium()
    return build_sample_site(tmp_path_factory.mktemp("editor") / "site", posts=1)


@pytest.fixture(scope="module")
def site_url(sample_site: Path) -> Iterator[str]:
    with serving(sample_site, "default", sample_site.parent / "serve.log") as url:
        yield url


def signed_in(
    browser: Any, url: str, problems: list[str], *, username: str = AUTHOR, **options: Any
) -> Any:
    """A new page (a browser context of its own) signed in as ``username`` (the sample
    author unless said); console errors (CSP violations among them), page errors and failed
    responses go to ``problems``."""
    page = browser.new_page(**options)
    page.set_default_timeout(15_000)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda address: "/login" not in address)
    return page


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )


def test_typing_updates_the_preview_and_save_says_so(site_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = signed_in(browser, site_url, problems)

            def answer(dialog: Any) -> None:
                dialogs.append(dialog.type)
                dialog.dismiss()  # stay on the page

            page.on("dialog", answer)
            page.goto(site_url + "/admin/posts/new")
            preview = page.locator("#post-preview")
            expect(page.locator(".editor__words")).to_have_text("0 words")
            page.fill("#post-title", "Margins")
            page.locator("#post-body").press_sequentially("Hello *there*", delay=5)
            expect(preview.locator("em")).to_have_text("there")
            expect(page.locator(".editor__words")).to_have_text("2 words")
            page.fill("#post-body", BODY)  # a paste: one input event
            expect(preview.locator("sup.footnote-ref a")).to_have_attribute("href", "#fn-margins-1")
            expect(preview.locator(".footnotes li")).to_contain_text("Kept in the margin.")
            boxes = preview.locator("input.task-list-item-checkbox")
            expect(boxes).to_have_count(2)
            expect(boxes.nth(0)).to_be_disabled()
            expect(boxes.nth(1)).to_be_checked()
            expect(preview.locator("a[href='https://example.org']")).to_be_visible()
            expect(page.locator(".editor__minutes")).to_have_text("1 min read")

            # The toggle hides and shows the preview without taking the focus away.
            page.focus("#post-body")
            toggle = page.get_by_role("button", name="Preview")
            toggle.dispatch_event("click")
            expect(page.locator("#post-preview-region")).to_be_hidden()
            expect(toggle).to_have_attribute("aria-pressed", "false")
            toggle.dispatch_event("click")
            expect(page.locator("#post-preview-region")).to_be_visible()

            # Leaving with unsaved changes asks (dismissed: the page stays, text and all).
            editing = page.url
            page.get_by_role("link", name="Cancel").click()
            page.wait_for_timeout(300)
            assert dialogs == ["beforeunload"], dialogs
            assert page.url == editing
            expect(page.locator("#post-body")).to_have_value(BODY)

            # Save: no question, and the page says it was saved.
            page.get_by_role("button", name="Save").click()
            expect(page).to_have_url(re.compile(r"/admin/posts/\d+/edit\?notice=saved$"))
            expect(page.get_by_role("status").filter(has_text="saved")).to_have_text(
                "The post was saved."
            )
            assert dialogs == ["beforeunload"], dialogs
            expect(page.locator("#post-preview .footnotes")).to_be_visible()

            # Nothing changed since: leaving does not ask.
            page.get_by_role("link", name="Posts", exact=True).first.click()
            expect(page).to_have_url(re.compile(r"/admin/$"))
            assert dialogs == ["beforeunload"], dialogs

            # The post page renders what the preview showed, with its reading time.
            page.goto(site_url + "/posts/margins")
            content = page.locator(".post-content")
            expect(content.locator(".footnotes li#fn-margins-1")).to_be_visible()
            expect(content.locator("input[type=checkbox][disabled]")).to_have_count(2)
            expect(page.locator(".post-meta")).to_contain_text("1 min read")
        finally:
            browser.close()
    assert not problems, problems


def test_the_form_works_without_javascript(site_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = signed_in(browser, site_url, problems, java_script_enabled=False)
            page.goto(site_url + "/admin/posts/new")
            expect(page.get_by_role("button", name="Preview")).to_be_hidden()
            page.fill("#post-title", "Plain form")
            page.fill("#post-body", "Written *without* scripts.")
            page.get_by_role("button", name="Save").click()
            expect(page).to_have_url(re.compile(r"\?notice=saved$"))
            expect(page.locator(".notice-area")).to_have_text("The post was saved.")
            # The preview shows the text as saved, counted by the server.
            expect(page.locator("#post-preview em")).to_have_text("without")
            expect(page.locator(".editor__words")).to_have_text("3 words")
        finally:
            browser.close()
    assert not problems, problems


@pytest.mark.parametrize("theme", THEMES)
def test_axe_finds_nothing_on_the_editor(sample_site: Path, theme: str) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect, sync_playwright

    axe, problems, violations = Axe(), [], []
    log = sample_site.parent / f"axe-{theme}.log"
    with serving(sample_site, theme, log) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = signed_in(browser, url, problems)
            page.on("dialog", lambda dialog: dialog.accept())  # leave the typed text
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                for scheme in ("light", "dark"):
                    # A fresh page each time: no colour transition half way through.
                    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                    page.goto(url + "/admin/posts/1/edit")
                    page.fill("#post-body", BODY)  # what the preview shows is checked too
                    expect(page.locator("#post-preview .footnotes")).to_be_visible()
                    for violation in axe.run(page).response["violations"]:
                        targets = [node["target"] for node in violation["nodes"]][:3]
                        violations.append(
                            f"{width}px {scheme}: {violation['id']}: {violation['help']} {targets}"
                        )
            scrolls = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not scrolls, "the editor scrolls sideways at 390px"
        finally:
            browser.close()
    assert not violations, "\n".join(violations)
    assert not problems, problems
