"""Autosave in a real chromium against a real ``cms serve``: typing into a published post's
editor is autosaved (the page says so), the tab is closed, the editor reopened offers the
changes back, Restore puts them in the form, and the published page never changed."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from scripts.screenshots import build_sample_site, serving
from tests.test_browser import need_chromium
from tests.test_editor_browser import launch, signed_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    folder = tmp_path_factory.mktemp("autosave")
    settings = build_sample_site(folder / "site", posts=1)
    with serving(settings, "default", folder / "serve.log") as url:
        yield url


def public_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # a visitor, no cookies
        return str(response.read().decode())


def test_autosave_survives_closing_the_tab(site_url: str) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    edit = site_url + "/admin/posts/1/edit"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = signed_in(browser, site_url, problems)
            page.goto(edit)
            address = site_url + str(
                page.get_by_role("link", name="View post", exact=True).get_attribute("href")
            )
            published = page.input_value("#post-body")
            page.locator("#post-body").press_sequentially("\n\nA line typed, never saved.")
            page.fill("#post-title", "A title typed, never saved")
            state = page.locator(".autosave-state")
            expect(state).to_contain_text("Changes autosaved", timeout=15_000)
            page.on("dialog", lambda dialog: dialog.accept())  # leaving with changes asks
            page.close(run_before_unload=True)

            # Another tab (another browser, even: the autosave is kept by the site).
            again = signed_in(browser, site_url, problems)
            again.goto(edit)
            offer = again.get_by_role("region", name="You have unsaved changes")
            expect(offer).to_be_visible()
            # The offer as everyone meets it: light and dark, wide and on a phone (390 px),
            # each on a fresh load (no colour transition half way through).
            for width in (1280, 390):
                again.set_viewport_size({"width": width, "height": 844})
                for scheme in ("light", "dark"):
                    again.emulate_media(color_scheme=scheme)
                    again.reload()
                    expect(offer).to_be_visible()
                    violations = Axe().run(again).response["violations"]
                    assert not violations, (width, scheme, [v["id"] for v in violations])
            # The form shows the post as saved until the author restores.
            assert again.input_value("#post-body") == published
            offer.get_by_role("link", name="Restore my changes").click()
            expect(again.locator(".notice-area")).to_contain_text("back in the form")
            expect(again.locator("#post-title")).to_have_value("A title typed, never saved")
            assert "A line typed, never saved." in again.input_value("#post-body")
            # Never over the published version: readers still get what was saved.
            text = public_text(address)
            assert "never saved" not in text
            # Discarding forgets it.
            again.goto(edit)
            again.get_by_role("button", name="Discard them").click()
            expect(again.get_by_role("region", name="You have unsaved changes")).to_have_count(0)
        finally:
            browser.close()
    assert not problems, problems


def test_a_new_post_is_kept_from_its_first_words_and_waits_out_going_offline(
    site_url: str,
) -> None:
    """A post never saved: what is typed into it is autosaved (after the connection, lost
    for a while, comes back), survives closing the tab, and the new post's editor offers it
    back; restored and saved, it is a post."""
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    new = site_url + "/admin/posts/new"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = signed_in(browser, site_url, problems)
            page.goto(new)
            state = page.locator(".autosave-state")
            page.context.set_offline(True)
            page.fill("#post-title", "Typed into a new post")
            page.fill("#post-body", "Its first words, never saved.")
            expect(state).to_contain_text("you are offline", timeout=15_000)
            page.context.set_offline(False)
            expect(state).to_contain_text("Changes autosaved", timeout=15_000)
            page.on("dialog", lambda dialog: dialog.accept())
            page.close(run_before_unload=True)

            again = signed_in(browser, site_url, problems)
            again.goto(new)
            assert again.input_value("#post-title") == ""
            offer = again.get_by_role("region", name="You have unsaved changes")
            offer.get_by_role("link", name="Restore my changes").click()
            expect(again.locator("#post-title")).to_have_value("Typed into a new post")
            assert again.input_value("#post-body") == "Its first words, never saved."
            again.get_by_role("button", name="Save", exact=True).click()
            expect(again.locator(".notice-area")).to_contain_text("was saved")
            assert "/admin/posts/new" not in again.url
            # Saved: the new post's editor has nothing to offer any more.
            again.goto(new)
            expect(again.get_by_role("region", name="You have unsaved changes")).to_have_count(0)
        finally:
            browser.close()
    # The live preview's requests fail while offline, as they should; nothing else does.
    assert not [p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p], problems
