"""``cms export`` / ``cms import`` (cms/content/export.py) and the storage's bulk API, on both SQL
backends: a lossless round trip, SQLite to PostgreSQL through the real CLI, and damaged
files refused with nothing written."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import sqlite3
import tarfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cms import PostField, Text, hookimpl
from cms.content.export import ExportError, export_site, import_site
from cms.content.rendering import render_markdown
from cms.content.tokens import issue_token, user_for_token
from cms.contracts import MenuItem, RevisionNote, SiteNotEmpty, User
from cms.core.passwords import Passwords
from cms.core.settings import load_settings
from cms.core.site import Site
from cms.web.app import create_app
from tests.cli_support import output_of, run_cms
from tests.conftest import (
    ADMIN_PASSWORD,
    POSTGRES_URL_ENV,
    login,
    make_settings,
    reset_postgres,
    service_url,
    write_settings,
)

EVENT_TIME = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


class FieldsPlugin:
    """One field of every type."""

    @hookimpl
    def register_post_fields(self, cms: Site) -> list[PostField]:
        return [
            PostField("subtitle", str, max_length=200),
            PostField("summary", Text),
            PostField("rating", int),
            PostField("score", float),
            PostField("pinned", bool),
            PostField("event_at", datetime),
            PostField("mood", str, choices=["calm", "busy"]),
        ]


FIELDS = ("fields", FieldsPlugin())


async def open_site(site_dir: Path, storage: dict[str, Any], *plugins: Any) -> Site:
    site = Site(make_settings(site_dir, storage=storage), extra_plugins=plugins)
    await site.configure()
    await site.storage.open()
    await site.storage.migrate()
    return site


@pytest.fixture
async def sites(site_dir: Path) -> AsyncIterator[list[Site]]:
    opened: list[Site] = []
    yield opened
    for site in opened:
        await site.storage.close()


async def fill(site: Site) -> dict[str, Any]:
    """Users of every role (one deactivated), posts with links and every field type, a
    token. Returns what the tests check afterwards."""
    storage = site.storage
    password_hash = await Passwords().hash(ADMIN_PASSWORD)
    admin = await storage.create_user("Admin", password_hash, "admin")
    editor = await storage.create_user("editor.two", password_hash, "editor")
    author = await storage.create_user("author-3", password_hash, "author")
    assert admin and editor and author
    await storage.update_user(editor.id, is_active=False)
    await storage.bump_session_generation(author.id)
    first = await storage.create_post(
        {
            "title": "Ünïcode — first",
            "slug": "first",
            "body": "Line one\n\nLine *two*",
            # What the site renders for the body: import makes the html again from it.
            "html": "<p>Line one</p>\n<p>Line <em>two</em></p>\n",
            "status": "published",
            "subtitle": "A subtitle",
            "summary": "Long\ntext " * 100,
            "rating": 2**40,
            "score": 0.1 + 0.2,
            "pinned": True,
            "event_at": EVENT_TIME,
            "mood": "calm",
        },
        author_id=author.id,
    )
    await storage.update_post(first.id, {"title": "Edited"}, editor_id=editor.id)
    draft = await storage.create_post(
        {"title": "Draft", "slug": "draft", "body": "", "html": "", "status": "draft"},
        author_id=None,
    )
    gone = await storage.create_post(
        {"title": "Gone", "slug": "gone", "body": "", "html": "", "status": "draft"},
        author_id=admin.id,
    )
    await storage.delete_post(gone.id)  # ids keep their gap
    # What 0.3 added (format version 2): tags (one renamed, so it has an old slug), a page,
    # a featured post with its own excerpt, a post scheduled a year ahead, menus, a profile.
    await storage.update_post(
        first.id,
        {
            "tags": [("Python", "python"), ("Old name", "old-name")],
            "featured": True,
            "custom_excerpt": "By hand.",
        },
        editor_id=editor.id,
    )
    old = await storage.get_tag("old-name")
    assert old is not None
    await storage.rename_tag(old.id, "New name", "new-name")
    await storage.create_post(
        {
            "title": "About",
            "slug": "about",
            "body": "Us",
            "html": "<p>Us</p>\n",
            "status": "published",
            "kind": "page",
        },
        author_id=admin.id,
    )
    soon = await storage.create_post(
        {
            "title": "Soon",
            "slug": "soon",
            "body": "Later",
            "html": "<p>Later</p>\n",
            "status": "published",
            "published_at": datetime.now(UTC) + timedelta(days=365),
            "tags": [("Python", "python")],
        },
        author_id=author.id,
    )
    await storage.set_menu("primary", [MenuItem("Home", "/"), MenuItem("About", "/about")])
    await storage.update_profile(author.id, display_name="Ada A.", bio="Writes.", avatar=None)
    await storage.update_post(soon.id, {"slug": "later"}, editor_id=None, revision=RevisionNote())
    await storage.set_redirect("/old/feed", "https://example.org/feed")
    # What format version 3 added: a post in the trash (restorable after the move, with its
    # revisions) and where imported items came from (importing that file again adds nothing).
    binned = await storage.create_post(
        {"title": "Binned", "slug": "binned", "body": "Kept", "html": "<p>Kept</p>\n",
         "status": "published", "tags": [("Python", "python")]},
        author_id=author.id,
        revision=RevisionNote(),
    )  # fmt: skip
    await storage.trash_post(binned.id, user_id=admin.id)
    async with storage.merging() as writer:
        await writer.remember_sources(
            "wordpress:https://old.example",
            [("post", "7", first.id), ("user", "2", author.id), ("post", "9", 999_999)],
            when=datetime(2024, 5, 17, 7, 30, tzinfo=UTC),
        )
    issued = await issue_token(site, "author-3", label="CI")
    return {"secret": issued.secret, "first": first.id, "draft": draft.id, "last": binned.id}


async def everything(site: Site) -> dict[str, Any]:
    """The whole site as the storage contract shows it."""
    storage = site.storage
    users = await storage.list_users()
    posts = await storage.list_posts(limit=1000, order="updated")
    tokens = await storage.list_tokens()
    return {
        "users": sorted(
            [
                (
                    u.id,
                    u.username,
                    u.role,
                    u.password_hash,
                    u.is_active,
                    u.session_generation,
                    u.created_at,
                    u.display_name,
                    u.bio,
                )
                for u in users
            ]
        ),
        "posts": sorted(posts, key=lambda post: post.id),
        "pages": await storage.list_posts(limit=1000, order="updated", kind="page"),
        "tokens": tokens,
        "tags": await storage.list_tags(),
        "moved": await storage.tag_moved_to("old-name"),
        "menus": await storage.get_menus(),
        "old slug": await storage.post_moved_to("soon"),
        "redirects": await storage.list_redirects(),
        "revisions": [await storage.list_revisions(post.id) for post in posts],
        "trash": await storage.list_trash(),
        "import sources": await _known_sources(storage),
    }


async def _known_sources(storage: Any) -> dict[tuple[str, str], int]:
    async with storage.merging() as writer:
        known: dict[tuple[str, str], int] = await writer.known_sources(
            "wordpress:https://old.example"
        )
        return known


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive
            if member.isfile()
        }


def rebuild(path: Path, target: Path, change: Any) -> None:
    """Write a copy of an export with ``change(files)`` applied to its members."""
    files = members(path)
    change(files)
    with tarfile.open(target, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def rechecksum(files: dict[str, bytes]) -> None:
    manifest = json.loads(files["manifest.json"])
    for name in manifest["checksums"]:
        manifest["checksums"][name] = "sha256:" + hashlib.sha256(files[name]).hexdigest()
    files["manifest.json"] = json.dumps(manifest).encode()


@pytest.fixture
async def exported(
    site_dir: Path, tmp_path: Path, sites: list[Site]
) -> tuple[Path, Site, dict[str, Any]]:
    """An export of a filled SQLite site, the site, and what fill() returned."""
    source = await open_site(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "source.db")}}, FIELDS
    )
    sites.append(source)
    facts = await fill(source)
    path = tmp_path / "site.tar.gz"
    await export_site(source, path)
    return path, source, facts


# -- the format and the bulk API, on both backends ---------------------------------------


async def test_round_trip_is_lossless(
    exported: tuple[Path, Site, dict[str, Any]],
    site_dir: Path,
    storage_settings: dict[str, Any],
    sites: list[Site],
    tmp_path: Path,
) -> None:
    path, source, facts = exported
    target = await open_site(site_dir, storage_settings, FIELDS)
    sites.append(target)
    summary = await import_site(target, path)
    assert summary.counts == {
        "users": 3,
        "posts": 4,
        "tags": 2,
        "post_tags": 3,
        "tag_redirects": 1,
        "publications": 1,
        "old_slugs": 1,
        "tokens": 1,
        "media": 0,
        "menus": 1,
        "redirects": 1,
        "revisions": 1,  # the trashed post's is in its trash entry
        "trash": 1,
        "import_sources": 3,
        "settings": 0,
    }

    assert await everything(target) == await everything(source)
    # The trashed post comes back from the moved site's trash, with its revision.
    (entry,) = await target.storage.list_trash()
    restored = await target.storage.restore_trashed(entry.id)
    assert (restored.slug, restored.tag_names) == ("binned", ["Python"])
    assert len(await target.storage.list_revisions(restored.id)) == 1
    post = await target.storage.get_post(facts["first"])
    assert post is not None
    assert (post.version, post.author, post.editor) == (3, "author-3", "editor.two")
    assert post.tag_names == ["Python", "New name"] and post.featured
    assert post.excerpt == "By hand." and post.byline == "Ada A."
    assert post.event_at == EVENT_TIME and post.rating == 2**40 and post.score == 0.1 + 0.2
    # The API token still works on the new site (its digest moved, never the secret).
    found = await user_for_token(target, facts["secret"])
    assert found is not None and found[0].username == "author-3"
    # New rows get fresh ids after the imported ones (PostgreSQL sequences were moved on).
    fresh = await target.storage.create_post(
        {"title": "New", "slug": "new", "body": "", "html": "", "status": "draft"},
        author_id=None,
    )
    assert fresh.id == facts["last"] + 1
    newcomer = await target.storage.create_user("newcomer", "x" * 20, "author")
    assert newcomer is not None and newcomer.id == 4


async def test_reexport_gives_the_same_content(
    exported: tuple[Path, Site, dict[str, Any]],
    site_dir: Path,
    storage_settings: dict[str, Any],
    sites: list[Site],
    tmp_path: Path,
) -> None:
    path, _, _ = exported
    target = await open_site(site_dir, storage_settings, FIELDS)
    sites.append(target)
    await import_site(target, path)
    again = tmp_path / "again.tar.gz"
    await export_site(target, again)
    first, second = members(path), members(again)
    manifests = [json.loads(files.pop("manifest.json")) for files in (first, second)]
    assert first == second
    for manifest in manifests:
        assert manifest["format"] == "cms-export" and manifest["version"] == 3
        del manifest["created_at"], manifest["source"]
    assert manifests[0] == manifests[1]


async def test_export_is_one_snapshot_and_the_archive_is_private(
    exported: tuple[Path, Site, dict[str, Any]],
) -> None:
    path, _, _ = exported
    assert path.stat().st_mode & 0o777 == 0o600  # it holds password hashes
    files = members(path)
    assert list(files) == [
        "manifest.json",
        "users.jsonl",
        "posts.jsonl",
        "tags.jsonl",
        "post_tags.jsonl",
        "tag_redirects.jsonl",
        "publications.jsonl",
        "old_slugs.jsonl",
        "tokens.jsonl",
        "media.jsonl",
        "menus.jsonl",
        "redirects.jsonl",
        "revisions.jsonl",
        "trash.jsonl",
        "import_sources.jsonl",
        "settings.jsonl",
    ]
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"]["posts"] == 4
    assert {f["name"] for f in manifest["fields"]} >= {"subtitle", "event_at"}
    user = json.loads(files["users.jsonl"].splitlines()[0])
    assert user["password_hash"].startswith("$argon2")
    post = json.loads(files["posts.jsonl"].splitlines()[0])
    assert post["event_at"] == "2024-05-17T07:30:15.123456Z"
    token = json.loads(files["tokens.jsonl"])
    assert len(token["token_hash"]) == 64 and "secret" not in token


async def test_import_refuses_a_site_with_content(
    exported: tuple[Path, Site, dict[str, Any]],
    site_dir: Path,
    storage_settings: dict[str, Any],
    sites: list[Site],
) -> None:
    path, _, _ = exported
    target = await open_site(site_dir, storage_settings, FIELDS)
    sites.append(target)
    await target.storage.create_user("someone", "x" * 20, "admin")
    with pytest.raises(SiteNotEmpty, match=r"not empty \(1 users\)"):
        await import_site(target, path)
    assert await target.storage.list_posts(limit=10, order="updated") == []


async def test_importing_is_all_or_nothing(
    site_dir: Path, storage_settings: dict[str, Any], sites: list[Site]
) -> None:
    site = await open_site(site_dir, storage_settings)
    sites.append(site)
    now = datetime.now(UTC)
    user = {
        "id": 7,
        "username": "Seven",
        "role": "admin",
        "password_hash": "x" * 20,
        "is_active": True,
        "session_generation": 0,
        "created_at": now,
    }
    with pytest.raises(RuntimeError):
        async with site.storage.importing() as writer:
            await writer.write("users", [user])
            raise RuntimeError("the file turned out bad half-way")
    assert await site.storage.count_users() == 0
    async with site.storage.importing() as writer:
        await writer.write("users", [user])
    assert (await site.storage.get_user_by_username("seven")) == User(
        7, "Seven", "admin", "x" * 20, True, 0, now
    )


# -- damaged files -----------------------------------------------------------------------


async def refused(site: Site, path: Path) -> str:
    with pytest.raises(ExportError) as caught:
        await import_site(site, path)
    assert await site.storage.count_users() == 0, "something was written"
    return str(caught.value)


@pytest.fixture
async def empty_site(site_dir: Path, sites: list[Site], tmp_path: Path) -> Site:
    site = await open_site(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "target.db")}}, FIELDS
    )
    sites.append(site)
    return site


async def test_a_truncated_export_is_refused(
    exported: tuple[Path, Site, dict[str, Any]], empty_site: Site, tmp_path: Path
) -> None:
    path, _, _ = exported
    cut = tmp_path / "cut.tar.gz"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated or damaged" in await refused(empty_site, cut)


async def test_a_corrupt_export_is_refused(
    exported: tuple[Path, Site, dict[str, Any]], empty_site: Site, tmp_path: Path
) -> None:
    path, _, _ = exported
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    assert "truncated or damaged" in await refused(empty_site, bad)
    not_gzip = tmp_path / "notes.txt"
    not_gzip.write_text("hello")
    assert "truncated or damaged" in await refused(empty_site, not_gzip)


async def test_a_changed_record_fails_its_checksum(
    exported: tuple[Path, Site, dict[str, Any]], empty_site: Site, tmp_path: Path
) -> None:
    path, _, _ = exported
    bad = tmp_path / "edited.tar.gz"

    def edit(files: dict[str, bytes]) -> None:
        files["posts.jsonl"] = files["posts.jsonl"].replace(b"Edited", b"Hacked")

    rebuild(path, bad, edit)
    assert "posts.jsonl does not match its checksum" in await refused(empty_site, bad)


async def test_invalid_records_are_listed_and_nothing_is_written(
    exported: tuple[Path, Site, dict[str, Any]], empty_site: Site, tmp_path: Path
) -> None:
    path, _, _ = exported
    bad = tmp_path / "invalid.tar.gz"

    def edit(files: dict[str, bytes]) -> None:
        lines = files["posts.jsonl"].splitlines()
        post = json.loads(lines[0])
        post.update(status="bogus", rating="lots")
        draft = json.loads(lines[1])
        draft["author_id"] = 99
        lines[:2] = [json.dumps(p).encode() for p in (post, draft)]
        files["posts.jsonl"] = b"\n".join(lines) + b"\n"
        rechecksum(files)

    rebuild(path, bad, edit)
    message = await refused(empty_site, bad)
    # One line (the CLI prints it as it is), each problem naming the post.
    assert message == (
        "2 problems: posts.jsonl line 1 (post 1, slug 'first'): status: Input should be "
        "'draft' or 'published'; posts.jsonl line 2 (post 2, slug 'draft'): author_id 99 is "
        "not a user in this export"
    )


async def test_an_export_from_a_newer_cms_or_with_unknown_fields_is_refused(
    exported: tuple[Path, Site, dict[str, Any]],
    site_dir: Path,
    sites: list[Site],
    empty_site: Site,
    tmp_path: Path,
) -> None:
    path, _, _ = exported
    newer = tmp_path / "newer.tar.gz"

    def bump(files: dict[str, bytes]) -> None:
        manifest = json.loads(files["manifest.json"])
        manifest["version"] = 4
        files["manifest.json"] = json.dumps(manifest).encode()

    rebuild(path, newer, bump)
    assert "format version 4, made by a newer cms" in await refused(empty_site, newer)

    plain = await open_site(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "plain.db")}}
    )
    sites.append(plain)
    message = await refused(plain, path)
    assert "post fields this site does not declare: subtitle (plugin fields)" in message


async def test_unsafe_member_paths_are_refused(
    exported: tuple[Path, Site, dict[str, Any]], empty_site: Site, tmp_path: Path
) -> None:
    path, _, _ = exported
    for name in ("../escape.jsonl", "/etc/passwd", "extra.py"):
        bad = tmp_path / "unsafe.tar.gz"
        rebuild(path, bad, lambda files, name=name: files.__setitem__(name, b"x"))
        message = await refused(empty_site, bad)
        assert "unsafe path" in message or "does not belong" in message, message


# -- the real CLI: SQLite with 1,000 posts and users to PostgreSQL -----------------------

POSTS, USERS = 1000, 1000

SUBTITLE_PLUGIN = """
from cms import PostField, hookimpl


