"""The admin's media library (cms.web.views.media_library): the list with thumbnails and
usage, upload from the page, delete (refused while a post uses the image), who may do what. Real
uploads over HTTP, real files, real worker processes."""

from __future__ import annotations

import io
import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from PIL import Image, PngImagePlugin

from cms.contracts import Media
from tests.conftest import (
    ADMIN_PASSWORD,
    ClientFactory,
    create_post,
    create_user,
    csrf_from,
    login,
    setup_admin,
    site_of,
)
from tests.image_files import photo, png

Client = TestClient[Any, Any]


@pytest.fixture
async def library(make_client: ClientFactory) -> Client:
    """A site with images, signed in as its administrator."""
    client = await make_client(images={"backend": "pillow", "options": {"workers": 1}})
    await setup_admin(client)
    return client


def upload_form(token: str | None, data: bytes, filename: str) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    if token is not None:
        form.add_field("csrf_token", token)  # first, as the page's form sends it
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form


async def upload(client: Client, data: bytes, filename: str) -> Media:
    token = await csrf_from(client, "/admin/media")
    response = await client.post(
        "/admin/media", data=upload_form(token, data, filename), allow_redirects=False
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/admin/media?notice=uploaded"
    rows = await site_of(client).storage.list_media(newest_first=True, limit=1)
    return rows[0]


async def delete(client: Client, media: Media, token: str | None = "page") -> Any:
    data = {}
    if token == "page":
        data["csrf_token"] = await csrf_from(client, "/admin/media")
    return await client.post(f"/admin/media/{media.id}/delete", data=data, allow_redirects=False)


def files_of(client: Client, media: Media) -> list[bool]:
    store = site_of(client).images
    assert store is not None
    return [path.exists() for key in media.keys if (path := store.store.path(key)) is not None]


def thumbnail_url(client: Client, media: Media) -> str:
    images = site_of(client).images
    assert images is not None
    fallback = [r for r in media.renditions if r.format != "webp"]
    return images.store.url(min(fallback, key=lambda r: r.width).key)


async def test_the_library_lists_uploads_with_thumbnails_and_usage(library: Client) -> None:
    client = library
    assert 'href="/admin/media"' in await (await client.get("/admin/")).text()
    wide = await upload(client, photo(1200, 800, seed=1), "wide photo.jpg")
    square = await upload(client, png(500, 500), "square.png")
    assert (
        await create_post(client, title="Uses the wide one", image=wide.content_hash)
    ).status == 303
    post = (await site_of(client).storage.list_posts(limit=1, order="updated"))[0]

    response = await client.get("/admin/media?notice=uploaded")
    assert response.status == 200
    html = await response.text()
    assert "The image was added to the library." in html
    assert 'aria-current="page">Media<' in html
    # Newest first; each with its smallest rendition as thumbnail, its size and uploader.
    assert html.index("square.png") < html.index("wide photo.jpg")
    assert f'src="{thumbnail_url(client, wide)}"' in html
    assert f'src="{thumbnail_url(client, square)}"' in html
    assert "1200 \u00d7 800 px" in html and "500 \u00d7 500 px" in html
    assert "by admin" in html
    row = html[html.index(f'id="media-{wide.id}"') :]
    row = row[: row.index("</tr>")]
    assert f'href="/admin/posts/{post.id}/edit">Uses the wide one</a>' in row
    square_row = html[html.index(f'id="media-{square.id}"') :]
    assert "Unused" in square_row[: square_row.index("</tr>")]


async def test_deleting_an_unused_image_removes_its_row_and_files(library: Client) -> None:
    client = library
    kept = await upload(client, photo(640, 480, seed=2), "kept.jpg")
    gone = await upload(client, photo(640, 480, seed=3), "gone.jpg")
    assert all(files_of(client, gone)) and len(files_of(client, gone)) == len(gone.keys)

    response = await delete(client, gone)
    assert response.status == 303
    assert response.headers["Location"] == "/admin/media?notice=deleted"
    storage = site_of(client).storage
    assert await storage.get_media(gone.id) is None
    assert not any(files_of(client, gone))
    assert await storage.get_media(kept.id) == kept and all(files_of(client, kept))
    page = await (await client.get("/admin/media?notice=deleted")).text()
    assert "gone.jpg" not in page and "kept.jpg" in page
    # Already gone: 404, themed.
    again = await delete(client, gone)
    assert again.status == 404 and "no such image" in await again.text()


async def test_files_another_image_shares_are_kept(library: Client) -> None:
    """The same pixels with other metadata: two images, the same renditions."""
    client = library
    plain = png(300, 200, color=(10, 200, 30))
    tagged = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "another upload")
    Image.open(io.BytesIO(plain)).save(tagged, "PNG", pnginfo=info)
    first = await upload(client, plain, "plain.png")
    second = await upload(client, tagged.getvalue(), "tagged.png")
    assert first.id != second.id and set(first.keys) & set(second.keys)

    assert (await delete(client, first)).status == 303
    assert all(files_of(client, second))
    assert (await delete(client, second)).status == 303
    assert not any(files_of(client, first)) and not any(files_of(client, second))


