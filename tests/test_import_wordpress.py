"""``cms import --from wordpress``: the real WXR files of ../shared/fixtures imported into
sites on SQLite and PostgreSQL, served over HTTP, and checked against counts made here."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from cms import PostField, hookimpl
from cms.content.importers import import_document, read_wordpress
from cms.core.site import Site
from tests.conftest import ClientFactory, site_of
from tests.import_support import (
    WxrCount,
    all_posts,
    fixture_file,
    snapshot,
    wordpress_fixtures,
)

THEME_DATA = "wordpress/themeunittestdata.wordpress.xml"


class SeoFields:
    """The fields an SEO plugin would add: an import fills them."""

    @hookimpl
    def register_post_fields(self, cms: Site) -> list[PostField]:
        return [
            PostField("meta_title", str, max_length=300),
            PostField("meta_description", str, max_length=500),
            PostField("image_caption", str, max_length=500),
        ]


async def imported_site(
    make_client: ClientFactory, storage: dict[str, Any], relative: str, **options: Any
) -> tuple[TestClient[Any, Any], Any]:
    path = fixture_file(relative)
    plugins = options.pop("plugins", ())
    client = await make_client(storage=storage, plugins=plugins)
    report = await import_document(site_of(client), read_wordpress(path), **options)
    return client, report


def old_path(link: str) -> str:
    return re.sub("/{2,}", "/", unquote(urlsplit(link).path))


async def test_theme_unit_test_data_imports_and_serves(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    count = WxrCount(fixture_file(THEME_DATA))
    client, report = await imported_site(make_client, storage_settings, THEME_DATA)
    site = site_of(client)
    posts, pages = await all_posts(site, "post"), await all_posts(site, "page")
    assert (len(posts), len(pages)) == (count.posts, count.pages) == (51, 21)
    assert (report.counts["posts"], report.counts["pages"]) == (count.posts, count.pages)
    tags = await site.storage.list_tags(counted=False)
    assert len(tags) == count.tags == report.counts["tags"]
    assert sum(post.status == "draft" for post in posts + pages) == count.drafts
    # Each published item answers at its new address, and its old one leads there.
    by_title = {post.title: post for post in posts + pages}
    for item in count.items:
        if item["status"] != "publish" or item["password"]:
            continue
        post = by_title[unescape(item["title"]) or "(untitled)"]
        new_url = f"/{post.slug}" if item["type"] == "page" else f"/posts/{post.slug}"
        page = await client.get(new_url, allow_redirects=False)
        assert page.status == 200, (item["title"], new_url)
        moved = await client.get(old_path(item["link"]), allow_redirects=False)
        assert moved.status == 301, (item["link"], await moved.text())
        assert moved.headers["Location"] == new_url, item["link"]
    for item in count.scheduled:
        scheduled = by_title[item["title"]]
        assert scheduled.status == "scheduled"
        # From post_date_gmt (post_date is the site's local time, 2030-01-01 11:00:18).
        assert scheduled.published_at == datetime(2030, 1, 1, 19, 0, 18, tzinfo=UTC)
        assert (await client.get(f"/posts/{scheduled.slug}")).status == 404
    draft = by_title["Draft"]
    assert draft.status == "draft" and draft.published_at is None
    assert (await client.get(f"/posts/{draft.slug}")).status == 404
    # The old site's tag, category and author pages lead to theirs here.
    for old, new in (
        ("/tag/post-formats/", "/tags/post-formats"),
        ("/category/parent-category/child-category-01/", "/tags/child-category-01"),
        ("/author/themedemos/", "/authors/themedemos"),
    ):
        moved = await client.get(old, allow_redirects=False)
        assert (moved.status, moved.headers.get("Location")) == (301, new), old
        assert (await client.get(new)).status == 200, new
    # Percent-encoded Greek slugs, decoded and made fit for an address.
    assert {"epipedo-2", "epipedo-3"} <= {page.slug for page in pages}
    assert by_title["Template: Excerpt (Defined)"].custom_excerpt.startswith(
        "This is a user-defined post excerpt."
    )
    assert by_title["Template: Sticky"].featured
    # Authors are users who cannot sign in until an admin sets their password.
    users = await site.storage.list_users()
    assert {user.username for user in users} == {"themedemos", "themereviewteam"}
    for user in users:
        assert user.role == "author"
        assert not await site.passwords.verify(user.password_hash, "")
        assert not await site.passwords.verify(user.password_hash, user.password_hash)


async def test_theme_data_content_is_converted(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    client, report = await imported_site(make_client, storage_settings, THEME_DATA)
    site = site_of(client)
    posts = {post.slug: post for post in await all_posts(site, "post")}
    captioned = posts["post-format-image-caption"]
    assert "<figcaption>" in captioned.body and "<figcaption>" in captioned.html
    assert "<figcaption>Bell on wharf in San Francisco</figcaption>" in captioned.html
    assert report.counts["captions"] == 12
    blocks = posts["blocks-formatting"]
    assert "<!-- wp:" not in blocks.html  # the text shows one, escaped, in a code block
    assert "wp:" not in posts["block-quotes"].body
    assert report.shortcodes["gallery"] >= 1
    assert "[gallery" in posts["post-format-gallery"].body
    # Classic-editor text: blank lines made paragraphs.
    assert posts["post-format-standard"].html.count("<p>") > 3
    assert report.skipped["menu items"] == 70
    assert report.skipped["comments"] > 0
    # A post's page shows the Markdown rendered, its tags listed.
    page = await client.get("/posts/markup-html-tags-and-formatting")
    assert page.status == 200 and "<blockquote>" in await page.text()


@pytest.mark.parametrize("name", wordpress_fixtures())
async def test_each_wordpress_fixture_imports_its_counts(
    make_client: ClientFactory, storage_settings: dict[str, Any], name: str
) -> None:
    relative = f"wordpress/{name}"
    count = WxrCount(fixture_file(relative))
    client, report = await imported_site(make_client, storage_settings, relative)
    site = site_of(client)
    posts, pages = await all_posts(site, "post"), await all_posts(site, "page")
    assert (len(posts), len(pages)) == (count.posts, count.pages)
    assert len(await site.storage.list_tags(counted=False)) == count.tags
    assert sum(post.status == "draft" for post in posts + pages) == count.drafts
    users = [user for user in await site.storage.list_users()]
    assert len(users) == report.counts["users"]
    for kind, number in count.other_types.items():
        assert report.skipped[f"items of type {kind}"] == number
    for post in posts + pages:
        if post.status == "published":
            url = f"/{post.slug}" if post.kind == "page" else f"/posts/{post.slug}"
            assert (await client.get(url)).status == 200, url


async def test_yoast_title_and_description_come_across(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    relative = "wordpress/migrate-has-yoast-meta.xml"
    client, _ = await imported_site(
        make_client, storage_settings, relative, plugins=[("seo", SeoFields())]
    )
    posts = {post.slug: post for post in await all_posts(site_of(client), "post")}
    yoast = next(post for post in posts.values() if post.meta_title)
    assert yoast.meta_title == "My Custom SEO Title for Search Engines"
    assert yoast.meta_description == (
        "A short description of the post for search engine results pages"
    )
    assert posts["no-yoast"].extra.get("meta_description") is None


async def test_without_seo_fields_the_description_becomes_the_excerpt(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    relative = "wordpress/migrate-has-yoast-meta.xml"
    client, report = await imported_site(make_client, storage_settings, relative)
    posts = await all_posts(site_of(client), "post")
    described = [post for post in posts if post.custom_excerpt]
    assert [post.custom_excerpt for post in described] == [
        "A short description of the post for search engine results pages"
    ]
    assert report.skipped["meta titles (no meta_title field)"] == 1


def write_jpeg(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path, "JPEG")


async def test_featured_images_and_their_captions_from_the_media_dir(
    make_client: ClientFactory, storage_settings: dict[str, Any], tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    write_jpeg(uploads / "2013/06/described-image.jpg", (200, 30, 30))
    # title-only-image.jpg is left out: it is listed as missing.
    dry = await import_document(
        site_of(await make_client(storage=storage_settings)),
        read_wordpress(fixture_file("wordpress/migrate-feature-image-captions.xml")),
        media_dir=uploads,
        dry_run=True,
    )
    assert dry.counts["images"] == 1 and len(dry.missing_files) == 1
    client, report = await imported_site(
        make_client,
        storage_settings,
        "wordpress/migrate-feature-image-captions.xml",
        plugins=[("seo", SeoFields())],
        media_dir=uploads,
    )
    site = site_of(client)
    posts = {post.slug: post for post in await all_posts(site, "post")}
    described = posts["post-with-described-image"]
    assert described.image and await site.storage.find_media([described.image])
    assert described.image_caption == "The caption from the attachment description."
    assert posts["post-with-title-only-image"].image is None
    assert report.missing_files == [
        "https://example.com/wp-content/uploads/2013/06/title-only-image.jpg"
    ]
    assert report.counts["images"] == 1
    assert (await client.get("/posts/post-with-described-image")).status == 200


async def test_in_text_images_come_from_the_media_dir(
    make_client: ClientFactory, storage_settings: dict[str, Any], tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    write_jpeg(uploads / "2008/06/100_5478.jpg", (30, 200, 30))
    client, report = await imported_site(
        make_client, storage_settings, THEME_DATA, media_dir=uploads
    )
    site = site_of(client)
    post = next(p for p in await all_posts(site, "post") if p.slug == "post-format-image-caption")
    assert "wpthemetestdata.files.wordpress.com/2008/06/100_5478.jpg" not in post.body
    media = await site.storage.list_media()
    assert len(media) == 1 and report.counts["images"] == 1
    assert "/media/" in post.html
    assert len(report.missing_files) > 10  # the theme data names many more


async def test_importing_twice_adds_nothing_and_dry_run_writes_nothing(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    path = fixture_file(THEME_DATA)
    client = await make_client(storage=storage_settings)
    site = site_of(client)
    before = await snapshot(site)
    dry = await import_document(site, read_wordpress(path), dry_run=True)
    assert await snapshot(site) == before
    first = await import_document(site, read_wordpress(path))
    assert dry.counts == first.counts and dry.renamed == first.renamed
    after_first = await snapshot(site)
    second = await import_document(site, read_wordpress(path))
    assert await snapshot(site) == after_first
    assert not any(second.counts[kind] for kind in ("posts", "pages", "users", "redirects"))
    assert second.already["posts and pages"] == first.counts["posts"] + first.counts["pages"]


async def test_an_import_joins_a_site_with_content(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    from cms.content.posts import save_post

    client = await make_client(storage=storage_settings)
    site = site_of(client)
    mine = await save_post(site, None, {"title": "Mine", "slug": "about", "body": "x"}, user=None)
    report = await import_document(site, read_wordpress(fixture_file(THEME_DATA)))
    assert ("about", "about-2") in report.renamed
    assert (await site.storage.get_post(mine.id)) is not None
    about = await site.storage.get_post_by_slug("about-2")
    assert about is not None and about.title == "About The Tests"
    moved = await client.get("/about/", allow_redirects=False)
    assert moved.status == 301


def small_wxr(path: Path, *, long_text: bool) -> Path:
    """A WXR file of two posts with a featured image; the second post's text is longer
    than a post may be when ``long_text``."""
    text = "word " * 110_000 if long_text else "fine"
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.1/">
<channel><title>T</title><link>https://t.example</link><wp:wxr_version>1.1</wp:wxr_version>
<item><title>One</title><link>https://t.example/one/</link><wp:post_id>1</wp:post_id>
<content:encoded><![CDATA[<p>First</p>]]></content:encoded><wp:status>publish</wp:status>
<wp:post_type>post</wp:post_type><wp:post_name>one</wp:post_name>
<wp:postmeta><wp:meta_key>_thumbnail_id</wp:meta_key><wp:meta_value>9</wp:meta_value></wp:postmeta>
</item>
<item><title>Two</title><link>https://t.example/two/</link><wp:post_id>2</wp:post_id>
<content:encoded><![CDATA[{text}]]></content:encoded><wp:status>publish</wp:status>
<wp:post_type>post</wp:post_type><wp:post_name>two</wp:post_name></item>
<item><title>pic</title><wp:post_id>9</wp:post_id><wp:post_type>attachment</wp:post_type>
<wp:attachment_url>https://t.example/wp-content/uploads/pic.jpg</wp:attachment_url></item>
</channel></rss>
""",
        encoding="utf-8",
    )
    return path


