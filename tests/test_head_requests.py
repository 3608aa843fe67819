"""HEAD on every GET route (cms.web.head_requests): the GET's status and headers, no body.

The test walks the application's router, so a route added later (by the core or by a
plugin's ``web.View``) is covered without being listed here.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import hdrs, web
from aiohttp.test_utils import TestClient

from cms import hookimpl
from tests.conftest import ClientFactory, create_post, setup_admin, site_of

#: Headers that may differ between two answers to the same request.
VOLATILE = {"Date", "Set-Cookie"}


class PluginView(web.View):
    """A plugin's view on plain ``web.View``, with ``get`` only."""

    async def get(self) -> web.Response:
        return web.Response(text="plugin page", headers={"X-Plugin": "yes"})


class PostOnlyView(web.View):
    async def post(self) -> web.Response:
        return web.Response(text="posted")


class ViewPlugin:
    @hookimpl
    def register_routes(self) -> list[web.RouteDef]:
        return [
            web.view("/plugin-page", PluginView, name="plugin-page"),
            web.view("/plugin-post", PostOnlyView, name="plugin-post"),
        ]


def _answers_get(route: web.AbstractRoute) -> bool:
    if route.method == hdrs.METH_GET:
        return True
    handler = route.handler
    return (
        route.method == hdrs.METH_ANY
        and isinstance(handler, type)
        and issubclass(handler, web.View)
        and hasattr(handler, "get")
    )


def _paths(client: TestClient[Any, Any], values: dict[str, str]) -> list[str]:
    """A URL for every resource with a GET route, its variables filled from ``values``."""
    paths: list[str] = []
    for resource in client.app.router.resources():
        if not any(_answers_get(route) for route in resource):
            continue
        info = resource.get_info()
        if "path" in info:
            paths.append(info["path"])
        elif "formatter" in info:
            names = re.findall(r"\{(\w+)\}", info["formatter"])
            paths.append(info["formatter"].format(**{n: values.get(n, "x") for n in names}))
        elif "prefix" in info:  # a static folder
            paths.append(info["prefix"] + "/x")
    return paths


async def _compare(client: TestClient[Any, Any], path: str) -> None:
    got = await client.get(path, allow_redirects=False)
    await got.read()
    head = await client.head(path, allow_redirects=False)
    body = await head.read()
    assert head.status == got.status, (path, head.status, got.status)
    assert body == b"", path
    same = {k: v for k, v in got.headers.items() if k not in VOLATILE}
    assert {k: v for k, v in head.headers.items() if k not in VOLATILE} == same, path


async def test_every_get_route_answers_head(make_client: ClientFactory) -> None:
    client = await make_client(plugins=[("views", ViewPlugin())])
    await setup_admin(client)
    response = await create_post(
        client, title="Heads up", slug="heads-up", body="Hello *there*.", tags="Heads up"
    )
    assert response.status == 303
    site = site_of(client)
    post = await site.storage.get_post_by_slug("heads-up")
    assert post is not None
    static = sorted(site.theme.static_files)[0]
    values = {
        "slug": "heads-up",
        "id": str(post.id),
        "post_id": str(post.id),
        "theme": site.theme.name,
        "name": static,
        "filename": static,
        "username": "admin",
    }
    paths = _paths(client, values)
    assert {
        "/",
        "/posts/heads-up",
        "/tags/heads-up",
        "/heads-up",
        "/authors/admin",
        "/healthz",
        "/plugin-page",
        "/api/posts",
    } <= set(paths)
    for path in paths:  # signed in: the admin's pages answer 200
        await _compare(client, path)
    client.session.cookie_jar.clear()
    for path in paths:  # anonymous: redirects to sign-in, 404s and public pages alike
        await _compare(client, path)


async def test_a_view_without_get_still_refuses_head(make_client: ClientFactory) -> None:
    client = await make_client(plugins=[("views", ViewPlugin())])
    response = await client.head("/plugin-post")
    assert response.status == 405
    assert (await client.head("/plugin-page")).headers["X-Plugin"] == "yes"