async def test_deleting_an_image_a_post_uses_is_refused_and_changes_nothing(
    library: Client,
) -> None:
    client = library
    media = await upload(client, photo(800, 600, seed=4), "cover.jpg")
    for title in ("Cover story", "Second <story>"):
        assert (await create_post(client, title=title, image=media.content_hash)).status == 303
    posts = await site_of(client).storage.list_posts(limit=5, order="updated")

    response = await delete(client, media)
    assert response.status == 409
    html = await response.text()
    assert "was not deleted: 2 posts still use it" in html
    for post in posts:
        assert f'href="/admin/posts/{post.id}/edit"' in html
    assert "Second &lt;story&gt;" in html
    assert await site_of(client).storage.get_media(media.id) == media
    assert all(files_of(client, media))
    shown = await (await client.get(f"/posts/{posts[0].slug}")).text()
    assert thumbnail_url(client, media) in shown


async def test_only_editors_and_admins_may_use_the_library(
    library: Client, make_client: ClientFactory
) -> None:
    client = library
    media = await upload(client, photo(320, 240, seed=5), "x.jpg")
    await create_user(client, "editor", "editor")
    await create_user(client, "author", "author")
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/admin/")})

    anonymous = await client.get("/admin/media", allow_redirects=False)
    assert anonymous.status == 302
    assert anonymous.headers["Location"].startswith("/login?next=/admin/media")
    refused = await client.post(f"/admin/media/{media.id}/delete", allow_redirects=False)
    assert refused.status in (302, 403)

    assert (await login(client, "author", ADMIN_PASSWORD)).status == 303
    assert 'href="/admin/media"' not in await (await client.get("/admin/")).text()
    assert (await client.get("/admin/media")).status == 403
    token = await csrf_from(client, "/admin/")
    by_author = await client.post(
        f"/admin/media/{media.id}/delete", data={"csrf_token": token}, allow_redirects=False
    )
    assert by_author.status == 403
    by_author_upload = await client.post(
        "/admin/media", data=upload_form(token, photo(64, 64), "a.jpg"), allow_redirects=False
    )
    assert by_author_upload.status == 403
    assert [m.id for m in await site_of(client).storage.list_media()] == [media.id]

    await client.post("/logout", data={"csrf_token": token})
    assert (await login(client, "editor", ADMIN_PASSWORD)).status == 303
    assert (await client.get("/admin/media")).status == 200
    assert (await delete(client, media)).status == 303


async def test_without_the_csrf_token_nothing_happens(library: Client) -> None:
    client = library
    media = await upload(client, photo(320, 240, seed=6), "x.jpg")
    assert (await delete(client, media, token=None)).status == 403
    wrong = await client.post(
        f"/admin/media/{media.id}/delete", data={"csrf_token": "nope"}, allow_redirects=False
    )
    assert wrong.status == 403
    no_token = await client.post(
        "/admin/media", data=upload_form(None, photo(64, 64), "a.jpg"), allow_redirects=False
    )
    assert no_token.status == 403
    assert [m.id for m in await site_of(client).storage.list_media()] == [media.id]
    assert all(files_of(client, media))
    assert (await client.get(f"/admin/media/{media.id}/delete")).status == 405


async def test_a_refused_upload_shows_the_reason_and_stores_nothing(library: Client) -> None:
    client = library
    token = await csrf_from(client, "/admin/media")
    response = await client.post(
        "/admin/media", data=upload_form(token, b"<svg></svg>", "x.jpg"), allow_redirects=False
    )
    assert response.status == 422
    assert 'id="media-error"' in await response.text()
    assert await site_of(client).storage.list_media() == []


async def test_the_library_pages_by_id(library: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import cms.web.views.media_library

    monkeypatch.setattr(cms.web.views.media_library, "MEDIA_PAGE_SIZE", 2)
    client = library
    made = [await upload(client, photo(200, 150, seed=10 + n), f"image-{n}.jpg") for n in range(3)]
    first = await (await client.get("/admin/media")).text()
    assert "image-2.jpg" in first and "image-1.jpg" in first and "image-0.jpg" not in first
    older = re.search(r'href="(/admin/media\?after=\d+)"', first)
    assert older is not None and older.group(1) == f"/admin/media?after={made[1].id}"
    second = await (await client.get(older.group(1))).text()
    assert "image-0.jpg" in second and "image-1.jpg" not in second
    assert "?after=" not in second
    damaged = await client.get("/admin/media?after=abc")
    assert damaged.status == 400 and "damaged" in await damaged.text()


async def test_journal_renders_the_library(make_client: ClientFactory) -> None:
    client = await make_client(
        theme="journal", images={"backend": "pillow", "options": {"workers": 1}}
    )
    await setup_admin(client)
    media = await upload(client, photo(400, 300, seed=20), "journal.jpg")
    response = await client.get("/admin/media")
    assert response.status == 200
    html = await response.text()
    assert "journal.jpg" in html and f'src="{thumbnail_url(client, media)}"' in html
    assert "/static/journal/" in html
