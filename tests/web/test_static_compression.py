"""Theme CSS and JavaScript go out minified and compressed to clients that take it
(Lighthouse counted 20-27 KiB of style.css sent as it is); images as they are."""

from __future__ import annotations

import gzip
from typing import Any

import rcssmin

from tests.conftest import ClientFactory, site_of


async def test_css_is_gzipped_for_clients_that_take_it(make_client: ClientFactory) -> None:
    client = await make_client()
    site = site_of(client)
    hashed = site.theme.static_names["style.css"]
    on_disk = site.theme.static_files[hashed].read_bytes()
    url = f"/static/{site.theme.name}/{hashed}"

    coded = await client.get(
        url, headers={"Accept-Encoding": "gzip, deflate"}, auto_decompress=False
    )
    body = await coded.read()
    assert coded.status == 200
    assert coded.headers["Content-Encoding"] == "gzip"
    assert coded.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "Accept-Encoding" in coded.headers["Vary"]
    assert coded.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    minified = rcssmin.cssmin(on_disk)
    assert gzip.decompress(body) == minified
    assert len(minified) < len(on_disk) * 0.8 and b"/*" not in minified
    assert len(body) < len(on_disk) / 3

    plain = await client.get(url, headers={"Accept-Encoding": "identity"}, auto_decompress=False)
    assert "Content-Encoding" not in plain.headers
    assert await plain.read() == minified
    head = await client.head(url, headers={"Accept-Encoding": "gzip"})
    assert head.status == 200 and head.headers["Content-Encoding"] == "gzip"


async def test_images_go_out_as_they_are(make_client: ClientFactory) -> None:
    client: Any = await make_client()
    icon = await client.get("/favicon.ico", headers={"Accept-Encoding": "gzip"})
    assert icon.status == 200 and "Content-Encoding" not in icon.headers


def test_javascript_is_minified_and_other_text_left_as_it_is() -> None:
    from cms.web.static_files import _minified

    script = b"// a comment\nfunction add(first, second) {\n    return first + second;\n}\n"
    assert (
        _minified("text/javascript", script) == b"function add(first,second){return first+second;}"
    )
    assert _minified("image/svg+xml", b"<svg>  </svg>") == b"<svg>  </svg>"
