"""The admin's API tokens page in a real browser against a real ``cms serve``: create a
token, use it with the JSON API, revoke it with its button."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser import need_chromium, open_page
from tests.test_browser import server as server  # the fixture: a real cms serve

pytestmark = pytest.mark.browser

USERNAME = "token-admin"
PASSWORD = "a long browser password"


def test_create_use_and_revoke_a_token_in_the_browser(server: str, tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser, page = open_page(playwright, problems)
        try:
            page.goto(f"{server}/setup")
            page.fill("input[name=username]", USERNAME)
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=password_confirm]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server}/admin/")

            page.get_by_role("link", name="API tokens").click()
            expect(page).to_have_url(f"{server}/admin/tokens")
            expect(page.get_by_text("No API tokens yet.")).to_be_visible()
            page.fill("#token-label", "browser script")
            page.select_option("#token-expires", "30d")
            page.get_by_role("button", name="Create token").click()
            expect(page.get_by_text("shown only this once")).to_be_visible()
            secret = page.input_value("[data-new-token]")
            assert secret.startswith("cms_")
            page.screenshot(path=str(tmp_path / "tokens.png"), full_page=True)

            api = page.request
            auth = {"Authorization": f"Bearer {secret}"}
            created = api.post(f"{server}/api/posts", data={"title": "Via token"}, headers=auth)
            assert created.status == 201, created.text()
            assert created.json()["data"]["author"] == USERNAME

            page.goto(f"{server}/admin/tokens")
            row = page.locator("tr", has_text="browser script")
            expect(row.get_by_text("Active")).to_be_visible()
            assert secret not in page.content()
            row.get_by_role("button", name="Revoke").click()
            expect(page.get_by_text("The token was revoked.")).to_be_visible()
            expect(
                page.locator("tr", has_text="browser script").get_by_text("Revoked")
            ).to_be_visible()

            refused = api.post(f"{server}/api/posts", data={"title": "Again"}, headers=auth)
            assert refused.status == 401
            assert refused.json()["error"]["code"] == "invalid_token"
        finally:
            browser.close()
    assert problems == []
