"""``[media] backend = "s3"``: the media library in a bucket of a real S3-protocol server
(moto's, on loopback), reached with aiobotocore as in production. Uploads land in the
bucket, pages and ``/media/`` serve from it, deletes and the image commands work on it, an
outage gives 503 on uploads while pages render, and ``cms media migrate`` copies a local
library into it, resumably."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from cms.core.settings import SettingsError
from cms.core.site import Site
from cms.web.images import store_upload
from cms.web.uploads import UploadedFile
from tests.cli_support import TEST_SECRET_KEY, output_of, run_cms
from tests.conftest import (
    ClientFactory,
    make_settings,
    setup_admin,
    site_of,
    write_settings,
)
from tests.image_files import photo
from tests.s3_server import S3Server, s3_server  # noqa: F401 (a fixture)
from tests.test_media_library import Client, delete, upload

IMAGES = {"backend": "pillow", "options": {"workers": 1, "widths": [320, 640]}}


@pytest.fixture
async def bucket(s3_server: S3Server) -> str:  # noqa: F811
    return s3_server.new_bucket()


@pytest.fixture
async def s3_site(make_client: ClientFactory, s3_server: S3Server, bucket: str) -> Client:  # noqa: F811
    client = await make_client(
        images=IMAGES, media=s3_server.media_settings(bucket, prefix="site/")
    )
    await setup_admin(client)
    return client


async def test_uploads_land_in_the_bucket_and_media_serves_them(
    s3_site: Client,
    s3_server: S3Server,  # noqa: F811
    bucket: str,
) -> None:
    media = await upload(s3_site, photo(900, 600, seed=1), "photo.jpg")
    stored = s3_server.objects(bucket)
    assert sorted(stored) == sorted(f"site/{key}" for key in media.keys)
    for rendition in media.renditions:
        url = site_of(s3_site).media.url(rendition.key)  # type: ignore[union-attr]
        assert url == f"/media/{rendition.key}"
        served = await s3_site.get(url)
        assert served.status == 200
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert await served.read() == stored[f"site/{rendition.key}"]
    head = s3_server.client().head_object(Bucket=bucket, Key=f"site/{media.renditions[0].key}")
    assert (
        head["Metadata"]["sha256"]
        == hashlib.sha256(stored[f"site/{media.renditions[0].key}"]).hexdigest()
    )
    # Nothing is left in the local scratch folder once the upload is stored.
    scratch = site_of(s3_site).settings.base_dir / "media-scratch"
    assert [p for p in scratch.rglob("*") if p.is_file()] == []
    # A name no image has is 404 without asking for a file that cannot be there.
    assert (await s3_site.get("/media/ab/" + "ab" + "0" * 30 + ".webp")).status == 404


async def test_deleting_an_image_removes_its_objects(
    s3_site: Client,
    s3_server: S3Server,  # noqa: F811
    bucket: str,
) -> None:
    media = await upload(s3_site, photo(700, 500, seed=2), "gone.jpg")
    assert s3_server.objects(bucket)
    response = await delete(s3_site, media)
    assert response.status == 303, await response.text()
    assert s3_server.objects(bucket) == {}


async def test_a_public_base_url_is_what_pages_link_and_media_redirects_to(
    make_client: ClientFactory,
    s3_server: S3Server,  # noqa: F811
    bucket: str,
) -> None:
    cdn = "https://cdn.example.test/assets/"
    client = await make_client(
        images=IMAGES, media=s3_server.media_settings(bucket, public_base_url=cdn)
    )
    await setup_admin(client)
    media = await upload(client, photo(800, 600, seed=3), "cdn.jpg")
    key = media.renditions[0].key
    assert site_of(client).media.url(key) == f"{cdn}{key}"  # type: ignore[union-attr]
    moved = await client.get(f"/media/{key}", allow_redirects=False)
    assert moved.status == 301
    assert moved.headers["Location"] == f"{cdn}{key}"
    library = await (await client.get("/admin/media")).text()
    assert cdn in library


async def test_an_outage_refuses_uploads_with_503_while_pages_render(
    s3_site: Client,
    s3_server: S3Server,  # noqa: F811
) -> None:
    from cms.content.tokens import issue_token

    site = site_of(s3_site)
    token = (await issue_token(site, "admin", label="uploads")).secret
    headers = {"Authorization": f"Bearer {token}"}

    def form(seed: int) -> Any:
        import aiohttp

        data = aiohttp.FormData()
        data.add_field("file", photo(400, 300, seed=seed), filename="a.jpg")
        return data

    assert (await s3_site.get("/healthz")).status == 200
    s3_server.stop()
    try:
        refused = await s3_site.post("/api/media", data=form(10), headers=headers)
        assert refused.status == 503
        body = await refused.json()
        assert "media store is unavailable" in body["error"]["message"]
        assert refused.headers["Retry-After"] == "5"
        assert (await s3_site.get("/")).status == 200
        health = await s3_site.get("/healthz")
        assert health.status == 503
        report = await health.json()
        assert report["down"] == ["media"] and report["backends"]["media"] == "s3"
        assert await site.storage.list_media() == []  # nothing half-stored
    finally:
        s3_server.start()
    started = time.monotonic()
    while True:
        accepted = await s3_site.post("/api/media", data=form(11), headers=headers)
        if accepted.status == 201 or time.monotonic() - started > 5:
            break
        await asyncio.sleep(0.2)
    assert accepted.status == 201, await accepted.text()
    assert (await s3_site.get("/healthz")).status == 200


async def test_s3_settings_are_checked_at_start_up(site_dir: Path) -> None:
    settings = make_settings(site_dir, media={"backend": "s3", "options": {}})
    with pytest.raises(SettingsError, match=r"\[media\] options \(s3\): bucket"):
        await Site(settings).configure()
    settings = make_settings(site_dir, media={"backend": "s3", "options": {"bucket": "Bad_Name"}})
    with pytest.raises(SettingsError, match=r"bucket"):
        await Site(settings).configure()
    settings = make_settings(site_dir, media={"backend": "nfs"})
    with pytest.raises(SettingsError, match=r"\[media\] backend = 'nfs'.*allowed: local, s3"):
        await Site(settings).configure()


# -- the command line -------------------------------------------------------------------------


async def _upload_into(settings: Path, *images: bytes) -> list[str]:
    """Store images on the site of ``settings``; return every key the library names."""
    from cms.core.settings import load_settings

    site = Site(load_settings(settings))
    await site.configure()
    assert site.images is not None and site.media is not None
    await site.storage.open()
    await site.storage.migrate()
    await site.media.open()
    await site.images.open()
    keys: list[str] = []
    try:
        for index, data in enumerate(images):
            path = await asyncio.to_thread(site.media.temporary_path, ".upload")
            path.write_bytes(data)
            upload = UploadedFile(path, f"{index}.jpg", len(data), hashlib.sha256(data).hexdigest())
            keys.extend((await store_upload(site, upload, uploader=None)).keys)
    finally:
        await site.images.close()
        await site.media.close()
        await site.storage.close()
    return sorted(set(keys))


def _media_table(server: S3Server, bucket: str) -> str:
    options = server.media_settings(bucket)["options"]
    inline = ", ".join(f"{key} = {value!r}".replace("'", '"') for key, value in options.items())
    return f"{{ {inline} }}"


async def test_migrate_copies_a_local_library_and_resumes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_server: S3Server,  # noqa: F811
    bucket: str,
) -> None:
    monkeypatch.setenv("CMS_SECRET_KEY", TEST_SECRET_KEY)
    local = "[images]\noptions = { workers = 1, widths = [320] }\n"
    settings = write_settings(
        tmp_path, local + f"[media.targets.s3]\noptions = {_media_table(s3_server, bucket)}\n"
    )
    keys = await _upload_into(settings, *(photo(500, 400, seed=seed) for seed in range(3)))
    originals = {key: (tmp_path / "media" / key).read_bytes() for key in keys}
    # What an interrupted run leaves: some files copied, one cut short.
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key=keys[0], Body=originals[keys[0]])
    client.put_object(Bucket=bucket, Key=keys[1], Body=originals[keys[1]][:100])

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    from tests.cli_support import cms_env

    run = run_cms(
        "media", "migrate", "--to", "s3", "--settings", settings, cwd=tmp_path, env=cms_env(**env)
    )
    assert run.returncode == 0, output_of(run)
    assert f"{len(keys)} file(s): {len(keys) - 1} copied, 1 already there, 0 failed" in run.stdout
    assert '[media]\nbackend = "s3"\noptions = {' in run.stdout
    assert s3_server.objects(bucket) == originals
    again = run_cms(
        "media", "migrate", "--to", "s3", "--settings", settings, cwd=tmp_path, env=cms_env(**env)
    )
    assert again.returncode == 0, output_of(again)
    assert f"0 copied, {len(keys)} already there" in again.stdout
    # The source is left as it was.
    assert {key: (tmp_path / "media" / key).read_bytes() for key in keys} == originals

    # Switched over, the site serves its images from the bucket.
    write_settings(
        tmp_path, local + f'[media]\nbackend = "s3"\noptions = {_media_table(s3_server, bucket)}\n'
    )
    (tmp_path / "media").rename(tmp_path / "media-old")
    from aiohttp.test_utils import TestClient, TestServer

    from cms.core.settings import load_settings
    from cms.web.app import create_app

    site = Site(load_settings(settings))
    async with TestClient(TestServer(await create_app(site))) as served:
        for key in keys:
            if key.startswith("sources/"):
                continue
            answer = await served.get(f"/media/{key}")
            assert answer.status == 200
            assert await answer.read() == originals[key]


def test_migrate_names_a_missing_target_table(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, "")
    run = run_cms("media", "migrate", "--to", "s3", "--settings", settings, cwd=tmp_path)
    assert run.returncode == 2, output_of(run)
    assert "[media.targets.s3]: no such table in settings; defined: (none)" in run.stderr
