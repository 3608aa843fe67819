"""``cms import --from ghost``: the Ghost export of ../shared/fixtures, and exports in the
shapes of Ghost 2.x and 5.x written here, into sites on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from cms.content.importers import import_document, read_ghost
from tests.conftest import ClientFactory, site_of
from tests.import_support import all_posts, fixture_file, snapshot
from tests.test_import_wordpress import SeoFields

FIXTURE = "ghost/migrate-ghost.json"
LATER = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def ghost_counts(path: Path) -> dict[str, int]:
    """What the export holds, counted from its JSON here."""
    data = json.loads(path.read_text(encoding="utf-8"))["db"][0]["data"]
    posts = [p for p in data["posts"] if p.get("status") in ("published", "draft", "scheduled")]
    return {
        "posts": sum(p.get("type", "post") == "post" and not p.get("page") for p in posts),
        "pages": sum(p.get("type") == "page" or bool(p.get("page")) for p in posts),
        "tags": len(
            {
                link["tag_id"]
                for link in data.get("posts_tags", [])
                for tag in data["tags"]
                if tag["id"] == link["tag_id"] and not tag["name"].startswith("#")
            }
        ),
        "users": len(data["users"]),
    }


async def test_the_ghost_fixture_imports_its_counts(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    path = fixture_file(FIXTURE)
    expected = ghost_counts(path)
    client = await make_client(storage=storage_settings)
    site = site_of(client)
    report = await import_document(site, read_ghost(path))
    posts, pages = await all_posts(site, "post"), await all_posts(site, "page")
    assert (len(posts), len(pages)) == (expected["posts"], expected["pages"]) == (3, 0)
    assert len(await site.storage.list_tags(counted=False)) == expected["tags"] == 2
    assert len(await site.storage.list_users()) == expected["users"] == report.counts["users"]
    by_slug = {post.slug: post for post in posts}
    # Lexical only: rendered to HTML, then to Markdown.
    assert "lexical-image.jpg" in by_slug["post-3-lexical"].body
    assert by_slug["post-1"].author == "alice-johnson"
    assert [tag.name for tag in by_slug["post-1"].tags] == ["News"]
    for post in posts:
        moved = await client.get(f"/{post.slug}/")
        assert moved.status == 200 and moved.url.path == f"/posts/{post.slug}", post.slug
    for old, new in (("/tag/news/", "/tags/news"), ("/author/bob-smith/", "/authors/bob-smith")):
        moved = await client.get(old, allow_redirects=False)
        assert (moved.status, moved.headers.get("Location")) == (301, new), old
    # Images of another host than the site's own content/images are left as they are.
    assert report.missing_files == []
    second = await import_document(site, read_ghost(path))
    assert second.counts["posts"] == 0 and second.already["posts and pages"] == 3


def write_jpeg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), (10, 120, 200)).save(path, "JPEG")


def ghost5_export() -> dict[str, Any]:
    lexical = {
        "root": {
            "type": "root",
            "children": [
                {"type": "heading", "tag": "h2", "children": [{"type": "text", "text": "Hi"}]},
                {
                    "type": "paragraph",
                    "children": [
                        {"type": "text", "text": "bold", "format": 1},
                        {
                            "type": "link",
                            "url": "https://x.org",
                            "children": [{"type": "text", "text": " link"}],
                        },
                    ],
                },
                {"type": "markdown", "markdown": "- one\n- two"},
            ],
        }
    }
    mobiledoc = {
        "version": "0.3.1",
        "markups": [["em"]],
        "atoms": [],
        "cards": [
            ["image", {"src": "__GHOST_URL__/content/images/2024/01/cat.jpg", "caption": "A cat"}]
        ],
        "sections": [[1, "p", [[0, [0], 1, "Old editor"]]], [10, 0]],
    }
    post = {
        "type": "post",
        "visibility": "public",
        "created_at": "2024-01-02T10:00:00.000Z",
        "updated_at": "2024-01-03T10:00:00.000Z",
        "published_at": "2024-01-02T10:00:00.000Z",
    }
    return {
        "db": [
            {
                "meta": {"exported_on": 1706000000000, "version": "5.75.0"},
                "data": {
                    "posts": [
                        {
                            **post,
                            "id": "a1",
                            "title": "Lexical",
                            "slug": "lexical",
                            "status": "published",
                            "html": None,
                            "lexical": json.dumps(lexical),
                            "featured": True,
                            "custom_excerpt": "Short.",
                            "feature_image": "__GHOST_URL__/content/images/2024/01/cat.jpg",
                        },
                        {
                            **post,
                            "id": "a2",
                            "title": "Mobiledoc",
                            "slug": "mobiledoc",
                            "status": "published",
                            "html": None,
                            "lexical": None,
                            "mobiledoc": json.dumps(mobiledoc),
                        },
                        {
                            **post,
                            "id": "a3",
                            "title": "About",
                            "slug": "about",
                            "type": "page",
                            "status": "published",
                            "html": "<p>About us</p>",
                        },
                        {
                            **post,
                            "id": "a4",
                            "title": "Later",
                            "slug": "later",
                            "status": "scheduled",
                            "published_at": LATER,
                            "html": "<p>x</p>",
                        },
                        {
                            **post,
                            "id": "a5",
                            "title": "Paid",
                            "slug": "paid",
                            "status": "published",
                            "visibility": "paid",
                            "html": "<p>$</p>",
                        },
                        {
                            **post,
                            "id": "a6",
                            "title": "Mail",
                            "slug": "mail",
                            "status": "sent",
                            "html": "<p>only mailed</p>",
                        },
                        {
                            **post,
                            "id": "a7",
                            "title": "Wip",
                            "slug": "wip",
                            "status": "draft",
                            "html": "<p>soon</p>",
                            "feature_image": "__GHOST_URL__/content/images/gone.png",
                        },
                    ],
                    "posts_meta": [
                        {
                            "post_id": "a1",
                            "meta_title": "SEO title",
                            "meta_description": "SEO description",
                            "feature_image_caption": "<b>Puss</b>",
                        },
                    ],
                    "tags": [
                        {"id": "t1", "name": "News", "slug": "news"},
                        {
                            "id": "t2",
                            "name": "#hidden",
                            "slug": "hash-hidden",
                            "visibility": "internal",
                        },
                    ],
                    "posts_tags": [
                        {"post_id": "a1", "tag_id": "t1", "sort_order": 0},
                        {"post_id": "a1", "tag_id": "t2", "sort_order": 1},
                    ],
                    "users": [{"id": "u1", "name": "Ann Author", "slug": "ann"}],
                    "posts_authors": [{"post_id": "a1", "author_id": "u1", "sort_order": 0}],
                },
            }
        ]
    }


async def test_a_ghost_5_export_with_every_kind_of_post(
    make_client: ClientFactory, storage_settings: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "ghost5.json"
    path.write_text(json.dumps(ghost5_export()), encoding="utf-8")
    images = tmp_path / "images"
    write_jpeg(images / "2024/01/cat.jpg")
    client = await make_client(storage=storage_settings, plugins=[("seo", SeoFields())])
    site = site_of(client)
    report = await import_document(site, read_ghost(path), media_dir=images)
    posts = {post.slug: post for post in await all_posts(site, "post")}
    pages = await all_posts(site, "page")
    assert sorted(posts) == ["later", "lexical", "mobiledoc", "paid", "wip"]
    assert [page.slug for page in pages] == ["about"]
    lexical = posts["lexical"]
    assert lexical.featured and lexical.custom_excerpt == "Short."
    assert (lexical.meta_title, lexical.meta_description) == ("SEO title", "SEO description")
    assert lexical.image_caption == "Puss"
    assert lexical.image and lexical.author == "ann"
    assert [tag.name for tag in lexical.tags] == ["News"]
    assert "<h2>Hi</h2>" in lexical.html and "<strong>bold</strong>" in lexical.html
    assert "<li>two</li>" in lexical.html
    mobiledoc = posts["mobiledoc"]
    assert "<em>Old editor</em>" in mobiledoc.html and "<figcaption>A cat</figcaption>" in (
        mobiledoc.html
    )
    assert "/media/" in mobiledoc.html and "content/images" not in mobiledoc.body
    assert posts["later"].status == "scheduled"
    assert posts["paid"].status == "draft" and posts["wip"].status == "draft"
    assert report.skipped["internal #tags"] == 1
    assert report.skipped["posts with status sent (emails only)"] == 1
    assert report.missing_files == ["/content/images/gone.png"]
    assert report.counts["images"] == 1
    assert (await client.get("/about/")).url.path == "/about"
    page = await client.get("/lexical/")
    assert page.status == 200 and page.url.path == "/posts/lexical"


async def test_a_ghost_2_export_dry_run_then_import(
    make_client: ClientFactory, storage_settings: dict[str, Any], tmp_path: Path
) -> None:
    export = {
        "db": [
            {
                "meta": {"exported_on": 1546300800000, "version": "2.10.0"},
                "data": {
                    "posts": [
                        {
                            "id": "1",
                            "title": "Old page",
                            "slug": "old-page",
                            "page": True,
                            "status": "published",
                            "html": "<p>Hello</p>",
                            "author_id": "9",
                            "meta_title": "Meta",
                            "meta_description": "Described",
                            "published_at": "2019-01-01 10:00:00",
                            "created_at": "2019-01-01 09:00:00",
                        },
                        {
                            "id": "2",
                            "title": "Old post",
                            "slug": "old-post",
                            "page": False,
                            "status": "published",
                            "html": "<p>World</p>",
                            "author_id": "9",
                            "published_at": "2019-01-02 10:00:00",
                            "created_at": "2019-01-02 09:00:00",
                        },
                    ],
                    "users": [{"id": "9", "name": "Root", "slug": "root", "email": "r@x.org"}],
                    "tags": [],
                },
            }
        ]
    }
    path = tmp_path / "ghost2.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    client = await make_client(storage=storage_settings)
    site = site_of(client)
    before = await snapshot(site)
    dry = await import_document(site, read_ghost(path), dry_run=True)
    assert await snapshot(site) == before
    assert (dry.counts["posts"], dry.counts["pages"], dry.counts["users"]) == (1, 1, 1)
    report = await import_document(site, read_ghost(path))
    assert report.counts == dry.counts
    page = (await all_posts(site, "page"))[0]
    assert page.custom_excerpt == "Described"
    assert page.published_at == datetime(2019, 1, 1, 10, tzinfo=UTC)
    assert page.author == "root"
    assert (await client.get("/old-post/")).url.path == "/posts/old-post"
