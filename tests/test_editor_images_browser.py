"""Images in the post editor, in a real chromium against a real ``cms serve``: an image
pasted into the body asks for alt text and becomes a ``<picture>`` with ``srcset`` on the
post page; one dropped there too; one picked from the library is inserted the same way; the
cover is picked from the library; Esc cancels the alt text dialog, inserting nothing."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.screenshots import build_sample_site, serving
from tests.image_files import photo, png
from tests.test_browser import need_chromium
from tests.test_editor_browser import launch, signed_in

pytestmark = pytest.mark.browser

# A File built in the page from these bytes, given to the body as a paste or a drop.
GIVE_FILE = """([kind, data, name, type]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const body = document.getElementById("post-body");
  body.focus();
  const event = kind === "paste"
    ? new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true })
    : new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true });
  body.dispatchEvent(event);
  return event.defaultPrevented;
}"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    folder = tmp_path_factory.mktemp("editor-images")
    settings = build_sample_site(folder / "site", posts=1)
    with serving(settings, "default", folder / "serve.log") as url:
        yield url


def give(page: Any, kind: str, data: bytes, name: str, mime: str) -> None:
    encoded = base64.b64encode(data).decode()
    assert page.evaluate(GIVE_FILE, [kind, encoded, name, mime]) is True


def assert_accessible(page: Any, what: str) -> None:
    """axe-core finds nothing wrong with the page as it is (a dialog open)."""
    from axe_playwright_python.sync_playwright import Axe

    violations = [
        f"{what}: {violation['id']}: {violation['help']} "
        f"{[node['target'] for node in violation['nodes']][:3]}"
        for violation in Axe().run(page).response["violations"]
    ]
    assert not violations, "\n".join(violations)


def test_a_pasted_image_becomes_a_picture_with_srcset(site_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = signed_in(browser, site_url, problems)
            page.goto(site_url + "/admin/posts/new")
            page.fill("#post-title", "Pasted")
            page.select_option("#post-status", "published")
            page.fill("#post-body", "Before the picture.")
            page.locator("#post-body").press("End")

            give(page, "paste", photo(1200, 800, seed=21), "image.jpg", "image/jpeg")
            dialog = page.get_by_role("dialog", name="Describe the image")
            expect(dialog).to_be_visible()
            expect(dialog.locator(".image-dialog__state")).to_have_text("Uploaded.")
            expect(dialog.locator("img.image-dialog__preview")).to_be_visible()
            expect(page.get_by_label("Alt text")).to_be_focused()
            page.get_by_label("Alt text").fill('A "red" [door]')
            dialog.get_by_role("button", name="Insert").click()
            expect(dialog).to_be_hidden()
            body = page.locator("#post-body")
            expect(body).to_have_value(
                re.compile(
                    r'^Before the picture\.\n\n!\[A "red" \\\[door\\\]\]\(media:[0-9a-f]{64}\)$'
                )
            )
            # The preview shows it as the post will.
            expect(page.locator("#post-preview picture source[type='image/webp']")).to_have_count(1)

            # Dropped, then cancelled with Esc: nothing is inserted.
            before = body.input_value()
            give(page, "drop", png(300, 200), "drop.png", "image/png")
            expect(dialog.locator(".image-dialog__state")).to_have_text("Uploaded.")
            page.keyboard.press("Escape")
            expect(dialog).to_be_hidden()
            expect(body).to_have_value(before)

            page.get_by_role("button", name="Save").click()
            expect(page).to_have_url(re.compile(r"/admin/posts/\d+/edit\?notice=saved$"))

            page.goto(site_url + "/posts/pasted")
            picture = page.locator(".post-content picture")
            expect(picture).to_have_count(1)
            srcset = picture.locator("source[type='image/webp']").get_attribute("srcset") or ""
            assert re.search(r"\.webp \d+w", srcset), srcset
            image = picture.locator("img")
            expect(image).to_have_attribute("alt", 'A "red" [door]')
            expect(image).to_have_attribute("loading", "lazy")
            assert page.evaluate("document.querySelector('.post-content picture img').complete")
        finally:
            browser.close()
    assert not problems, problems


def test_pick_from_the_library_for_the_text_and_the_cover(site_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = signed_in(browser, site_url, problems)
            page.goto(site_url + "/admin/posts/new")
            # An image in the library first, through the editor's own button.
            page.locator(".editor__file").set_input_files(
                {
                    "name": "harbour.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": photo(900, 600, seed=22),
                }
            )
            dialog = page.get_by_role("dialog", name="Describe the image")
            expect(dialog.locator(".image-dialog__state")).to_have_text("Uploaded.")
            page.keyboard.press("Escape")

            page.fill("#post-title", "Picked")
            page.select_option("#post-status", "published")
            page.fill("#post-body", "Text first.")
            page.locator("#post-body").press("End")
            page.get_by_role("button", name="From library").click()
            picker = page.get_by_role("dialog", name="Choose an image to insert")
            expect(picker).to_be_visible()
            assert_accessible(page, "the picker")
            choice = picker.get_by_role(
                "button", name=re.compile(r"^harbour\.jpg \(900\u00d7600\)")
            )
            expect(choice).to_be_focused()  # the newest first, keyboard ready
            page.keyboard.press("Enter")
            expect(picker).to_be_hidden()
            assert_accessible(page, "the alt text dialog")
            page.get_by_label("Alt text").fill("The harbour at dawn")
            page.keyboard.press("Enter")  # the alt text dialog's default button: Insert
            expect(dialog).to_be_hidden()
            expect(page.locator("#post-body")).to_have_value(
                re.compile(r"^Text first\.\n\n!\[The harbour at dawn\]\(media:[0-9a-f]{64}\)$")
            )

            page.get_by_role("button", name="Browse the library").click()
            covers = page.get_by_role("dialog", name="Choose the cover image")
            covers.get_by_role("button", name=re.compile(r"^harbour\.jpg")).click()
            expect(covers).to_be_hidden()
            hashes = re.findall(r"media:([0-9a-f]{64})", page.locator("#post-body").input_value())
            expect(page.locator("#post-image-pick")).to_have_value(hashes[0])

            page.get_by_role("button", name="Save").click()
            expect(page).to_have_url(re.compile(r"/admin/posts/\d+/edit\?notice=saved$"))
            expect(page.locator("img.cover-preview__image")).to_be_visible()

            page.goto(site_url + "/posts/picked")
            expect(page.locator(".post-content picture img")).to_have_attribute(
                "alt", "The harbour at dawn"
            )
            expect(page.locator("img.post-cover__image")).to_be_visible()
        finally:
            browser.close()
    assert not problems, problems
