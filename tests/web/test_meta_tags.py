"""What link previews, search engines and crawlers read in the ``<head>`` of both themes:
descriptions, canonical links, OpenGraph and Twitter cards, noindex where it belongs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import ClientFactory, create_post, setup_admin
from tests.test_security import without_structured_data


def head_of(page: str) -> str:
    return page.partition("</head>")[0]


def meta(head: str, key: str) -> list[str]:
    return re.findall(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)">', head)


@pytest.fixture(params=["default", "journal"])
async def site(make_client: ClientFactory, request: pytest.FixtureRequest) -> Any:
    client = await make_client(
        theme=request.param,
        site={"title": "Tide Tables", "description": "Notes on the sea, weekly."},
    )
    await setup_admin(client)
    body = "**High water** at noon, & low water at six."
    assert (await create_post(client, title="Spring tides", slug="spring", body=body)).status == 303
    client.session.cookie_jar.clear()
    return client


async def test_a_post_page_describes_itself(site: Any) -> None:
    head = head_of(await (await site.get("/posts/spring")).text())
    address = "http://127.0.0.1:8080/posts/spring"
    assert f'<link rel="canonical" href="{address}">' in head
    assert meta(head, "description") == ["High water at noon, &amp; low water at six."]
    assert meta(head, "og:type") == ["article"]
    assert meta(head, "og:title") == ["Spring tides"]
    assert meta(head, "og:url") == [address]
    assert meta(head, "og:description") == []  # plugins' to give (examples/cms-seo)
    assert meta(head, "twitter:card") == ["summary"]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", meta(head, "article:published_time")[0]
    )
    # The one script is structured data (never run): the article for search engines.
    (block,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', head)
    article = json.loads(block)
    assert article["@type"] == "BlogPosting" and article["headline"] == "Spring tides"
    assert article["url"] == address and article["datePublished"].endswith("+00:00")
    assert article["description"] == "High water at noon, & low water at six."
    assert without_structured_data(head).count("<script") == 0


async def test_the_home_page_has_the_site_description(site: Any) -> None:
    head = head_of(await (await site.get("/")).text())
    assert meta(head, "description") == ["Notes on the sea, weekly."]
    assert '<link rel="canonical" href="http://127.0.0.1:8080/">' in head
    assert meta(head, "og:type") == ["website"]
    assert meta(head, "og:site_name") == ["Tide Tables"]
    (block,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', head)
    assert json.loads(block) == {
        "@context": "https://schema.org",
        "@type": "WebSite",
        "name": "Tide Tables",
        "url": "http://127.0.0.1:8080/",
        "description": "Notes on the sea, weekly.",
    }


@pytest.mark.parametrize("path", ["/login", "/setup"])
async def test_sign_in_pages_are_not_for_search_engines(
    make_client: ClientFactory, path: str
) -> None:
    client = await make_client()
    head = head_of(await (await client.get(path)).text())
    assert meta(head, "robots") == ["noindex"]