def media_files(site: Site) -> set[Path]:
    assert site.images is not None
    root = site.images.store.temporary_path().parent.parent  # the store's folder
    return {path for path in root.rglob("*") if path.is_file()}


async def test_an_item_the_site_refuses_stops_the_import_and_writes_nothing(
    make_client: ClientFactory, storage_settings: dict[str, Any], tmp_path: Path
) -> None:
    from cms.content.importers import BadExport

    uploads = tmp_path / "uploads"
    write_jpeg(uploads / "pic.jpg", (1, 2, 3))
    client = await make_client(storage=storage_settings)
    site = site_of(client)
    before, files = await snapshot(site), media_files(site)
    bad = read_wordpress(small_wxr(tmp_path / "bad.xml", long_text=True))
    with pytest.raises(BadExport, match=r"post 2 \('Two'\): body: "):
        await import_document(site, bad, media_dir=uploads)
    assert await snapshot(site) == before
    assert media_files(site) == files  # the image it stored first is gone again
    good = read_wordpress(small_wxr(tmp_path / "good.xml", long_text=False))
    report = await import_document(site, good, media_dir=uploads)
    assert report.counts["posts"] == 2 and report.counts["images"] == 1
    assert media_files(site) != files


async def test_items_repeating_an_id_come_across_once(
    make_client: ClientFactory, storage_settings: dict[str, Any], tmp_path: Path
) -> None:
    path = small_wxr(tmp_path / "twice.xml", long_text=False)
    text = path.read_text(encoding="utf-8").replace(
        "<wp:post_id>2</wp:post_id>", "<wp:post_id>1</wp:post_id>"
    )
    path.write_text(text, encoding="utf-8")
    client = await make_client(storage=storage_settings)
    report = await import_document(site_of(client), read_wordpress(path))
    assert report.counts["posts"] == 1 and report.skipped["items repeating another's id"] == 1
    assert [post.slug for post in await all_posts(site_of(client), "post")] == ["one"]