@hookimpl
def register_post_fields(cms):
    return [PostField("subtitle", str, label="Subtitle", max_length=200)]
"""


async def seed(settings: Path) -> None:
    """A SQLite site with 1,000 users (sharing one password hash: hashing is slow) and
    1,000 posts by them, some with the plugin's field."""
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        password_hash = await Passwords().hash(ADMIN_PASSWORD)
        roles = ("admin", "editor", "author")
        for number in range(USERS):
            await site.storage.create_user(f"user{number}", password_hash, roles[number % 3])
        for number in range(POSTS):
            values = {
                "title": f"Post number {number}",
                "slug": f"post-{number}",
                "body": f"Body {number}",
                "html": f"<p>Body {number}</p>\n",  # as rendered: import renders it again
                "status": "published" if number % 4 else "draft",
                "subtitle": f"Sub {number}" if number % 2 else None,
            }
            await site.storage.create_post(values, author_id=1 + number % USERS)
    finally:
        await site.storage.close()


async def signed_in_client(aiohttp_client: Any, settings: Path) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(await create_app(load_settings(settings)))
    return client


async def test_sqlite_site_moves_to_postgres_through_the_cli(
    tmp_path: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    await reset_postgres(url)
    monkeypatch.setenv("CMS_SECRET_KEY", "test secret key, not for production")
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "subtitle.py").write_text(SUBTITLE_PLUGIN, encoding="utf-8")
    head = '[plugins]\ndir = "plugins"\n'
    settings = write_settings(
        tmp_path, head + '[storage]\nbackend = "sqlite"\noptions = { path = "cms.db" }\n'
    )
    await seed(settings)

    result = await asyncio.to_thread(
        run_cms, "export", "-o", "first.tar.gz", "--settings", settings, cwd=tmp_path, timeout=180
    )
    assert result.returncode == 0, output_of(result)
    assert result.stdout.strip() == (f"Exported {USERS} users, {POSTS} posts to first.tar.gz")
    assert "Exporting posts" in result.stderr  # the progress bar, on stderr

    # Switch the settings to PostgreSQL; create its schema; import.
    settings = write_settings(
        tmp_path, head + f'[storage]\nbackend = "postgres"\noptions = {{ url = "{url}" }}\n'
    )
    result = await asyncio.to_thread(run_cms, "migrate", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    result = await asyncio.to_thread(
        run_cms, "import", "first.tar.gz", "--settings", settings, cwd=tmp_path, timeout=180
    )
    assert result.returncode == 0, output_of(result)
    assert f"Imported {USERS} users, {POSTS} posts" in result.stdout
    assert "Importing posts" in result.stderr

    # The site on PostgreSQL shows the same posts, and an old password signs in.
    client = await signed_in_client(aiohttp_client, settings)
    for number in (1, 2, 3, 999):
        page = await client.get(f"/posts/post-{number}")
        assert page.status == 200, number
        text = await page.text()
        assert f"Post number {number}" in text
        if number % 2:
            assert f"Sub {number}" in text
    assert (await client.get("/posts/post-0")).status == 404  # still a draft
    response = await login(client, "USER0", ADMIN_PASSWORD)
    assert response.status == 303, await response.text()
    users_page = await client.get("/admin/users")
    assert users_page.status == 200 and "user999" in await users_page.text()
    index = await client.get("/")
    assert "Post number 999" in await index.text()
    await client.close()

    # A second import is refused: the site has content now.
    result = await asyncio.to_thread(
        run_cms, "import", "first.tar.gz", "--settings", settings, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 1, output_of(result)
    assert "the site is not empty (1000 users, 1000 posts)" in result.stderr, output_of(result)

    # Exporting from PostgreSQL gives the same content.
    result = await asyncio.to_thread(
        run_cms, "export", "-o", "second.tar.gz", "--settings", settings, cwd=tmp_path, timeout=180
    )
    assert result.returncode == 0, output_of(result)
    first, second = members(tmp_path / "first.tar.gz"), members(tmp_path / "second.tar.gz")
    manifests = [json.loads(files.pop("manifest.json")) for files in (first, second)]
    assert manifests[0]["source"] == {"storage": "sqlite"}
    assert manifests[1]["source"] == {"storage": "postgres"}
    for manifest in manifests:
        del manifest["created_at"], manifest["source"]
    assert manifests[0] == manifests[1]
    assert first == second


async def test_cli_refuses_a_truncated_export_and_writes_nothing(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, "")
    fake = tmp_path / "export.tar.gz"
    with gzip.open(fake, "wb") as stream:
        stream.write(b"x" * 100_000)
    data = fake.read_bytes()
    fake.write_bytes(data[: len(data) - 10])
    result = await asyncio.to_thread(
        run_cms, "import", "export.tar.gz", "--settings", settings, cwd=tmp_path
    )
    assert result.returncode == 2, output_of(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output_of(result)
    assert lines[0].startswith(
        "Error: cannot import export.tar.gz: the file is truncated or damaged"
    ), output_of(result)
    assert lines[0].endswith(". Nothing was imported."), output_of(result)
    assert "Traceback" not in result.stderr
    # The file is checked before the database is opened: not even a schema was created.
    assert not (tmp_path / "cms.db").exists()


def test_cli_export_needs_an_up_to_date_schema_and_names_what_it_leaves_out(
    tmp_path: Path,
) -> None:
    (tmp_path / "plugins").mkdir()
    settings = write_settings(tmp_path, '[plugins]\ndir = "plugins"\n')
    assert run_cms("migrate", "--settings", settings, cwd=tmp_path).returncode == 0
    plugin = tmp_path / "plugins" / "subtitle.py"
    plugin.write_text(SUBTITLE_PLUGIN, encoding="utf-8")

    behind = run_cms("export", "-o", "a.tar.gz", "--settings", settings, cwd=tmp_path)
    assert behind.returncode == 1, output_of(behind)
    assert behind.stderr.strip() == (
        "Error: cannot export: the database schema is not up to date (added column "
        "cms_posts.subtitle): run cms migrate first"
    ), output_of(behind)
    assert not (tmp_path / "a.tar.gz").exists()

    assert run_cms("migrate", "--settings", settings, cwd=tmp_path).returncode == 0
    plugin.unlink()
    leftover = run_cms("export", "-o", "b.tar.gz", "--settings", settings, cwd=tmp_path)
    assert leftover.returncode == 0, output_of(leftover)
    assert (
        "Warning: column cms_posts.subtitle is not declared by the core or any installed "
        "plugin: kept with its data; it is not exported"
    ) in leftover.stderr.splitlines(), output_of(leftover)
    assert (tmp_path / "b.tar.gz").exists()


# -- media -----------------------------------------------------------------------------------


async def media_site(site_dir: Path, storage: dict[str, Any], folder: str) -> Site:
    """A site whose media folder is ``folder`` (two sites in one test folder)."""
    images = {"backend": "pillow", "options": {"media_dir": folder, "workers": 1}}
    site = Site(make_settings(site_dir, storage=storage, images=images))
    await site.configure()
    await site.storage.open()
    await site.storage.migrate()
    return site


async def test_media_rows_and_files_round_trip(
    site_dir: Path, storage_settings: dict[str, Any], sites: list[Site], tmp_path: Path
) -> None:
    from cms.web.images import store_upload
    from cms.web.uploads import UploadedFile
    from tests.image_files import photo, transparent_png

    source = await media_site(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "m.db")}}, "media-a"
    )
    sites.append(source)
    uploader = await source.storage.create_user("Uploader", "x" * 20, "author")
    assert source.images is not None
    await source.images.open()
    try:
        for name, data in (("p.jpg", photo(900, 500)), ("t.png", transparent_png(300, 200))):
            path = source.images.store.temporary_path(".upload")
            path.write_bytes(data)
            upload = UploadedFile(path, name, len(data), hashlib.sha256(data).hexdigest())
            await store_upload(source, upload, uploader=uploader)
    finally:
        await source.images.close()
    originals = await source.storage.list_media()
    assert len(originals) == 2
    archive = tmp_path / "media.tar.gz"
    summary = await export_site(source, archive)
    assert summary.counts["media"] == 2
    files = members(archive)
    keys = {key for media in originals for key in media.keys}
    assert {name for name in files if name.startswith("media/")} == {f"media/{k}" for k in keys}
    record = json.loads(files["media.jsonl"].splitlines()[0])
    assert record["original_name"] == "p.jpg" and record["uploader_id"] == uploader.id

    target = await media_site(site_dir, storage_settings, "media-b")
    sites.append(target)
    imported = await import_site(target, archive)
    assert imported.counts["media"] == 2
    assert await target.storage.list_media() == originals
    for key in keys:
        assert (site_dir / "media-b" / key).read_bytes() == (
            site_dir / "media-a" / key
        ).read_bytes()
    assert not list((site_dir / "media-b" / ".tmp").iterdir())


