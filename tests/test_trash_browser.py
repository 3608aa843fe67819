"""The trash in a real chromium against a real ``cms serve``: Delete asks first (and "Keep
it" keeps it), the post leaves the site, the trash lists it, Restore brings it back at its
address, and "Delete for good" leaves nothing to restore."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from scripts.screenshots import SAMPLE_POSTS, build_sample_site, serving
from tests.test_browser import need_chromium
from tests.test_editor_browser import launch, signed_in

pytestmark = pytest.mark.browser

#: The two newest sample posts (build_sample_site publishes the last ones, newest first).
FIRST, SECOND = SAMPLE_POSTS[-2][0], SAMPLE_POSTS[-1][0]


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    folder = tmp_path_factory.mktemp("trash")
    settings = build_sample_site(folder / "site", posts=2)
    with serving(settings, "default", folder / "serve.log") as url:
        yield url


def status_of(url: str) -> int:
    """The status a visitor without cookies gets."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_delete_asks_then_the_trash_restores_or_deletes_for_good(site_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = signed_in(browser, site_url, problems)
            page.goto(site_url + "/admin/")
            public: dict[str, str] = {}
            for title in (FIRST, SECOND):
                edit = page.get_by_role("link", name=title, exact=True)
                page.goto(site_url + str(edit.get_attribute("href")))
                view = page.get_by_role("link", name="View post", exact=True)
                public[title] = site_url + str(view.get_attribute("href"))
                assert status_of(public[title]) == 200
                page.goto(site_url + "/admin/")

            # Delete asks first; "Keep it" changes nothing.
            page.get_by_role("link", name=f"Delete “{FIRST}”").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(f"Delete “{FIRST}”?")
            page.get_by_role("link", name="Keep it").click()
            assert status_of(public[FIRST]) == 200

            # Moved to the trash: gone from the site and the list, listed in the trash.
            for title in (FIRST, SECOND):
                page.goto(site_url + "/admin/")
                page.get_by_role("link", name=f"Delete “{title}”").click()
                page.get_by_role("button", name="Move to the trash").click()
                expect(page.locator(".notice-area")).to_contain_text("trash")
                expect(page.get_by_role("link", name=title, exact=True)).to_have_count(0)
                assert status_of(public[title]) == 404, title
            page.goto(site_url + "/admin/trash")
            for title in (FIRST, SECOND):
                expect(page.get_by_role("cell", name=title)).to_be_visible()

            # Restore: back at its address, in the editor with a notice.
            page.get_by_role("button", name=f"Restore “{FIRST}”").click()
            expect(page.locator(".notice-area")).to_contain_text(
                "The post was restored from the trash."
            )
            assert status_of(public[FIRST]) == 200

            # Delete for good: nothing left to restore.
            page.goto(site_url + "/admin/trash")
            page.get_by_role("button", name=f"Delete for good “{SECOND}”").click()
            expect(page.locator(".notice-area")).to_contain_text("deleted for good")
            expect(page.get_by_role("button", name=re.compile("^Restore"))).to_have_count(0)
            assert status_of(public[SECOND]) == 404
        finally:
            browser.close()
    assert not [p for p in problems if not p.startswith("404 ")], problems
