"""``cms images rebuild`` (added by the pillow_images plugin through register_commands):
renditions made again after the widths change, through the real command line."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import pytest

from cms.core.settings import load_settings
from cms.core.site import Site
from cms.web.images import store_upload
from cms.web.uploads import UploadedFile
from tests.cli_support import TEST_SECRET_KEY, cms_env, output_of, run_cms
from tests.conftest import write_settings
from tests.image_files import photo

SETTINGS = "[images]\noptions = {{ widths = {widths}, workers = 1 }}\n"


async def upload_into(settings: Path, *images: tuple[str, bytes]) -> None:
    site = Site(load_settings(settings))
    await site.configure()
    assert site.images is not None
    await site.storage.open()
    await site.storage.migrate()
    await site.images.open()
    try:
        for name, data in images:
            path = site.images.store.temporary_path(".upload")
            path.write_bytes(data)
            upload = UploadedFile(path, name, len(data), hashlib.sha256(data).hexdigest())
            await store_upload(site, upload, uploader=None)
    finally:
        await site.images.close()
        await site.storage.close()


async def media_of(settings: Path) -> list[tuple[int, str, int]]:
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        return sorted(
            (media.id, rendition.format, rendition.width)
            for media in await site.storage.list_media()
            for rendition in media.renditions
        )
    finally:
        await site.storage.close()


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


async def test_rebuild_makes_the_new_widths_and_removes_the_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMS_SECRET_KEY", TEST_SECRET_KEY)
    settings = write_settings(tmp_path, SETTINGS.format(widths="[320, 800]"))
    await upload_into(settings, ("a.jpg", photo(1000, 600, seed=1)), ("b.jpg", photo(500, 400)))
    before = files(tmp_path / "media")
    assert await media_of(settings) == [
        (1, "jpeg", 320),
        (1, "jpeg", 800),
        (1, "webp", 320),
        (1, "webp", 800),
        (2, "jpeg", 320),
        (2, "jpeg", 500),
        (2, "webp", 320),
        (2, "webp", 500),
    ]

    settings.write_text(SETTINGS.format(widths="[480, 960]"), encoding="utf-8")
    result = run_cms("images", "rebuild", "--settings", settings, cwd=tmp_path, env=cms_env())
    assert result.returncode == 0, output_of(result)
    assert "Rebuilding" in result.stderr  # the progress bar
    assert "Rebuilt 2 of 2 image(s): 2 with new renditions" in result.stdout
    assert await media_of(settings) == [
        (1, "jpeg", 480),
        (1, "jpeg", 960),
        (1, "webp", 480),
        (1, "webp", 960),
        (2, "jpeg", 480),
        (2, "jpeg", 500),  # its own width: not wider than the widest (960)
        (2, "webp", 480),
        (2, "webp", 500),
    ]
    after = files(tmp_path / "media")
    sources = {name for name in before if name.startswith("sources/")}
    assert sources and sources <= after  # the source copies stay
    assert not (before - sources) & after  # the old renditions are gone
    assert "removed 8 old file(s)" in result.stdout

    again = run_cms("images", "rebuild", "--settings", settings, cwd=tmp_path, env=cms_env())
    assert again.returncode == 0, output_of(again)
    assert "Rebuilt 2 of 2 image(s): 0 with new renditions; removed 0" in again.stdout
    assert files(tmp_path / "media") == after


def test_rebuild_reports_bad_settings_in_one_line(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, SETTINGS.format(widths="[5]"))
    result = run_cms("images", "rebuild", "--settings", settings, cwd=tmp_path, env=cms_env())
    assert result.returncode == 2, output_of(result)
    assert result.stderr.strip().splitlines() == [
        "Error: " + result.stderr.strip().removeprefix("Error: ")
    ]
    assert "[images] options (pillow): widths" in result.stderr


async def test_sweep_removes_only_old_files_that_no_image_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMS_SECRET_KEY", TEST_SECRET_KEY)
    settings = write_settings(tmp_path, SETTINGS.format(widths="[320]"))
    await upload_into(settings, ("a.jpg", photo(600, 400, seed=3)))
    media = tmp_path / "media"
    used = files(media)
    # What an upload killed between its files and its row leaves: an hour old and more...
    orphan = media / "ab" / ("ab" + "0" * 62 + "-320.webp")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left over")
    old = time.time() - 2 * 3600
    os.utime(orphan, (old, old))
    # ... an upload that may still be finishing (its row not written yet) ...
    young = media / "cd" / ("cd" + "0" * 62 + "-320.webp")
    young.parent.mkdir(parents=True, exist_ok=True)
    young.write_bytes(b"arriving")
    # ... and a file cms does not name, which is not its to remove.
    (media / "README").write_text("notes", encoding="utf-8")
    for path in used:
        os.utime(media / path, (old, old))  # in use however old

    listed = run_cms("images", "sweep", "--dry-run", "--settings", settings, cwd=tmp_path)
    assert listed.returncode == 0, output_of(listed)
    key = orphan.relative_to(media).as_posix()
    assert listed.stdout.splitlines() == [
        f"Would remove {key}",
        "Sweep: 1 unused file(s) would be removed.",
    ], output_of(listed)
    assert orphan.exists()

    swept = run_cms("images", "sweep", "--settings", settings, cwd=tmp_path)
    assert swept.returncode == 0, output_of(swept)
    assert swept.stdout.splitlines() == [f"Removed {key}", "Sweep: removed 1 unused file(s)."]
    assert not orphan.exists()
    assert young.exists() and (media / "README").exists()
    assert files(media) == used | {young.relative_to(media).as_posix(), "README"}
    # Every image still shows: its files are all there.
    assert len(await media_of(settings)) == 2


async def test_rebuild_renders_the_posts_showing_an_image_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post's stored HTML names its in-text images' renditions (``media:<hash>``): after
    the rebuild it names the new ones, so it never points at the removed files."""
    from cms.content.posts import save_post

    monkeypatch.setenv("CMS_SECRET_KEY", TEST_SECRET_KEY)
    settings = write_settings(tmp_path, SETTINGS.format(widths="[320, 800]"))
    data = photo(1000, 600, seed=3)
    await upload_into(settings, ("a.jpg", data))
    content_hash = hashlib.sha256(data).hexdigest()

    async def post_html(save: bool) -> tuple[str, int]:
        site = Site(load_settings(settings))
        await site.configure()
        await site.storage.open()
        try:
            if save:
                values = {
                    "title": "Shown",
                    "body": f"![A](media:{content_hash})",
                    "status": "published",
                }
                author = await site.storage.create_user("ada", "x" * 20, "author")
                await save_post(site, None, values, user=author)
                await save_post(site, None, {"title": "Plain", "body": "Text"}, user=None)
            post = await site.storage.get_post_by_slug("shown")
            assert post is not None
            assert post.editor == "ada"  # the rebuild is not an edit: still the last editor
            return post.html, post.version
        finally:
            await site.storage.close()

    before, version = await post_html(save=True)
    assert " 800w" in before
    settings.write_text(SETTINGS.format(widths="[480, 960]"), encoding="utf-8")
    result = run_cms("images", "rebuild", "--settings", settings, cwd=tmp_path, env=cms_env())
    assert result.returncode == 0, output_of(result)
    assert "Rendered 1 post(s) showing them again." in result.stdout
    after, new_version = await post_html(save=False)
    assert " 960w" in after and " 800w" not in after
    assert new_version == version + 1
    urls = re.findall(r'(?:src|srcset)="([^" ]+)', after)
    assert len(urls) == 3  # two sources' first files, and the img
    for url in urls:
        assert (tmp_path / "media" / url.removeprefix("/media/")).is_file(), url
