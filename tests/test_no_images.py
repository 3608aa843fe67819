"""A site without a media library: ``[images] backend = "none"``, or the Pillow plugin
disabled while ``[images]`` is left to its default. Posts still work; uploads are refused
with a clear answer; a backend the settings name that nobody offers stops start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cms.content.tokens import issue_token
from cms.core.settings import SettingsError, load_settings
from cms.core.site import Site
from cms.web.app import create_app
from tests.cli_support import output_of, run_cms
from tests.conftest import ClientFactory, create_post, setup_admin, site_of, write_settings
from tests.image_files import photo


async def check_without_images(client: TestClient[Any, Any]) -> None:
    site = site_of(client)
    assert site.images is None
    await setup_admin(client)
    form = await client.get("/admin/posts/new")
    assert form.status == 200
    response = await create_post(client, title="Words only", slug="words")
    assert response.status == 303, await response.text()
    page = await client.get("/posts/words")
    assert page.status == 200 and "Words only" in await page.text()
    token = (await issue_token(site, "admin", label="no images")).secret
    upload = aiohttp.FormData()
    upload.add_field("file", photo(100, 80), filename="a.jpg", content_type="image/jpeg")
    answer = await client.post(
        "/api/media", data=upload, headers={"Authorization": f"Bearer {token}"}
    )
    assert 400 <= answer.status < 500, await answer.text()
    assert "error" in await answer.json()
    assert (await client.get("/media/ab/ab.webp")).status == 404


async def test_images_none_is_a_site_without_a_media_library(make_client: ClientFactory) -> None:
    client = await make_client(images={"backend": "none"})
    await check_without_images(client)


async def test_disabling_the_pillow_plugin_turns_images_off_by_default(
    site_dir: Path, aiohttp_client: Any
) -> None:
    settings = write_settings(site_dir, '[plugins]\ndisabled = ["pillow_images"]\n')
    app = await create_app(Site(load_settings(settings)))
    await check_without_images(await aiohttp_client(app))


async def test_a_named_image_backend_nobody_offers_stops_start_up(site_dir: Path) -> None:
    settings = write_settings(
        site_dir, '[images]\nbackend = "pillow"\n\n[plugins]\ndisabled = ["pillow_images"]\n'
    )
    with pytest.raises(SettingsError, match=r"\[images\] backend = 'pillow'.*allowed: none$"):
        await Site(load_settings(settings)).configure()
    result = run_cms("serve", "--settings", settings, cwd=site_dir, timeout=30)
    assert result.returncode == 2, output_of(result)
    assert len(result.stderr.strip().splitlines()) == 1, output_of(result)
