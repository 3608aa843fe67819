"""Images (the pillow_images plugin, cms.web.images, cms.web.uploads): uploads through the admin
form and ``POST /api/media``, what is refused and that nothing of it is stored, the
renditions (upright, no metadata, every width, WebP and JPEG), ``/media/`` and
``picture()`` in the themes. Real uploads over HTTP, real worker processes."""

from __future__ import annotations

import asyncio
import io
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from cms.content.tokens import issue_token
from cms.contracts import Media
from cms.core.settings import SettingsError
from tests.conftest import (
    ClientFactory,
    csrf_from,
    make_settings,
    setup_admin,
    site_of,
)
from tests.image_files import (
    BLUE,
    EPS_FILE,
    HTML_PAGE,
    RED,
    SVG_DRAWING,
    XMP_MARKER,
    animated_gif,
    photo,
    png,
    rotated_photo,
    sparse_png,
    transparent_png,
)

Client = TestClient[Any, Any]
WIDTHS = (320, 800, 1600)
SRCSET_ITEM = re.compile(r"(/media/[0-9a-f]{2}/[0-9a-f]{32}\.(?:webp|jpg|png|gif)) (\d+)w")
IMMUTABLE = "public, max-age=31536000, immutable"


# -- helpers ---------------------------------------------------------------------------------


def media_dir(client: Client) -> Path:
    return site_of(client).settings.base_dir / "media"


def stored_files(client: Client) -> list[str]:
    """Every file of the media folder, temporary ones included, as relative paths."""
    root = media_dir(client)
    if not root.exists():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


async def media_rows(client: Client) -> list[Media]:
    return await site_of(client).storage.list_media()


async def admin_token(client: Client) -> str:
    await setup_admin(client)
    return (await issue_token(site_of(client), "admin", label="images")).secret


def upload_form(data: bytes, filename: str, field: str = "file") -> aiohttp.FormData:
    # Names as browsers send them: raw, not percent-encoded as aiohttp's client does.
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(field, data, filename=filename, content_type="application/octet-stream")
    return form


async def upload(client: Client, token: str, data: bytes, filename: str) -> Any:
    return await client.post(
        "/api/media",
        data=upload_form(data, filename),
        headers={"Authorization": f"Bearer {token}"},
    )


def post_form(token: str, fields: dict[str, str], image: tuple[bytes, str] | None) -> Any:
    """The admin post form as a browser sends it: the CSRF token first, the file last."""
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("csrf_token", token)
    for name, value in fields.items():
        form.add_field(name, value)
    if image is not None:
        form.add_field("image", image[0], filename=image[1], content_type="image/jpeg")
    return form


async def create_with_image(
    client: Client, image: tuple[bytes, str] | None, **fields: str
) -> aiohttp.ClientResponse:
    token = await csrf_from(client, "/admin/posts/new")
    values = {"title": "With a cover", "slug": "", "body": "Hello", "status": "published"}
    response: aiohttp.ClientResponse = await client.post(
        "/admin/posts/new",
        data=post_form(token, {**values, **fields}, image),
        allow_redirects=False,
    )
    return response


def open_image(client: Client, url: str) -> Path:
    return media_dir(client) / url.removeprefix("/media/")


@pytest.fixture
async def images_client(make_client: ClientFactory) -> Client:
    """A site with images (the default backend), one worker process."""
    return await make_client(images={"backend": "pillow", "options": {"workers": 1}})


# -- done when 1: a rotated photo with GPS -----------------------------------------------


