"""One address per page (cms.web.middlewares.slashes), robots.txt, and machine-readable
times in ``<time datetime>`` (the ``|iso`` filter)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web

from cms import hookimpl
from tests.conftest import ClientFactory, create_post, setup_admin


@pytest.fixture
async def site(make_client: ClientFactory) -> Any:
    client = await make_client()
    await setup_admin(client)
    assert (await create_post(client, title="Tidy", slug="tidy")).status == 303
    return client


@pytest.mark.parametrize(
    ("asked", "answer"),
    [
        ("/posts/tidy/", "/posts/tidy"),
        ("/posts/tidy/?ref=feed", "/posts/tidy?ref=feed"),
        ("/admin", "/admin/"),
        ("/admin?notice=saved", "/admin/?notice=saved"),
        ("/login/", "/login"),
    ],
)
async def test_the_other_slash_answers_301_to_the_canonical_address(
    site: Any, asked: str, answer: str
) -> None:
    for method in ("GET", "HEAD"):
        response = await site.request(method, asked, allow_redirects=False)
        assert response.status == 301, (method, asked)
        assert response.headers["Location"] == answer


async def test_only_addresses_a_route_has_are_redirected(site: Any) -> None:
    assert (await site.get("/no-such-page", allow_redirects=False)).status == 404
    # Any one segment is a page's address (/{slug}): the other slash leads there, to a 404.
    moved = await site.get("/no-such-page/", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (301, "/no-such-page")
    assert (await site.get("/no/such-page/", allow_redirects=False)).status == 404
    # A post that does not exist: its canonical address says so.
    response = await site.get("/posts/nothing-here/")
    assert response.status == 404 and str(response.url).endswith("/posts/nothing-here")
    # A form posted to the other address is not silently turned into a GET.
    assert (await site.post("/login/", data={}, allow_redirects=False)).status in (403, 404, 405)


class PagesAtTheTop:
    """A route like the pages #14 brings: any one segment at the top of the site."""

    @hookimpl
    def register_routes(self) -> list[web.RouteDef]:
        return [web.view("/{slug}", TopLevelPage, name="top-level-page")]


class TopLevelPage(web.View):
    async def get(self) -> web.Response:
        return web.Response(text=self.request.match_info["slug"])


async def test_no_redirect_can_lead_to_another_host(make_client: ClientFactory) -> None:
    """``/\\evil.example/`` matches nothing, but ``/\\evil.example`` would match ``/{slug}``;
    a browser reads ``Location: /\\evil.example`` as ``//evil.example``: never sent."""
    client = await make_client(plugins=[("pages", PagesAtTheTop())])
    assert (await client.get("/about/", allow_redirects=False)).headers["Location"] == "/about"
    for path in ("/%5Cevil.example/", "/%5C%5Cevil.example/", "/admin//"):
        response = await client.get(path, allow_redirects=False)
        assert response.status != 301, (path, response.headers.get("Location"))


async def test_robots_txt_keeps_crawlers_out_of_the_admin(site: Any) -> None:
    response = await site.get("/robots.txt")
    assert response.status == 200
    assert response.content_type == "text/plain"
    lines = (await response.text()).splitlines()
    assert lines[0] == "User-agent: *"
    assert {"Disallow: /admin/", "Disallow: /api/", "Disallow: /login"} <= set(lines)


async def test_times_have_no_microseconds(site: Any) -> None:
    """HTML's datetime allows at most three fractional digits; Python writes six."""
    for path in ("/", "/posts/tidy", "/admin/"):
        page = await (await site.get(path)).text()
        stamps = re.findall(r'<time datetime="([^"]+)"', page)
        assert stamps, path
        for stamp in stamps:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", stamp), (path, stamp)