async def test_images_in_a_posts_text_survive_an_import(
    site_dir: Path, storage_settings: dict[str, Any], sites: list[Site], tmp_path: Path
) -> None:
    """The import renders posts before it writes the media rows: the archive's own media
    records stand in, so ``![alt](media:<hash>)`` is a <picture> on the new site too."""
    from cms.content.posts import save_post
    from cms.web.images import store_upload
    from cms.web.uploads import UploadedFile
    from tests.image_files import photo

    source = await media_site(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "i.db")}}, "media-a"
    )
    sites.append(source)
    writer = await source.storage.create_user("Writer", "x" * 20, "author")
    assert source.images is not None
    await source.images.open()
    try:
        data = photo(900, 500)
        path = source.images.store.temporary_path(".upload")
        path.write_bytes(data)
        upload = UploadedFile(path, "p.jpg", len(data), hashlib.sha256(data).hexdigest())
        media = await store_upload(source, upload, uploader=writer)
    finally:
        await source.images.close()
    body = f"Look.\n\n![A harbour](media:{media.content_hash})"
    saved = await save_post(
        source, None, {"title": "Harbour", "body": body, "status": "published"}, user=writer
    )
    assert "<picture>" in saved.html
    archive = tmp_path / "inline.tar.gz"
    await export_site(source, archive)

    target = await media_site(site_dir, storage_settings, "media-b")
    sites.append(target)
    await import_site(target, archive)
    imported = await target.storage.get_post(saved.id)
    assert imported is not None
    assert imported.html == saved.html
    assert 'alt="A harbour"' in imported.html and " 900w" in imported.html


