"""Lighthouse 12.2.3 on the bundled themes (``make audit``).

Builds the same sample site as ``make screenshots`` (posts, with tags here), serves it
with a real ``cms serve`` once per theme, and runs Lighthouse (npm's ``lighthouse@12.2.3``,
installed by ``make audit`` under ``.audit/``; Node 20; Debian's chromium) on the home,
post, tag and search pages. Prints the four category scores of every page and exits 1
when one is under ``--minimum`` (95).

    python scripts/audit.py [--theme default --theme journal] [--minimum 95]
"""

# It runs our own `cms`, node and Lighthouse against the server it started on 127.0.0.1.
# ruff: noqa: S603

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.screenshots import CHROMIUM, THEMES, build_sample_site, serving

LIGHTHOUSE = Path(".audit/node_modules/lighthouse/cli/index.js")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PAGES = {
    "home": "/",
    "post": "/posts/a-short-history-of-the-semicolon",
    "tag": "/tags/essays",
    "search": "/search?q=letter",
}


async def _tag_posts(settings: Path) -> None:
    """Give the sample posts a tag, so there is a tag page to audit."""
    from cms.core.settings import load_settings
    from cms.core.site import Site

    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        for post in await site.storage.list_posts(status="published", limit=100):
            await site.storage.update_post(
                post.id, {"tags": [("Essays", "essays")]}, editor_id=None
            )
        while await site.storage.index_missing():
            pass
    finally:
        await site.storage.close()


def lighthouse(url: str) -> dict[str, int]:
    """The four category scores (0-100) of one page."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("make audit needs Node 20 (node on PATH)")
    result = subprocess.run(
        [
            node,
            str(LIGHTHOUSE),
            url,
            "--output=json",
            "--quiet",
            f"--only-categories={','.join(CATEGORIES)}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CHROME_PATH": str(CHROMIUM)},
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"lighthouse failed on {url}:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    return {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theme", action="append", dest="themes", choices=THEMES)
    parser.add_argument("--minimum", type=int, default=95)
    args = parser.parse_args(argv)
    if not LIGHTHOUSE.exists():
        print(f"{LIGHTHOUSE} is missing: make audit installs it", file=sys.stderr)
        return 1
    if not CHROMIUM.exists():
        print(f"the audit needs chromium at {CHROMIUM} (make browser)", file=sys.stderr)
        return 1
    low: list[str] = []
    print(f"{'theme':<8} {'page':<7} " + " ".join(f"{name:>14}" for name in CATEGORIES))
    with tempfile.TemporaryDirectory(prefix="cms-audit-") as temp:
        settings = build_sample_site(Path(temp) / "site")
        asyncio.run(_tag_posts(settings))
        for theme in args.themes or THEMES:
            with serving(settings, theme, Path(temp) / f"{theme}.log") as url:
                for page, path in PAGES.items():
                    scores = lighthouse(url + path)
                    print(
                        f"{theme:<8} {page:<7} "
                        + " ".join(f"{scores[name]:>14}" for name in CATEGORIES),
                        flush=True,
                    )
                    low += [
                        f"{theme} {page} {name} {score}"
                        for name, score in scores.items()
                        if score < args.minimum
                    ]
    if low:
        print(f"under {args.minimum}: " + "; ".join(low), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
