"""The first-run story in a real browser (Debian's chromium driven by Playwright) against a
real ``cms serve`` process: set up, write and publish a post, read it, sign out."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_SERVICES_ENV

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 30.0
USERNAME = "browser-admin"
PASSWORD = "a long browser password"
TITLE = "Hello from a real browser"
BODY = "# Rendered heading\n\nSome *Markdown* text.\n\n- one\n- two\n"


def need_chromium() -> None:
    """Skip (or fail, when services are required) without a chromium to drive."""
    if CHROMIUM.exists():
        return
    reason = f"browser tests need chromium at {CHROMIUM} (make browser installs it)"
    if os.environ.get(REQUIRE_SERVICES_ENV):
        pytest.fail(f"{reason}; {REQUIRE_SERVICES_ENV} forbids skipping them")
    pytest.skip(reason)


def open_page(playwright: Any, problems: list[str]) -> tuple[Any, Any]:
    """Debian's chromium, headless, and a page whose console errors (CSP violations among
    them) and uncaught errors go to ``problems``; returns (browser, page)."""
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return browser, page


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"cms serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"cms serve did not become healthy in {SERVER_START_TIMEOUT}s:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real ``cms serve`` on a free port in a site made by ``cms init``; its base URL."""
    need_chromium()  # no server to start when there is no browser to drive it
    cms = Path(sys.executable).with_name("cms")
    site = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMS_")}
    env["CMS_SECRET_KEY"] = "browser test secret key, not for production"
    subprocess.run([str(cms), "init", str(site)], check=True, env=env, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = site / "settings.toml"
    text = settings.read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:8080", url).replace("port = 8080", f"port = {port}")
    settings.write_text(text, encoding="utf-8")

    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(cms), "serve", "--settings", str(settings), "--port", str(port)],
            cwd=site,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert "Traceback" not in log.read_text(), log.read_text()


def test_first_run_story_in_chromium(server: str, tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            # Console errors include CSP violations (a blocked inline style or script).
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "response",
                lambda response: (
                    problems.append(f"{response.status} {response.url}")
                    if response.status >= 400
                    else None
                ),
            )

            response = page.goto(f"{server}/")
            assert response is not None and response.status == 200

            page.goto(f"{server}/admin/")
            expect(page).to_have_url(f"{server}/setup")
            page.fill("#setup-username", USERNAME)
            page.fill("#setup-password", PASSWORD)
            page.fill("#setup-password-confirm", PASSWORD)
            page.get_by_role("button", name="Create account").click()

            expect(page).to_have_url(f"{server}/admin/")
            expect(page.get_by_role("heading", name="Posts")).to_be_visible()
            expect(page.get_by_text(f"Signed in as {USERNAME}")).to_be_visible()

            page.get_by_role("link", name="New post").first.click()
            expect(page).to_have_url(f"{server}/admin/posts/new")
            page.fill("#post-title", TITLE)
            page.fill("#post-body", BODY)
            page.select_option("#post-status", "published")
            page.get_by_role("button", name="Save").click()
            expect(page).to_have_url(re.compile(r"/admin/posts/\d+/edit\?notice=saved$"))
            expect(page.locator("#post-title")).to_have_value(TITLE)

            page.goto(f"{server}/")
            link = page.get_by_role("link", name=TITLE)
            expect(link).to_be_visible()
            link.click()
            expect(page).to_have_url(f"{server}/posts/hello-from-a-real-browser")
            expect(page.locator("h1.post__title")).to_have_text(TITLE)
            heading = page.locator(".post-content h1")
            expect(heading).to_have_text("Rendered heading")
            expect(page.locator(".post-content em")).to_have_text("Markdown")
            expect(page.locator(".post-content li")).to_have_count(2)

            page.get_by_role("button", name="Sign out").click()
            expect(page).to_have_url(f"{server}/")
            expect(page.get_by_role("link", name="Sign in")).to_be_visible()

            page.goto(f"{server}/admin/")
            expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)admin(/|%2F)$"))
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            expect(page.locator("#login-username")).to_be_visible()

            screenshot = tmp_path / "signed-out.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 0
        finally:
            browser.close()
    assert problems == [], problems