async def test_an_export_missing_a_media_file_imports_nothing(
    site_dir: Path, sites: list[Site], tmp_path: Path
) -> None:
    from tests.image_files import photo

    source = await media_site(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "s.db")}}, "media-a"
    )
    sites.append(source)
    assert source.images is not None
    await source.images.open()
    try:
        path = source.images.store.temporary_path(".upload")
        path.write_bytes(photo(400, 300))
        stored = await source.images.ingest(path, "p.jpg")
    finally:
        await source.images.close()
    await source.storage.create_media(stored, original_name="p.jpg", uploader_id=None)
    archive = tmp_path / "media.tar.gz"
    await export_site(source, archive)
    broken = tmp_path / "broken.tar.gz"
    lost = f"media/{stored.renditions[0].key}"

    def drop(files: dict[str, bytes]) -> None:
        del files[lost]
        manifest = json.loads(files["manifest.json"])
        del manifest["checksums"][lost]
        files["manifest.json"] = json.dumps(manifest).encode()

    rebuild(archive, broken, drop)
    target = await media_site(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "t.db")}}, "media-b"
    )
    sites.append(target)
    with pytest.raises(ExportError, match=f"file {lost} is not in the archive"):
        await import_site(target, broken)
    assert await target.storage.list_media() == []
    assert not [p for p in (site_dir / "media-b").rglob("*") if p.is_file()]
    # A media file gone from the store stops an export, naming it.
    (site_dir / "media-a" / stored.renditions[0].key).unlink()
    with pytest.raises(ExportError, match="is missing from the media store"):
        await export_site(source, tmp_path / "again.tar.gz")


