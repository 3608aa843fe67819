"""A cover image uploaded the way people do it: chromium's file input on the post form
(the browser decides the order of the multipart parts: the CSRF token must come first),
then the post page showing a WebP rendition picked from the srcset."""

from __future__ import annotations

import re

import pytest

from tests.image_files import rotated_photo
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, need_chromium, server

__all__ = ["server"]  # the fixture, imported for the test below

pytestmark = pytest.mark.browser

USERNAME = "cover-admin"
PASSWORD = "a long browser password"


def test_a_cover_uploaded_in_chromium_shows_upright(server: str) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(20_000)
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on(
                "response",
                lambda response: (
                    problems.append(f"{response.status} {response.url}")
                    if response.status >= 400
                    else None
                ),
            )
            page.goto(f"{server}/setup")
            page.fill("#setup-username", USERNAME)
            page.fill("#setup-password", PASSWORD)
            page.fill("#setup-password-confirm", PASSWORD)
            page.get_by_role("button", name="Create account").click()
            expect(page).to_have_url(f"{server}/admin/")

            page.goto(f"{server}/admin/posts/new")
            page.fill("#post-title", "A cover from the browser")
            page.select_option("#post-status", "published")
            page.set_input_files(
                "#post-image",
                {
                    "name": "sideways.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": rotated_photo(2000, 1500),
                },
            )
            page.get_by_role("button", name="Save").click()
            expect(page).to_have_url(re.compile(r"/admin/posts/\d+/edit\?notice=saved$"))
            preview = page.locator("img.cover-preview__image")
            expect(preview).to_be_visible()

            page.goto(f"{server}/posts/a-cover-from-the-browser")
            cover = page.locator("img.post-cover__image")
            expect(cover).to_be_visible()
            page.wait_for_function(
                "document.querySelector('img.post-cover__image').complete && "
                "document.querySelector('img.post-cover__image').naturalWidth > 0"
            )
            source = cover.evaluate("img => img.currentSrc")
            natural = cover.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert re.search(r"/media/[0-9a-f]{2}/[0-9a-f]{32}\.webp$", source), source
            assert natural[1] > natural[0], natural  # upright: portrait
            box = cover.bounding_box()
            assert box is not None and box["height"] > box["width"]
        finally:
            browser.close()
    assert problems == [], problems