async def test_a_rotated_photo_with_gps_becomes_clean_upright_renditions_in_srcset(
    images_client: Client,
) -> None:
    client = images_client
    await setup_admin(client)
    # Larger than the widest rendition once upright (1800 wide); a 12 MP photo took 40 s
    # of the suite for nothing more.
    original = rotated_photo(2400, 1800)
    assert b"GPS" in original or Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    response = await create_with_image(client, (original, "Holiday Photo.JPG"))
    assert response.status == 303, await response.text()

    [media] = await media_rows(client)
    assert (media.width, media.height, media.format) == (1800, 2400, "jpeg")
    assert media.original_name == "Holiday Photo.JPG"
    assert media.uploader == "admin"
    made = {(r.width, r.format) for r in media.renditions}
    assert made == {(w, f) for w in WIDTHS for f in ("webp", "jpeg")}
    for rendition in media.renditions:
        data = (media_dir(client) / rendition.key).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == {"webp": "WEBP", "jpeg": "JPEG"}[rendition.format]
            # Upright: portrait, red on top, blue below.
            assert image.size == (rendition.width, rendition.height)
            assert image.height > image.width
            assert rendition.height == round(2400 * rendition.width / 1800)
            rgb = image.convert("RGB")
            top = rgb.getpixel((image.width // 2, image.height // 8))
            bottom = rgb.getpixel((image.width // 2, image.height * 7 // 8))
            assert _close(top, RED) and _close(bottom, BLUE), (top, bottom)
            # No metadata at all: no EXIF (so no GPS), no XMP, no ICC profile.
            assert len(image.getexif()) == 0
            assert not {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp"} & set(image.info)
        assert b"Exif" not in data and XMP_MARKER not in data and b"Test Camera" not in data
    # The user's file name names no file: everything is named after its content.
    assert not any("Holiday" in name for name in stored_files(client))

    page = await client.get("/posts/with-a-cover")
    html = await page.text()
    img = re.search(r"<img [^>]*srcset=\"([^\"]+)\"[^>]*>", html)
    assert img is not None, html
    listed = {(url, int(width)) for url, width in SRCSET_ITEM.findall(img.group(1))}
    jpegs = {(f"/media/{r.key}", r.width) for r in media.renditions if r.format == "jpeg"}
    assert listed == jpegs
    source = re.search(r'<source type="image/webp" srcset="([^"]+)"', html)
    assert source is not None
    webps = {(f"/media/{r.key}", r.width) for r in media.renditions if r.format == "webp"}
    assert {(u, int(w)) for u, w in SRCSET_ITEM.findall(source.group(1))} == webps
    assert 'sizes="' in img.group(0) and 'width="1600" height="2133"' in img.group(0)
    # The index shows it too.
    assert "/media/" in await (await client.get("/")).text()
    # Every rendition is served, for good.
    for rendition in media.renditions:
        served = await client.get(f"/media/{rendition.key}")
        assert served.status == 200
        assert served.headers["Cache-Control"] == IMMUTABLE
        assert served.content_type == rendition.content_type
        assert await served.read() == (media_dir(client) / rendition.key).read_bytes()


def _close(color: Any, expected: tuple[int, int, int], slack: int = 40) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(color, expected, strict=True))


# -- done when 2: refused uploads, nothing stored ---------------------------------------


def _truncated_jpeg() -> bytes:
    whole = photo(1200, 900)
    return whole[: len(whole) // 2]


REFUSED = [
    ("bomb.png", sparse_png(20000, 20000), 422, "pixels"),
    ("big.png", sparse_png(12000, 12000), 422, "pixels"),
    ("cut.jpg", _truncated_jpeg(), 422, "damaged or truncated"),
    ("page.jpg", HTML_PAGE, 422, "HTML page"),
    ("drawing.svg", SVG_DRAWING, 422, ".svg"),
    ("drawing.png", SVG_DRAWING, 422, "SVG drawing"),
    ("figure.eps", EPS_FILE, 422, ".eps"),
    ("figure.jpg", EPS_FILE, 422, "EPS"),
    ("green.jpg", png(64, 64), 422, "rename it to .png"),
    ("noname", photo(64, 64), 422, ".jpg, .jpeg, .png, .gif or .webp"),
]


@pytest.mark.parametrize(
    ("name", "data", "status", "message"), REFUSED, ids=[case[0] for case in REFUSED]
)
async def test_refused_uploads_store_nothing(
    images_client: Client, name: str, data: bytes, status: int, message: str
) -> None:
    client = images_client
    token = await admin_token(client)
    started = time.monotonic()
    response = await upload(client, token, data, name)
    elapsed = time.monotonic() - started
    body = await response.json()
    assert response.status == status, body
    assert message in body["error"]["message"], body
    assert body["error"]["code"] == "invalid_image"
    assert elapsed < 5, elapsed
    assert stored_files(client) == []
    assert await media_rows(client) == []


async def test_an_upload_past_the_limit_is_413_and_stores_nothing(
    images_client: Client,
) -> None:
    client = images_client
    token = await admin_token(client)
    too_big = photo(64, 64) + bytes(11 * 1024 * 1024)
    response = await upload(client, token, too_big, "huge.jpg")
    body = await response.json()
    assert response.status == 413, body
    assert body["error"]["code"] == "too_large"
    assert "10 MB" in body["error"]["message"]
    assert stored_files(client) == [] and await media_rows(client) == []


async def test_the_limit_is_counted_while_streaming_without_a_content_length(
    make_client: ClientFactory,
) -> None:
    """A chunked upload declares no size: the byte counter stops it, and the upload's
    temporary file is gone."""
    client = await make_client(images={"options": {"max_bytes": 100_000, "workers": 1}})
    token = await admin_token(client)

    async def body() -> Any:
        boundary = "xxBOUNDARYxx"
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        for _ in range(40):  # 40 x 10 KB: past the limit of 100,000 bytes
            yield b"\xff" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        "/api/media",
        data=body(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "multipart/form-data; boundary=xxBOUNDARYxx",
        },
    )
    assert response.status == 413, await response.text()
    assert stored_files(client) == [] and await media_rows(client) == []


async def test_the_pixel_budget_counts_every_frame(make_client: ClientFactory) -> None:
    client = await make_client(images={"options": {"max_pixels": 1_000_000, "workers": 1}})
    token = await admin_token(client)
    response = await upload(client, token, animated_gif(500, 500, 5), "frames.gif")
    body = await response.json()
    assert response.status == 422, body
    assert "500 x 500 pixels in 5 frames" in body["error"]["message"]
    ok = await upload(client, token, animated_gif(500, 500, 3), "three.gif")
    assert ok.status == 201, await ok.text()


# -- the API ---------------------------------------------------------------------------------


async def test_upload_through_the_api_then_a_post_shows_it(images_client: Client) -> None:
    client = images_client
    token = await admin_token(client)
    auth = {"Authorization": f"Bearer {token}"}
    response = await upload(client, token, photo(1200, 800), "wide.jpg")
    assert response.status == 201, await response.text()
    media = (await response.json())["data"]
    assert response.headers["Location"] == f"/api/media/{media['id']}"
    assert (media["width"], media["height"], media["format"]) == (1200, 800, "jpeg")
    assert len(media["hash"]) == 64 and media["original_name"] == "wide.jpg"
    assert [(r["width"], r["format"]) for r in media["renditions"]] == [
        (320, "jpeg"),
        (320, "webp"),
        (800, "jpeg"),
        (800, "webp"),
        (1200, "jpeg"),  # never upscaled: its own width instead of 1600
        (1200, "webp"),
    ]
    again = await client.get(f"/api/media/{media['id']}", headers=auth)
    assert (await again.json())["data"] == media

    created = await client.post(
        "/api/posts",
        json={"title": "Via API", "status": "published", "image": media["hash"]},
        headers=auth,
    )
    assert created.status == 201, await created.text()
    post = (await created.json())["data"]
    assert post["image"] == media["hash"]
    html = await (await client.get("/posts/via-api")).text()
    assert all(r["url"] in html for r in media["renditions"])

    # A PATCH of another field keeps the image; null removes it; an unknown hash is 422.
    patched = await client.patch(f"/api/posts/{post['id']}", json={"title": "T2"}, headers=auth)
    assert (await patched.json())["data"]["image"] == media["hash"]
    unknown = await client.patch(f"/api/posts/{post['id']}", json={"image": "0" * 64}, headers=auth)
    assert unknown.status == 422
    assert "upload the image first" in (await unknown.json())["error"]["fields"]["image"]
    bad = await client.patch(f"/api/posts/{post['id']}", json={"image": "x.jpg"}, headers=auth)
    assert bad.status == 422
    cleared = await client.patch(f"/api/posts/{post['id']}", json={"image": None}, headers=auth)
    assert (await cleared.json())["data"]["image"] is None
    assert "/media/" not in await (await client.get("/posts/via-api")).text()


async def test_the_same_bytes_twice_are_one_image(images_client: Client) -> None:
    client = images_client
    token = await admin_token(client)
    data = photo(900, 600)
    first = await (await upload(client, token, data, "a.jpg")).json()
    files = stored_files(client)
    second = await (await upload(client, token, data, "b.jpg")).json()
    assert first["data"]["id"] == second["data"]["id"]
    assert second["data"]["original_name"] == "a.jpg"
    assert stored_files(client) == files
    assert len(await media_rows(client)) == 1


async def test_uploading_needs_a_writer(images_client: Client) -> None:
    client = images_client
    anonymous = await client.post("/api/media", data=upload_form(photo(64, 64), "a.jpg"))
    assert anonymous.status == 401
    token = await admin_token(client)
    not_multipart = await client.post(
        "/api/media", data=b"abc", headers={"Authorization": f"Bearer {token}"}
    )
    assert not_multipart.status == 415
    no_file = aiohttp.FormData(default_to_multipart=True)
    no_file.add_field("other", "x")
    missing = await client.post(
        "/api/media", data=no_file, headers={"Authorization": f"Bearer {token}"}
    )
    assert missing.status == 422
    assert stored_files(client) == []


async def test_a_session_upload_needs_the_csrf_token(images_client: Client) -> None:
    """The API with the browser session: the X-CSRF-Token header, or the token as the
    first part; without either, 403 and nothing read or stored."""
    client = images_client
    await setup_admin(client)
    token = await csrf_from(client, "/admin/posts/new")
    refused = await client.post("/api/media", data=upload_form(photo(64, 64), "a.jpg"))
    assert refused.status == 403
    assert stored_files(client) == []
    with_header = await client.post(
        "/api/media", data=upload_form(photo(64, 64), "a.jpg"), headers={"X-CSRF-Token": token}
    )
    assert with_header.status == 201, await with_header.text()
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("file", photo(80, 64), filename="b.jpg", content_type="image/jpeg")
    first_part = await client.post("/api/media", data=form)
    assert first_part.status == 201, await first_part.text()


# -- the admin form ---------------------------------------------------------------------


async def test_the_admin_form_refuses_a_post_without_its_csrf_token_first(
    images_client: Client,
) -> None:
    client = images_client
    await setup_admin(client)
    token = await csrf_from(client, "/admin/posts/new")
    fields = {"title": "No", "body": "", "status": "draft"}
    late = aiohttp.FormData()
    for name, value in fields.items():
        late.add_field(name, value)
    late.add_field("image", photo(64, 64), filename="a.jpg", content_type="image/jpeg")
    late.add_field("csrf_token", token)  # after the file: the file would be read first
    assert (await client.post("/admin/posts/new", data=late)).status == 403
    wrong = post_form("not the token", fields, (photo(64, 64), "a.jpg"))
    assert (await client.post("/admin/posts/new", data=wrong)).status == 403
    assert stored_files(client) == [] and await media_rows(client) == []
    assert await site_of(client).storage.list_posts(limit=5, order="updated") == []


async def test_the_admin_form_keeps_replaces_and_removes_the_cover(images_client: Client) -> None:
    client = images_client
    await setup_admin(client)
    response = await create_with_image(client, (photo(1000, 700, seed=1), "one.jpg"))
    assert response.status == 303, await response.text()
    edit = response.headers["Location"].split("?")[0]
    [first] = await media_rows(client)
    form_html = await (await client.get(edit)).text()
    assert f'name="image_key" value="{first.content_hash}"' in form_html
    assert 'class="cover-preview__image"' in form_html
    # The hidden inputs come before the file input, the CSRF token first of all.
    assert form_html.index('name="csrf_token"') < form_html.index('type="file"')

    async def save(image: tuple[bytes, str] | None, **extra: str) -> str:
        token = await csrf_from(client, edit)
        page = await client.get(edit)
        version = re.search(r'name="version" value="(\d+)"', await page.text())
        assert version
        fields = {"title": "Edited", "slug": "with-a-cover", "body": "b", "status": "published"}
        fields.update({"version": version.group(1), "image_key": first.content_hash, **extra})
        answer = await client.post(edit, data=post_form(token, fields, image))
        assert answer.status == 200, await answer.text()
        post = await site_of(client).storage.get_post_by_slug("with-a-cover")
        assert post is not None
        return post.image or ""

    assert await save(None) == first.content_hash  # no file chosen: the cover stays
    replaced = await save((photo(800, 600, seed=2), "two.jpg"))
    assert replaced != first.content_hash and len(await media_rows(client)) == 2
    assert await save(None, image_key=replaced, image_remove="on") == ""


async def test_a_refused_cover_shows_the_form_again_and_saves_nothing(
    images_client: Client,
) -> None:
    client = images_client
    await setup_admin(client)
    response = await create_with_image(client, (HTML_PAGE, "cover.jpg"), title="Kept title")
    html = await response.text()
    assert response.status == 422, html
    assert "this file is an HTML page" in html and 'aria-invalid="true"' in html
    assert 'value="Kept title"' in html  # what was typed is still there
    assert await site_of(client).storage.list_posts(limit=5, order="updated") == []
    assert stored_files(client) == []


async def test_a_cover_past_the_limit_is_a_themed_413(make_client: ClientFactory) -> None:
    client = await make_client(images={"options": {"max_bytes": 50_000, "workers": 1}})
    await setup_admin(client)
    response = await create_with_image(client, (photo(64, 64) + bytes(60_000), "big.jpg"))
    html = await response.text()
    assert response.status == 413, html
    assert "larger than 50000 bytes" in html and 'class="error-page"' in html
    assert stored_files(client) == [] and await media_rows(client) == []


# -- formats ---------------------------------------------------------------------------------


async def test_transparency_keeps_png_and_animation_takes_the_first_frame(
    images_client: Client,
) -> None:
    client = images_client
    token = await admin_token(client)
    clear = await (await upload(client, token, transparent_png(400, 200), "logo.png")).json()
    kinds = {r["format"] for r in clear["data"]["renditions"]}
    assert kinds == {"png", "webp"}
    with Image.open(open_image(client, clear["data"]["renditions"][0]["url"])) as image:
        assert image.mode == "RGBA" and image.getpixel((300, 100))[3] == 0

    moving = await (await upload(client, token, animated_gif(200, 100, 4), "move.gif")).json()
    assert moving["data"]["animated"] is False
    for rendition in moving["data"]["renditions"]:
        with Image.open(open_image(client, rendition["url"])) as image:
            assert getattr(image, "n_frames", 1) == 1


async def test_animation_is_kept_when_allowed(make_client: ClientFactory) -> None:
    client = await make_client(images={"options": {"allow_animation": True, "workers": 1}})
    token = await admin_token(client)
    moving = await (await upload(client, token, animated_gif(200, 100, 4), "move.gif")).json()
    assert moving["data"]["animated"] is True
    assert {r["format"] for r in moving["data"]["renditions"]} == {"gif", "webp"}
    for rendition in moving["data"]["renditions"]:
        with Image.open(open_image(client, rendition["url"])) as image:
            assert image.n_frames == 4


# -- serving ---------------------------------------------------------------------------------


async def test_media_serves_only_renditions(images_client: Client) -> None:
    client = images_client
    token = await admin_token(client)
    media = (await (await upload(client, token, photo(400, 300), "a.jpg")).json())["data"]
    [row] = await media_rows(client)
    assert (media_dir(client) / row.source).is_file()
    (media_dir(client).parent / "secret.txt").write_text("not for visitors")
    for path in (
        f"/media/{row.source}",  # the source copy is never served
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/..%2fsecret.txt",
        "/media/.tmp/x",
        "/media/ab/" + "0" * 32 + ".webp",  # well-formed, missing
        "/media/ab/" + "ab" + "0" * 30 + ".svg",
    ):
        response = await client.get(path)
        assert response.status == 404, path
        assert "not for visitors" not in await response.text()
    url = media["renditions"][0]["url"]
    response = await client.get(url)
    assert response.status == 200 and response.headers["Cache-Control"] == IMMUTABLE


# -- off the event loop ------------------------------------------------------------------


async def test_pages_answer_while_an_image_is_processed(images_client: Client) -> None:
    client = images_client
    token = await admin_token(client)
    await upload(client, token, photo(64, 64), "warm.jpg")  # the worker process is up
    uploading = asyncio.create_task(upload(client, token, photo(6000, 4500, seed=3), "x.jpg"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    answered = 0
    while not uploading.done():
        page = await client.get("/healthz")
        assert page.status == 200
        answered += 1
        await asyncio.sleep(0.05)
    slowest = time.monotonic() - started
    assert (await uploading).status == 201
    assert answered >= 3, f"only {answered} page(s) in {slowest:.2f} s of processing"


# -- settings --------------------------------------------------------------------------------


async def test_images_are_on_by_default_and_bad_options_stop_start_up(site_dir: Path) -> None:
    from cms.core.site import Site

    site = Site(make_settings(site_dir))
    await site.configure()
    assert site.images is not None and site.images.name == "pillow"
    assert site.images.max_bytes == 10 * 1024 * 1024
    for options, problem in (
        ({"widths": [0]}, "0 is not a width from 16 to 8192"),
        ({"max_bytes": "lots"}, "max_bytes"),
        ({"colour": "red"}, "colour"),
    ):
        with pytest.raises(SettingsError) as caught:
            await Site(make_settings(site_dir, images={"options": options})).configure()
        message = str(caught.value)
        assert message.startswith("[images] options (pillow): ") and problem in message
        assert "\n" not in message


async def test_a_malformed_multipart_body_is_refused_not_a_crash(images_client: Client) -> None:
    client = images_client
    await setup_admin(client)
    token = await csrf_from(client, "/admin/posts/new")
    start = f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
    cut_file = start + '--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
    for content_type, body in (
        ("multipart/form-data", "no boundary"),
        ("multipart/form-data; boundary=b", "no part at all"),
        ("multipart/form-data; boundary=b", start),  # ends before its closing boundary
        ("multipart/form-data; boundary=b", cut_file + "\r\n" + "x" * 5000),
        # A part header with a control character (aiohttp refuses it as an HTTP header).
        (
            "multipart/form-data; boundary=b",
            start + '--b\r\nContent-Disposition: form-data; name="\x08"\r\n\r\nx\r\n--b--\r\n',
        ),
    ):
        for path in ("/admin/posts/new", "/api/media"):
            response = await client.post(
                path,
                data=body.encode(),
                headers={"Content-Type": content_type, "X-CSRF-Token": token}
                if path == "/api/media"
                else {"Content-Type": content_type},
            )
            # 400, or 403 when the token itself could not be read whole: never a crash.
            assert response.status in (400, 403), (path, body[:30], await response.text())
    assert stored_files(client) == []


async def test_journal_shows_uploaded_covers(make_client: ClientFactory) -> None:
    client = await make_client(theme="journal", images={"options": {"workers": 1}})
    token = await admin_token(client)
    auth = {"Authorization": f"Bearer {token}"}
    media = (await (await upload(client, token, photo(1200, 800), "lead.jpg")).json())["data"]
    for title in ("Older story", "Lead story"):
        created = await client.post(
            "/api/posts",
            json={"title": title, "status": "published", "image": media["hash"]},
            headers=auth,
        )
        assert created.status == 201, await created.text()
    urls = [r["url"] for r in media["renditions"]]
    for path in ("/", "/posts/lead-story"):
        html = await (await client.get(path)).text()
        assert 'class="cover cover--tone-' in html and "cover--image" in html
        assert all(url in html for url in urls), path
        assert 'class="cover__image"' in html and 'sizes="' in html


async def test_a_worker_killed_while_processing_refuses_only_that_upload(
    images_client: Client,
) -> None:
    import os
    import signal

    from tests.test_images_server import process_tree

    client = images_client
    token = await admin_token(client)
    await upload(client, token, photo(64, 64), "warm.jpg")
    kept = stored_files(client)
    uploading = asyncio.create_task(upload(client, token, photo(6000, 4500, seed=5), "big.jpg"))
    temporary = media_dir(client) / ".tmp"
    deadline = time.monotonic() + 20
    while not any(path.suffix == ".job" for path in temporary.iterdir()):
        assert time.monotonic() < deadline, "processing never started"
        await asyncio.sleep(0.02)
    # The image workers are the only processes here under SCHED_IDLE.
    workers = [
        pid for pid in process_tree(os.getpid()) if os.sched_getscheduler(pid) == os.SCHED_IDLE
    ]
    assert len(workers) == 1, workers
    os.kill(workers[0], signal.SIGKILL)
    response = await uploading
    body = await response.json()
    assert response.status == 422, body
    assert "could not be processed" in body["error"]["message"]
    assert stored_files(client) == kept and len(await media_rows(client)) == 1
    again = await upload(client, token, photo(800, 600, seed=6), "next.jpg")
    assert again.status == 201, await again.text()
