"""Tags in a real browser (Debian's chromium driven by Playwright) against ``cms serve``:
an editor types two tags on a new post and publishes it; ``/tags`` lists both with a count
of 1 and each tag's page shows the post; renaming a tag in the admin makes its old address
answer 301 to the new one."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import need_chromium, open_page, server

pytestmark = pytest.mark.browser
__all__ = ["server"]  # the fixture, imported for the tests below

USERNAME = "tag-editor"
PASSWORD = "a long browser password"
TITLE = "Notes on snakes and webs"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def status_and_location(url: str) -> tuple[int, str | None]:
    """The status and Location of a GET, redirects not followed (as a crawler sees it)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location")


def test_an_editor_tags_a_post_and_renames_a_tag(server: str, tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser, page = open_page(playwright, problems)
        try:
            page.goto(f"{server}/setup")
            page.fill("#setup-username", USERNAME)
            page.fill("#setup-password", PASSWORD)
            page.fill("#setup-password-confirm", PASSWORD)
            page.get_by_role("button", name="Create account").click()
            expect(page).to_have_url(f"{server}/admin/")

            page.get_by_role("link", name="New post").first.click()
            page.fill("#post-title", TITLE)
            page.fill("#post-body", "Pythons *and* spiders.")
            # Typed as a person types them: comma-separated, spaces anywhere.
            page.get_by_label("Tags").fill("Python ,  Web dev")
            page.select_option("#post-status", "published")
            page.get_by_role("button", name="Save").click()
            expect(page).to_have_url(re.compile(r"/admin/posts/\d+/edit\?notice=saved$"))
            expect(page.get_by_label("Tags")).to_have_value("Python, Web dev")

            page.goto(f"{server}/tags")
            for name, slug in (("Python", "python"), ("Web dev", "web-dev")):
                item = page.locator(".tag-index__item", has=page.get_by_role("link", name=name))
                expect(item).to_contain_text("1 post")
                expect(item.get_by_role("link", name=name)).to_have_attribute(
                    "href", f"/tags/{slug}"
                )
            page.get_by_role("link", name="Web dev").click()
            expect(page).to_have_url(f"{server}/tags/web-dev")
            expect(page.get_by_role("heading", name="Web dev", level=1)).to_be_visible()
            expect(page.get_by_role("link", name=TITLE)).to_be_visible()

            # The admin's tags page: rename "Web dev" to "Web development".
            page.goto(f"{server}/admin/tags")
            page.get_by_label("New name for Web dev").fill("Web development")
            page.get_by_role("button", name="Rename Web dev").click()
            expect(page.get_by_role("status")).to_contain_text("The tag was renamed")
            expect(page.get_by_role("link", name="Web development", exact=True)).to_be_visible()

            # The old address is a permanent redirect; the browser lands on the new one.
            assert status_and_location(f"{server}/tags/web-dev") == (
                301,
                "/tags/web-development",
            )
            page.goto(f"{server}/tags/web-dev")
            expect(page).to_have_url(f"{server}/tags/web-development")
            expect(page.get_by_role("link", name=TITLE)).to_be_visible()
            page.screenshot(path=str(tmp_path / "tag.png"), full_page=True)
        finally:
            browser.close()
    assert problems == [], problems