# -- what an edited archive may not bring in (cms import, as a user runs it) ----------------

HELLO_BODY = "Hello *world*"
SCRIPT = "<script>alert(1)</script>"
ONERROR = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def plain_export(site_dir: Path, sites: list[Site], tmp_path: Path) -> Path:
    """An export of a site without plugins (what a ``cms`` subprocess can read): two users,
    a token and two published posts (``hello`` by the author, ``notes``), rendered as the
    site renders them."""
    source = await open_site(
        site_dir, {"backend": "sqlite", "options": {"path": str(tmp_path / "plain.db")}}
    )
    sites.append(source)
    password_hash = await Passwords().hash(ADMIN_PASSWORD)
    admin = await source.storage.create_user("admin", password_hash, "admin")
    author = await source.storage.create_user("author", password_hash, "author")
    assert admin and author
    for slug, body, user in (("hello", HELLO_BODY, author), ("notes", "Some notes", admin)):
        await source.storage.create_post(
            {
                "title": slug.capitalize(),
                "slug": slug,
                "body": body,
                "html": render_markdown(body),
                "status": "published",
            },
            author_id=user.id,
        )
    await issue_token(source, "admin", label="CI")
    path = tmp_path / "plain.tar.gz"
    await export_site(source, path)
    return path


def edited(path: Path, target: Path, kind: str, change: Any) -> Path:
    """A copy of an export whose ``kind`` records went through ``change(records)``, with
    counts and checksums made to match: only the rules of the records can refuse it."""

    def edit(files: dict[str, bytes]) -> None:
        name = f"{kind}.jsonl"
        records = [json.loads(line) for line in files[name].splitlines()]
        change(records)
        files[name] = b"".join(json.dumps(record).encode() + b"\n" for record in records)
        manifest = json.loads(files["manifest.json"])
        manifest["counts"][kind] = len(records)
        files["manifest.json"] = json.dumps(manifest).encode()
        rechecksum(files)

    rebuild(path, target, edit)
    return target


