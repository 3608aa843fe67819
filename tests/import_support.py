"""What the importer tests share: the real exports beside the checkout, counts of them made
independently of the importers, and a snapshot of everything a site stores."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeTree
import pytest

from cms.core.site import Site
from tests.conftest import REQUIRE_SERVICES_ENV

#: ../shared/fixtures beside the repository (never copied into it), or where
#: CMS_TEST_FIXTURES says (a checkout elsewhere).
FIXTURES = Path(
    os.environ.get("CMS_TEST_FIXTURES")
    or Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
)


def fixture_file(relative: str) -> Path:
    """A real export from the shared fixtures; skip (fail in CI) when they are missing."""
    path = FIXTURES / relative
    if not path.is_file():
        reason = f"the importer fixtures are missing: {path} (see ../shared/fixtures/README.md)"
        if os.environ.get(REQUIRE_SERVICES_ENV):
            pytest.fail(f"{reason}; {REQUIRE_SERVICES_ENV} forbids skipping")
        pytest.skip(reason)
    return path


def wordpress_fixtures() -> list[str]:
    """The WordPress fixtures that are well-formed exports of posts (names, for params)."""
    folder = FIXTURES / "wordpress"
    names = sorted(path.name for path in folder.glob("*.xml")) if folder.is_dir() else []
    # migrate-sample.xml has raw "&" in URLs: not well-formed XML (test_bad_input uses it).
    return [name for name in names if name != "migrate-sample.xml"] or ["importer-wxr-simple.xml"]


class WxrCount:
    """What a WXR file holds, counted here with the standard library's parser (through
    defusedxml), not with the importer's code."""

    IMPORTED = frozenset({"publish", "future", "draft", "pending", "private"})

    def __init__(self, path: Path) -> None:
        root: Element = SafeTree.parse(path).getroot()
        channel = root.find("channel")
        assert channel is not None
        wp = next(
            element.tag.split("}")[0] + "}"
            for element in channel.iter()
            if "wordpress.org/export/" in element.tag and "excerpt" not in element.tag
        )
        self.items: list[dict[str, Any]] = []
        #: Custom post types, by name, with their number of items.
        self.other_types: Counter[str] = Counter()
        for item in channel.findall("item"):
            post_type = item.findtext(f"{wp}post_type") or "post"
            status = item.findtext(f"{wp}status") or "publish"
            if post_type not in ("post", "page", "attachment", "nav_menu_item"):
                self.other_types[post_type] += 1
            if post_type not in ("post", "page") or status not in self.IMPORTED:
                continue
            self.items.append(
                {
                    "type": post_type,
                    "status": status,
                    "title": (item.findtext("title") or "").strip(),
                    "link": (item.findtext("link") or "").strip(),
                    "password": bool((item.findtext(f"{wp}post_password") or "").strip()),
                    "terms": {
                        unquote(category.get("nicename") or category.text or "").lower()
                        for category in item.findall("category")
                        if category.get("domain") in ("category", "post_tag")
                    }
                    - {"uncategorized"},
                }
            )
        self.posts = sum(item["type"] == "post" for item in self.items)
        self.pages = sum(item["type"] == "page" for item in self.items)
        self.tags = len(set().union(*(item["terms"] for item in self.items)))
        self.drafts = sum(
            item["status"] in ("draft", "pending", "private") or item["password"]
            for item in self.items
        )
        self.scheduled = [item for item in self.items if item["status"] == "future"]


async def snapshot(site: Site) -> dict[str, list[dict[str, Any]]]:
    """Every record the site stores, by kind."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with site.storage.exporting() as reader:
        for kind in reader.kinds:
            found[kind] = [record async for batch in reader.records(kind) for record in batch]
    return found


async def all_posts(site: Site, kind: str) -> list[Any]:
    """Every post (or page) of the site, whatever its status."""
    return await site.storage.list_posts(kind=kind, order="updated", limit=5000)  # type: ignore[arg-type]


def names(posts: Iterable[Any]) -> set[str]:
    return {post.title for post in posts}
