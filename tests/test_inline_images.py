"""Images of the media library in a post's text (``![alt](media:<hash>)``): rendered as a
``<picture>`` with the renditions' ``srcset``, in the Markdown renderer and through a real site
with real uploads; an unknown hash leaves the alt text, and the sanitizer still applies."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from cms.content.image_sets import ImageSet
from cms.content.rendering import media_hashes, render_markdown

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