@pytest.fixture(params=["sqlite", "postgres"])
async def target_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The settings file of an empty site to import into, on each SQL backend."""
    folder = tmp_path / "target"
    folder.mkdir()
    if request.param == "sqlite":
        options = 'path = "cms.db"'
    else:
        url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
        await reset_postgres(url)
        options = f'url = "{url}"'
    storage = f'[storage]\nbackend = "{request.param}"\noptions = {{ {options} }}\n'
    return write_settings(folder, storage)


async def cms_import(archive: Path, settings: Path) -> Any:
    return await asyncio.to_thread(
        run_cms, "import", archive, "--settings", settings, cwd=settings.parent
    )


async def imported_counts(settings: Path) -> tuple[int, int]:
    """(users, posts) of the site behind ``settings`` (its schema made first, if missing)."""
    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        posts = await site.storage.list_posts(limit=10, order="updated")
        return await site.storage.count_users(), len(posts)
    finally:
        await site.storage.close()


async def test_imported_html_is_made_again_from_the_body(
    plain_export: Path, target_settings: Path, tmp_path: Path, aiohttp_client: Any
) -> None:
    def inject(posts: list[dict[str, Any]]) -> None:
        hello, notes = posts
        # Markup only in the html, beside an innocent body ...
        hello["html"] = f"<p>Hi</p>{SCRIPT}{ONERROR}<a href='javascript:alert(1)'>x</a>"
        # ... and in the body, which the site's sanitizer cleans as on any save.
        notes["body"] = f"Some notes\n\n{SCRIPT}\n\n{ONERROR}"
        notes["html"] = notes["body"]
        notes["image"] = "/static/cover.png"  # an address: shown as a plain <img>

    archive = edited(plain_export, tmp_path / "markup.tar.gz", "posts", inject)
    result = await cms_import(archive, target_settings)
    assert result.returncode == 0, output_of(result)
    assert "Imported 2 users, 2 posts, 1 tokens" in result.stdout
    assert "Rendering posts" in result.stderr

    client: TestClient[Any, Any] = await aiohttp_client(
        await create_app(load_settings(target_settings))
    )
    for slug in ("hello", "notes"):
        page = await client.get(f"/posts/{slug}")
        text = await page.text()
        assert page.status == 200, text
        assert "alert(1)" not in text and "onerror" not in text, text
    hello = await (await client.get("/posts/hello")).text()
    assert "<p>Hello <em>world</em></p>" in hello and "<p>Hi</p>" not in hello
    notes = await (await client.get("/posts/notes")).text()
    assert '<img src="x">' in notes and 'src="/static/cover.png"' in notes
    api = await (await client.get("/api/posts/1")).json()
    assert api["data"]["html"] == render_markdown(HELLO_BODY)


def _slug(posts: list[dict[str, Any]]) -> None:
    posts[0]["slug"] = "Hello World"


def _image(posts: list[dict[str, Any]]) -> None:
    posts[0]["image"] = "javascript:alert(1)"


def _image_hash(posts: list[dict[str, Any]]) -> None:
    posts[0]["image"] = "ab" * 32


def _status(posts: list[dict[str, Any]]) -> None:
    posts[0]["status"] = "archived"


def _title(posts: list[dict[str, Any]]) -> None:
    posts[0]["title"] = "Two\nlines"


def _role(users: list[dict[str, Any]]) -> None:
    users[1]["role"] = "root"


def _username(users: list[dict[str, Any]]) -> None:
    users[1]["username"] = "<b>author</b>"


def _label(tokens: list[dict[str, Any]]) -> None:
    tokens[0]["label"] = "two\nlines"


HELLO = "posts.jsonl line 1 (post 1, slug 'hello')"


@pytest.mark.parametrize(
    ("kind", "change", "problem"),
    [
        (
            "posts",
            _slug,
            "posts.jsonl line 1 (post 1, slug 'Hello World'): slug: use lowercase letters, "
            "digits and single hyphens, like my-first-post",
        ),
        (
            "posts",
            _image,
            f"{HELLO}: image: use the content hash (64 hex digits) of an image in this export, "
            "an http:// or https:// address, or a path on this site (/...), without spaces or "
            "quotes",
        ),
        (
            "posts",
            _image_hash,
            f"{HELLO}: image: {'ab' * 32} is not the content_hash of an image in this export "
            "(media.jsonl)",
        ),
        ("posts", _status, f"{HELLO}: status: Input should be 'draft' or 'published'"),
        (
            "posts",
            _title,
            f"{HELLO}: title: control characters (such as line breaks) are not allowed",
        ),
        ("users", _role, "users.jsonl line 2: role: Input should be 'admin', 'editor' or 'author'"),
        (
            "users",
            _username,
            "users.jsonl line 2: username: Use letters, digits and . _ @ - (at most 150), "
            "starting with a letter or digit.",
        ),
        (
            "tokens",
            _label,
            "tokens.jsonl line 1: label: control characters (such as line breaks) are not allowed",
        ),
    ],
    ids=["slug", "image", "image-hash", "status", "title", "role", "username", "token-label"],
)
async def test_a_record_that_breaks_the_site_rules_imports_nothing(
    plain_export: Path,
    target_settings: Path,
    tmp_path: Path,
    kind: str,
    change: Any,
    problem: str,
) -> None:
    archive = edited(plain_export, tmp_path / "bad.tar.gz", kind, change)
    result = await cms_import(archive, target_settings)
    assert result.returncode == 2, output_of(result)
    assert result.stderr.splitlines() == [
        f"Error: cannot import {archive}: {problem}. Nothing was imported."
    ], output_of(result)
    # Refused before the schema was touched (no "schema: created table" line above).
    assert await imported_counts(target_settings) == (0, 0)


def unsafe_copy(path: Path, target: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    """A copy of an export with one more member, added as given (not through rebuild(),
    which would only make regular files)."""
    with tarfile.open(target, "w:gz") as archive:
        for name, content in members(path).items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        member.size = len(data) if member.isfile() else 0
        archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return target


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, link
    return member


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        (_member("../escape.jsonl"), "member '../escape.jsonl' has an unsafe path"),
        (_member("media/../../escape.jpg"), "member 'media/../../escape.jpg' has an unsafe path"),
        (_member("/tmp/escape.jpg"), "member '/tmp/escape.jpg' has an unsafe path"),
        (
            _member("media/ab/evil.html"),
            "member 'media/ab/evil.html' is not a media file name (folders and names of "
            "letters, digits, _ and -, ending in .jpg, .jpeg, .png, .gif or .webp)",
        ),
        (
            _member("media/.hidden.jpg"),
            "member 'media/.hidden.jpg' is not a media file name (folders and names of "
            "letters, digits, _ and -, ending in .jpg, .jpeg, .png, .gif or .webp)",
        ),
        (
            _member("media/ab/link.jpg", tarfile.SYMTYPE, "/etc/passwd"),
            "member 'media/ab/link.jpg' is not a regular file",
        ),
        (
            _member("media/ab/hard.jpg", tarfile.LNKTYPE, "users.jsonl"),
            "member 'media/ab/hard.jpg' is not a regular file",
        ),
    ],
    ids=["dotdot", "media-dotdot", "absolute", "not-an-image", "hidden", "symlink", "hardlink"],
)
async def test_cli_refuses_unsafe_archive_members(
    plain_export: Path, tmp_path: Path, member: tarfile.TarInfo, problem: str
) -> None:
    archive = unsafe_copy(plain_export, tmp_path / "unsafe.tar.gz", member, b"x")
    (tmp_path / "target").mkdir()
    settings = write_settings(tmp_path / "target", "")
    result = await cms_import(archive, settings)
    assert result.returncode == 2, output_of(result)
    assert result.stderr.splitlines() == [
        f"Error: cannot import {archive}: {problem}. Nothing was imported."
    ], output_of(result)
    # Refused while unpacking: the database was not even opened, nothing left the folder.
    assert not (settings.parent / "cms.db").exists()
    assert not (tmp_path.parent / "escape.jsonl").exists()
    assert not (tmp_path / "escape.jpg").exists()


async def test_a_media_record_naming_a_file_that_is_not_an_image_is_refused(
    plain_export: Path, empty_site: Site, tmp_path: Path
) -> None:
    record = {
        "id": 1,
        "content_hash": "cd" * 32,
        "original_name": "x.jpg",
        "width": 10,
        "height": 10,
        "format": "jpeg",
        "animated": False,
        "source": "sources/cd/evil.html",
        "renditions": [],
        "created_at": "2025-01-01T00:00:00Z",
        "uploader_id": None,
    }
    archive = edited(plain_export, tmp_path / "media.tar.gz", "media", lambda m: m.append(record))
    message = await refused(empty_site, archive)
    assert message == (
        "media.jsonl line 1: source: use folders and a file name of letters, digits, _ and -, "
        "ending in .jpg, .jpeg, .png, .gif or .webp"
    )


# -- a backup is never refused ---------------------------------------------------------------


async def test_export_keeps_stored_records_that_break_the_rules_and_names_them(
    plain_export: Path, tmp_path: Path
) -> None:
    """A row written behind the site's back (or before a rule was tightened) still goes
    into the backup, as stored; cms export names it, and cms import refuses the archive
    until it is fixed."""
    database = tmp_path / "plain.db"
    settings = write_settings(tmp_path, '[storage]\noptions = { path = "plain.db" }\n')
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE cms_posts SET slug = 'Not A Slug' WHERE slug = 'hello'")
    conn.close()
    result = await asyncio.to_thread(
        run_cms, "export", "-o", "backup.tar.gz", "--settings", settings, cwd=tmp_path
    )
    shown = output_of(result)
    assert result.returncode == 0, shown
    assert "Exported 2 users, 2 posts" in result.stdout, shown
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning")]
    assert len(warnings) == 2, shown
    assert warnings[0].startswith("Warning: posts.jsonl: stored record id "), shown
    assert "slug" in warnings[0], shown
    assert "1 stored record(s) break the site's rules" in warnings[1], shown
    posts = [
        json.loads(line) for line in members(tmp_path / "backup.tar.gz")["posts.jsonl"].splitlines()
    ]
    assert sorted(post["slug"] for post in posts) == ["Not A Slug", "notes"]
    # The archive is whole (checksums match) and import names the record it refuses.
    target = tmp_path / "target"
    target.mkdir()
    target_settings = write_settings(target, "")
    refused = await cms_import(tmp_path / "backup.tar.gz", target_settings)
    assert refused.returncode == 2, output_of(refused)
    assert "Not A Slug" in refused.stderr and "checksum" not in refused.stderr
