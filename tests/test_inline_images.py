"""Images of the media library in a post's text (``![alt](media:<hash>)``): rendered as a
``<picture>`` with the renditions' ``srcset``, in the Markdown renderer and through a real site
with real uploads; an unknown hash leaves the alt text, and the sanitizer still applies."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cms.content.image_sets import ImageSet
from cms.content.rendering import media_hashes, media_markdown, render_markdown
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

HASH = "a" * 64
IMAGES = {
    HASH: ImageSet(
        content_hash=HASH,
        width=1600,
        height=1200,
        renditions={
            "jpeg": (("/media/a-320.jpg", 320, 240), ("/media/a-1600.jpg", 1600, 1200)),
            "webp": (("/media/a-320.webp", 320, 240), ("/media/a-1600.webp", 1600, 1200)),
        },
    )
}


def test_a_media_image_becomes_a_picture_with_srcset() -> None:
    html = render_markdown(f"![A red door](media:{HASH})", images=IMAGES)
    assert "<picture>" in html
    assert (
        '<source type="image/webp" srcset="/media/a-320.webp 320w, /media/a-1600.webp 1600w"'
        in html
    )
    assert 'srcset="/media/a-320.jpg 320w, /media/a-1600.jpg 1600w"' in html
    assert 'src="/media/a-1600.jpg"' in html
    assert 'alt="A red door"' in html
    assert 'width="1600"' in html and 'height="1200"' in html
    assert 'loading="lazy"' in html
    assert "media:" not in html


def test_the_title_is_kept() -> None:
    html = render_markdown(f'![door](media:{HASH} "Front door")', images=IMAGES)
    assert 'title="Front door"' in html


def test_an_unknown_hash_leaves_the_alt_text() -> None:
    html = render_markdown(f"Before ![A lost picture](media:{'b' * 64}) after")
    assert html == "<p>Before A lost picture after</p>\n"
    damaged = render_markdown("![short](media:abc)")
    assert damaged == "<p>short</p>\n"


def test_alt_text_is_escaped() -> None:
    html = render_markdown(f'![a "quoted" <b>bold</b> & more](media:{HASH})', images=IMAGES)
    assert 'alt="a &quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt; &amp; more"' in html
    html = render_markdown(f"![<script>alert(1)</script>](media:{'c' * 64})")
    assert "<script>" not in html


def test_other_images_stay_plain() -> None:
    html = render_markdown("![a](https://example.com/a.png)", images=IMAGES)
    assert html == '<p><img src="https://example.com/a.png" alt="a"></p>\n'


def test_the_sanitizer_still_applies() -> None:
    body = f'![x](media:{HASH})<img src=x onerror="alert(1)"><script>alert(2)</script>'
    html = render_markdown(body, images=IMAGES)
    assert "onerror" not in html and "<script" not in html
    assert "<picture>" in html


def test_media_hashes_finds_the_named_images() -> None:
    body = f"![a](media:{HASH}) and ![b](media:{'b' * 64}) and media:short"
    assert media_hashes(body) == {HASH, "b" * 64}


# -- through a real site ----------------------------------------------------------------------

UPLOAD = "/admin/media/upload"
CHOICES = "/admin/media/choices"


@pytest.fixture
async def site_client(make_client: ClientFactory) -> Client:
    """A site with images (small uploads allowed), signed in as its administrator."""
    client = await make_client(
        images={"backend": "pillow", "options": {"workers": 1, "max_bytes": 200_000}}
    )
    await setup_admin(client)
    return client


def file_form(data: bytes, filename: str, field: str = "file") -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(field, data, filename=filename, content_type="application/octet-stream")
    return form


async def upload(client: Client, data: bytes, filename: str, token: str | None) -> Any:
    headers = {"X-CSRF-Token": token} if token is not None else {}
    return await client.post(UPLOAD, data=file_form(data, filename), headers=headers)


async def test_an_upload_answers_the_image_as_json(site_client: Client) -> None:
    client = site_client
    token = await csrf_from(client, "/admin/posts/new")
    response = await upload(client, photo(1200, 900, seed=1), "door.jpg", token)
    assert response.status == 201, await response.text()
    answer = await response.json()
    media = (await site_of(client).storage.list_media())[0]
    assert answer["hash"] == media.content_hash and answer["id"] == media.id
    assert answer["markdown"] == f"![](media:{media.content_hash})"
    assert answer["name"] == "door.jpg" and answer["width"] == 1200
    assert answer["thumbnail"].startswith("/")
    # The same bytes again: the same image.
    again = await upload(client, photo(1200, 900, seed=1), "copy.jpg", token)
    assert (await again.json())["hash"] == media.content_hash
    assert len(await site_of(client).storage.list_media()) == 1


async def test_bad_uploads_are_json_4xx(site_client: Client) -> None:
    client = site_client
    token = await csrf_from(client, "/admin/posts/new")
    cases = [
        (await upload(client, b"<svg></svg>", "x.jpg", token), 422),
        (await upload(client, photo(3000, 3000, quality=100), "big.jpg", token), 413),
        (
            await client.post(
                UPLOAD, data=file_form(png(8, 8), "a.png", "other"), headers={"X-CSRF-Token": token}
            ),
            422,
        ),
        (
            await client.post(
                UPLOAD, data=b"{}", headers={"X-CSRF-Token": token, "Content-Type": "text/plain"}
            ),
            415,
        ),
        (
            await client.post(
                UPLOAD,
                data=b"garbage",
                headers={
                    "X-CSRF-Token": token,
                    "Content-Type": "multipart/form-data; boundary=xyz",
                },
            ),
            400,
        ),
    ]
    for response, status in cases:
        assert response.status == status, (status, await response.text())
        answer = await response.json()
        assert answer["error"]["code"] and answer["error"]["message"], answer
    assert await site_of(client).storage.list_media() == []


async def test_uploads_need_the_csrf_token(site_client: Client) -> None:
    client = site_client
    assert (await upload(client, png(8, 8), "a.png", None)).status == 403
    assert (await upload(client, png(8, 8), "a.png", "wrong")).status == 403
    assert await site_of(client).storage.list_media() == []


async def test_authors_may_upload_and_choose_anonymous_visitors_may_not(
    site_client: Client,
) -> None:
    client = site_client
    await create_user(client, "author", "author")
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/admin/")})
    anonymous = await client.get(CHOICES)
    assert anonymous.status == 401 and (await anonymous.json())["error"]["message"]
    token = await csrf_from(client, "/login")
    refused = await upload(client, png(8, 8), "a.png", token)
    assert refused.status == 401 and (await refused.json())["error"]["code"]

    assert (await login(client, "author", ADMIN_PASSWORD)).status == 303
    token = await csrf_from(client, "/admin/posts/new")
    response = await upload(client, png(16, 16), "a.png", token)
    assert response.status == 201
    listed = await (await client.get(CHOICES)).json()
    assert [image["hash"] for image in listed["images"]] == [(await response.json())["hash"]]


async def test_the_choices_page_newest_first(
    site_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cms.web.views.editor_media

    monkeypatch.setattr(cms.web.views.editor_media, "CHOICES_PAGE_SIZE", 2)
    client = site_client
    token = await csrf_from(client, "/admin/posts/new")
    names = [f"image-{n}.png" for n in range(3)]
    for n, name in enumerate(names):
        assert (await upload(client, png(8 + n, 8), name, token)).status == 201
    first = await (await client.get(CHOICES)).json()
    assert [image["name"] for image in first["images"]] == ["image-2.png", "image-1.png"]
    second = await (await client.get(CHOICES, params={"after": first["next"]})).json()
    assert [image["name"] for image in second["images"]] == ["image-0.png"]
    assert second["next"] is None
    for bad in ("abc", "0", "-1", str(2**40)):
        response = await client.get(CHOICES, params={"after": bad})
        assert response.status == 400 and (await response.json())["error"]["message"]


async def test_a_pasted_image_renders_as_a_picture_and_cannot_be_deleted(
    site_client: Client,
) -> None:
    client = site_client
    token = await csrf_from(client, "/admin/posts/new")
    answer = await (await upload(client, photo(1200, 900, seed=2), "door.jpg", token)).json()
    body = f"Look:\n\n{media_markdown(answer['hash'], 'A red [door]')}\n\n![gone](media:{'d' * 64})"
    assert (await create_post(client, title="Doors", body=body)).status == 303
    page = await (await client.get("/posts/doors")).text()
    picture = re.search(r"<picture>.*?</picture>", page, re.S)
    assert picture is not None, page
    assert 'type="image/webp" srcset="' in picture.group(0)
    assert " 1200w" in picture.group(0)
    assert 'alt="A red [door]"' in picture.group(0)
    assert "gone" in page and "media:" not in page

    media = (await site_of(client).storage.list_media())[0]
    library_token = await csrf_from(client, "/admin/media")
    refused = await client.post(
        f"/admin/media/{media.id}/delete", data={"csrf_token": library_token}
    )
    assert refused.status == 409
    refusal = await refused.text()
    assert "Doors" in refusal and "as cover image or in the text" in refusal
    assert await site_of(client).storage.get_media(media.id) == media


async def test_the_cover_can_be_picked_from_the_library_without_javascript(
    site_client: Client,
) -> None:
    client = site_client
    token = await csrf_from(client, "/admin/posts/new")
    first = await (await upload(client, photo(640, 480, seed=3), "first.jpg", token)).json()
    second = await (await upload(client, photo(640, 480, seed=4), "second.jpg", token)).json()
    form = await (await client.get("/admin/posts/new")).text()
    options = re.findall(r'<option value="([0-9a-f]{64})">([^<]*)</option>', form)
    assert options == [
        (second["hash"], "second.jpg (640×480)"),  # noqa: RUF001 - the page's own sign
        (first["hash"], "first.jpg (640×480)"),  # noqa: RUF001
    ]
    response = await create_post(client, title="Picked", image_pick=first["hash"])
    assert response.status == 303
    post = (await site_of(client).storage.list_posts(limit=1))[0]
    assert post.image == first["hash"]
    # Editing without picking keeps it (image_key); picking another replaces it.
    edit = f"/admin/posts/{post.id}/edit"
    page = await (await client.get(edit)).text()
    assert "Keep the current cover" in page
    data = {
        "title": "Picked",
        "body": "Hello",
        "status": "published",
        "version": str(post.version),
        "image_key": first["hash"],
        "image_pick": second["hash"],
        "csrf_token": await csrf_from(client, edit),
    }
    assert (await client.post(edit, data=data, allow_redirects=False)).status == 303
    assert (await site_of(client).storage.get_post(post.id)).image == second["hash"]  # type: ignore[union-attr]
