"""``cms import --from wordpress|ghost`` as people run it: the summary, a second run, a dry
run, and bad files refused with one line, exit status 2 and nothing written."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cms.content.importers import BadExport, read_ghost, read_wordpress
from cms.core.settings import load_settings
from cms.core.site import Site
from tests.cli_support import output_of, run_cms
from tests.conftest import POSTGRES_URL_ENV, reset_postgres, service_url, write_settings
from tests.import_support import fixture_file, snapshot

SMALL = "wordpress/importer-small-export.xml"

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><wp:wxr_version>1.2</wp:wxr_version>
<item><title>&lol9;</title><wp:post_type>post</wp:post_type></item></channel></rss>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><wp:wxr_version>1.2</wp:wxr_version>
<item><title>&secret;</title></item></channel></rss>
"""


@pytest.fixture(params=["sqlite", "postgres"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The settings file of a site on each SQL backend, its schema made."""
    folder = tmp_path / "site"
    folder.mkdir()
    if request.param == "sqlite":
        options = 'path = "cms.db"'
    else:
        url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
        await reset_postgres(url)
        options = f'url = "{url}"'
    path = write_settings(
        folder, f'[storage]\nbackend = "{request.param}"\noptions = {{ {options} }}\n'
    )
    migrated = await cms(path, "migrate")
    assert migrated.returncode == 0, output_of(migrated)
    return path


async def cms(settings: Path, *args: Any) -> Any:
    return await asyncio.to_thread(run_cms, *args, "--settings", settings, cwd=settings.parent)


async def stored(settings: Path) -> dict[str, list[dict[str, Any]]]:
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        return await snapshot(site)
    finally:
        await site.storage.close()


async def test_import_dry_run_and_import_again(settings: Path) -> None:
    path = fixture_file(SMALL)
    empty = await stored(settings)
    dry = await cms(settings, "import", "--from", "wordpress", path, "--dry-run")
    assert dry.returncode == 0, output_of(dry)
    assert dry.stdout.startswith("Would import 6 posts, 5 pages, ")
    assert "Dry run: nothing was written." in dry.stdout
    assert await stored(settings) == empty
    first = await cms(settings, "import", "--from", "wordpress", path)
    assert first.returncode == 0, output_of(first)
    assert first.stdout.startswith("Imported 6 posts, 5 pages, ")
    assert (
        dry.stdout.splitlines()[0].replace("Would import", "Imported")
        == (first.stdout.splitlines()[0])
    )
    assert "Not imported: " in first.stdout and "comments" in first.stdout
    assert "█" not in first.stderr and "#" not in first.stderr  # no progress bar: no terminal
    imported = await stored(settings)
    assert len(imported["posts"]) == 11
    again = await cms(settings, "import", "--from", "wordpress", path)
    assert again.returncode == 0, output_of(again)
    assert again.stdout.startswith(
        "Imported 0 posts, 0 pages, 0 tags, 0 users, 0 images, 0 redirects"
    )
    assert "Imported before, left as they are: 11 posts and pages" in again.stdout
    assert await stored(settings) == imported


async def test_a_dry_run_lists_renamed_slugs_and_missing_files(
    settings: Path, tmp_path: Path
) -> None:
    path = fixture_file("wordpress/migrate-feature-image-captions.xml")
    first = await cms(settings, "import", "--from", "wordpress", fixture_file(SMALL))
    assert first.returncode == 0, output_of(first)
    # Another site's export whose slugs this site has now.
    text = fixture_file(SMALL).read_text(encoding="utf-8")
    other = tmp_path / "other.xml"
    other.write_text(text.replace("http://localhost/", "http://other.example/"), "utf-8")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    renamed = await cms(settings, "import", "--from", "wordpress", other, "--dry-run")
    assert renamed.returncode == 0, output_of(renamed)
    assert "Slugs renamed (" in renamed.stdout and "hello-world -> hello-world-2" in renamed.stdout
    missing = await cms(
        settings, "import", "--from", "wordpress", path, "--media-dir", uploads, "--dry-run"
    )
    assert missing.returncode == 0, output_of(missing)
    assert "Image files missing from --media-dir (2):" in missing.stdout
    assert "https://example.com/wp-content/uploads/2013/06/described-image.jpg" in missing.stdout


def _bad_files(tmp_path: Path) -> dict[str, tuple[str, Path, str]]:
    (tmp_path / "laughs.xml").write_text(BILLION_LAUGHS, encoding="utf-8")
    (tmp_path / "entity.xml").write_text(EXTERNAL_ENTITY, encoding="utf-8")
    (tmp_path / "broken.json").write_text('{"db": [{"meta": {}, "data": {"posts": [', "utf-8")
    (tmp_path / "feed.xml").write_text("<rss><channel><item/></channel></rss>", "utf-8")
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    return {
        "malformed xml": ("wordpress", fixture_file("wordpress/migrate-sample.xml"), "line 109"),
        "billion laughs": ("wordpress", tmp_path / "laughs.xml", "DTD or entities"),
        "external entity": ("wordpress", tmp_path / "entity.xml", "DTD or entities"),
        "plain rss": ("wordpress", tmp_path / "feed.xml", "not a WordPress export"),
        "ghost file as wxr": (
            "wordpress",
            fixture_file("ghost/migrate-ghost.json"),
            "malformed XML at line 1",
        ),
        "wxr as ghost": ("ghost", fixture_file(SMALL), "malformed JSON at line 1"),
        "malformed json": ("ghost", tmp_path / "broken.json", "malformed JSON at line 1"),
        "not text": ("ghost", tmp_path / "binary.json", "not a Ghost export"),
        "archive as ghost": ("ghost", tmp_path / "feed.xml", "malformed JSON"),
    }


async def test_bad_files_give_one_line_exit_2_and_change_nothing(
    settings: Path, tmp_path: Path
) -> None:
    seeded = await cms(settings, "import", "--from", "wordpress", fixture_file(SMALL))
    assert seeded.returncode == 0, output_of(seeded)
    before = await stored(settings)
    cases = _bad_files(tmp_path)
    # Every case through the readers (in this process: quick)...
    for name, (system, path, says) in cases.items():
        reader = read_wordpress if system == "wordpress" else read_ghost
        with pytest.raises(BadExport) as refused:
            await asyncio.to_thread(reader, path)
        assert says in str(refused.value), (name, str(refused.value))
    # ...and some through the command line, as people meet them (each is a cms process,
    # ~1.3 s; reading a file does not depend on the storage, so PostgreSQL gets one).
    chosen = ["malformed xml", "billion laughs", "wxr as ghost"]
    if "postgres" in settings.read_text(encoding="utf-8"):  # noqa: ASYNC240 (tiny)
        chosen = chosen[:1]
    for name in chosen:
        system, path, says = cases[name]
        result = await cms(settings, "import", "--from", system, path)
        assert result.returncode == 2, (name, output_of(result))
        assert result.stdout == "", name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (name, result.stderr)
        assert lines[0].startswith(f"Error: cannot import {path}: "), lines[0]
        assert says in lines[0] and lines[0].endswith("Nothing was imported."), (name, lines[0])
    assert await stored(settings) == before


def test_a_file_too_large_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = fixture_file(SMALL)
    with pytest.raises(BadExport, match=r"more than the .* an import reads"):
        read_wordpress(path, max_bytes=1000)
    with pytest.raises(BadExport, match=r"more than the .* an import reads"):
        read_ghost(fixture_file("ghost/migrate-ghost.json"), max_bytes=1000)


def test_a_ghost_export_without_posts_is_not_taken_for_one(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"posts": [{"title": "x"}]}), encoding="utf-8")
    with pytest.raises(BadExport, match="not a Ghost export"):
        read_ghost(other)


async def test_media_dir_and_dry_run_need_from(tmp_path: Path) -> None:
    # A usage error: refused before any storage is opened, whatever the backend.
    settings = write_settings(tmp_path, "")
    result = await cms(settings, "import", "--dry-run", fixture_file(SMALL))
    assert result.returncode == 2
    assert "go with --from" in result.stderr


def test_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess

    from tests.cli_support import CMS, cms_env

    settings = write_settings(
        tmp_path, '[storage]\nbackend = "sqlite"\noptions = { path = "cms.db" }\n'
    )
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [CMS, "import", "--from", "wordpress", fixture_file(SMALL), "--settings", settings],
        cwd=tmp_path,
        env=cms_env(),
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert process.wait(timeout=60) == 0, shown
    text = shown.decode()
    assert "Importing posts" in text and "100%" in text, text
    assert "Imported 6 posts, 5 pages" in text
