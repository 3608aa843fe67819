"""Screenshots of the bundled themes for the README (``make screenshots``).

Makes a temporary site with sample posts, serves it with a real ``cms serve`` once per
theme, and shoots the front page and a post with headless chromium (Playwright, Debian's
``/usr/bin/chromium``). Fails when a page logs a console error (a CSP violation is one)
or a request fails. Writes ``<theme>-index.png`` and ``<theme>-post.png``.

    python scripts/screenshots.py [--out docs/screenshots] [--theme default --theme journal]
"""

# It runs our own `cms` and talks to the server it started on 127.0.0.1 only.
# ruff: noqa: S603, S310

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CMS = Path(sys.executable).with_name("cms")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
THEMES = ("default", "journal")
VIEWPORT = {"width": 1200, "height": 900}
# The front page gets a taller frame, so journal's grid shows below its lead story.
INDEX_HEIGHT = 1240
MAX_PNG_BYTES = 300_000
SITE_TITLE = "The Field Notes"
AUTHOR = "eleanor"
SECRET_KEY = "screenshot site secret key, not for production"

SAMPLE_POSTS = [
    (
        "A short history of the semicolon",
        "Invented in Venice in 1494, the semicolon has spent five centuries being misunderstood."
        " It is neither a comma that went to the gym nor a full stop with doubts.\n\n"
        "> A semicolon is a pause that knows what comes next.\n\n"
        "## Where it came from\n\n"
        "Aldus Manutius printed it first, in Pietro Bembo's *De Aetna*; it travelled to"
        " England with the printers and settled there for good.\n\n"
        "- It joins two clauses that lean on each other;\n"
        "- it tidies a list whose items carry commas of their own;\n"
        "- it asks the reader to hold a thought a moment longer.\n\n"
        "Use it sparingly, and it will repay you with a rhythm no other mark can give.",
    ),
    (
        "Notes from a night train to Vienna",
        "The carriage smelled of coffee and old upholstery. Somewhere after midnight the"
        " lights of a small town slid past like a sentence nobody finished.",
    ),
    (
        "What the tide leaves behind",
        "Twice a day the shore is rewritten: kelp, glass worn to pebbles, the occasional"
        " letter in a bottle that turns out to be a shopping list.",
    ),
    (
        "Why we still write letters",
        "A letter is slow on purpose. It takes days to arrive and minutes to read, and it"
        " stays in a drawer for thirty years.",
    ),
    (
        "The garden in February",
        "Nothing seems to happen, and everything is happening underground: roots, bulbs, the"
        " patient chemistry of a season that has not been announced yet.",
    ),
    (
        "On learning to read slowly",
        "Speed reading promises more books; slow reading promises the same book, more. A case"
        " for the pencil in the margin.",
    ),
    (
        "The quiet craft of keeping a notebook",
        "Every notebook starts as a promise and ends as an archive. In between it is a place"
        " to be wrong in private, which is where most good ideas begin.",
    ),
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cms_env() -> dict[str, str]:
    """Our environment without ``CMS_`` settings, plus a throwaway secret key."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CMS_")}
    env["CMS_SECRET_KEY"] = SECRET_KEY
    return env


def build_sample_site(folder: Path, *, posts: int = len(SAMPLE_POSTS)) -> Path:
    """``cms init`` a site in ``folder`` and publish sample posts; return settings.toml."""
    subprocess.run([str(CMS), "init", str(folder)], check=True, env=cms_env(), capture_output=True)
    settings = folder / "settings.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(
        text.replace(f'title = "{folder.resolve().name}"', f'title = "{SITE_TITLE}"'),
        encoding="utf-8",
    )
    asyncio.run(_publish(settings, SAMPLE_POSTS[-posts:]))
    return settings


async def _publish(settings_path: Path, posts: list[tuple[str, str]]) -> None:
    from cms.content.posts import save_post
    from cms.content.users import create_user
    from cms.core.settings import load_settings
    from cms.core.site import Site

    site = Site(load_settings(settings_path))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        user = await create_user(site, AUTHOR, "a long sample password", "admin")
        # Oldest first, so the first sample is the newest post.
        for title, body in reversed(posts):
            await save_post(
                site, None, {"title": title, "body": body, "status": "published"}, user=user
            )
            await asyncio.sleep(0.01)  # distinct publication times, a stable order
    finally:
        await site.storage.close()


@contextmanager
def serving(settings: Path, theme: str, log: Path) -> Iterator[str]:
    """A real ``cms serve --theme THEME`` on a free port; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(CMS), "serve", "--settings", str(settings), "--port", str(port), "--theme", theme],
            cwd=settings.parent,
            env=cms_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"cms serve exited with {process.returncode}:\n{log.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"cms serve did not answer in time:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def shoot(url: str, theme: str, out: Path) -> list[Path]:
    """Shoot the front page and the first sample post; raise on any page problem."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    shots: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport=VIEWPORT, color_scheme="light")
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            for name, path in (("index", "/"), ("post", "/posts/a-short-history-of-the-semicolon")):
                height = INDEX_HEIGHT if name == "index" else VIEWPORT["height"]
                page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
                response = page.goto(url + path)
                if response is None or response.status != 200:
                    problems.append(f"GET {path}: {response.status if response else 'no answer'}")
                target = out / f"{theme}-{name}.png"
                page.screenshot(path=str(target))
                shots.append(target)
        finally:
            browser.close()
    if problems:
        raise RuntimeError(f"theme {theme!r}: " + "; ".join(problems))
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--theme", action="append", dest="themes", choices=THEMES)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"screenshots need chromium at {CHROMIUM} (make browser)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cms-screenshots-") as temp:
        settings = build_sample_site(Path(temp) / "site")
        for theme in args.themes or THEMES:
            with serving(settings, theme, Path(temp) / f"{theme}.log") as url:
                for shot in shoot(url, theme, args.out):
                    size = shot.stat().st_size
                    print(f"{shot} ({size // 1024} KB)")
                    if size > MAX_PNG_BYTES:
                        print(f"{shot} is larger than {MAX_PNG_BYTES} bytes", file=sys.stderr)
                        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
