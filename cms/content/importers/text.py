"""Another system's post HTML to the Markdown cms keeps, so the post stays editable.

WordPress first: block-editor comments go, ``[caption]`` shortcodes become figures with
captions, other shortcodes stay as text (and are counted), and classic-editor text (blank
lines for paragraphs, no ``<p>``) gets its paragraphs as WordPress's ``wpautop`` would.
Then markdownify turns the HTML into Markdown; figures stay HTML (Markdown has no caption),
which the site's renderer and sanitizer keep.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape, unescape
from typing import Any

from markdownify import MarkdownConverter

__all__ = ["Converted", "convert_html", "image_addresses", "plain_text"]

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_CAPTION = re.compile(r"\[caption([^\]]*)\](.*?)\[/caption\]", re.DOTALL | re.IGNORECASE)
_CAPTION_ATTRIBUTE = re.compile(r'caption="([^"]*)"')
# The image (maybe inside a link) a [caption] wraps; the rest is the caption's text.
_CAPTIONED = re.compile(r"^\s*((?:<a\b[^>]*>\s*)?<img\b[^>]*>(?:\s*</a>)?)(.*)$", re.DOTALL)
_SHORTCODE = re.compile(r"\[([a-zA-Z][\w-]*)(?:\s[^\]\[]*)?/?\]")
_IMG_SRC = re.compile(r"""<img\b[^>]*?\ssrc\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_BLOCK = re.compile(
    r"^\s*</?(?:p|div|h[1-6]|ul|ol|li|blockquote|pre|table|thead|tbody|tr|td|th|figure|hr|"
    r"dl|dt|dd|address|section|article|aside|header|footer|form|iframe|script|style|video|"
    r"audio|object)\b",
    re.IGNORECASE,
)
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


@dataclass
class Converted:
    """A post's text as Markdown, with what the conversion met."""

    body: str
    shortcodes: Counter[str] = field(default_factory=Counter)
    captions: int = 0


def image_addresses(html: str) -> list[str]:
    """The ``src`` of every ``<img>`` in the HTML, in order."""
    return [unescape(src) for src in _IMG_SRC.findall(html)]


def plain_text(html: str) -> str:
    """The text of some HTML, tags gone, spaces tidied."""
    return " ".join(unescape(_TAG.sub(" ", html)).split())


def _figure(match: re.Match[str]) -> str:
    attributes, inner = match.group(1), match.group(2)
    found = _CAPTIONED.match(inner)
    if found is None:
        return inner
    image, text = found.group(1), found.group(2).strip()
    if not text and (old := _CAPTION_ATTRIBUTE.search(attributes)):
        text = escape(unescape(old.group(1)), quote=False)
    caption = f"<figcaption>{text}</figcaption>" if text else ""
    return f"\n\n<figure>{image}{caption}</figure>\n\n"


def _autop(html: str) -> str:
    """WordPress's classic editor: blank lines part paragraphs, a newline is a line break."""
    parts = _PRE.split(html)
    out: list[str] = []
    for part in parts:
        if _PRE.fullmatch(part):
            out.append(part)
            continue
        for chunk in re.split(r"\n\s*\n", part.replace("\r\n", "\n")):
            chunk = chunk.strip()
            if not chunk:
                continue
            if _BLOCK.match(chunk):
                out.append(chunk)
            else:
                out.append("<p>" + chunk.replace("\n", "<br>\n") + "</p>")
    return "\n\n".join(out)


class _Converter(MarkdownConverter):
    """markdownify, keeping figures (image and caption together) as HTML."""

    def convert_figure(self, el: Any, text: str, *args: Any, **kwargs: Any) -> str:
        return f"\n\n{el}\n\n"


_converter = _Converter(heading_style="ATX", bullets="-", strip=["script", "style"])


def convert_html(
    html: str, *, images: Mapping[str, str] | None = None, wordpress: bool = False
) -> Converted:
    """Turn one post's HTML into Markdown. ``images`` maps an image's old address to its
    new one (the others stay as they are)."""
    result = Converted(body="")
    html = _COMMENT.sub("", html)
    if wordpress:
        html, result.captions = _CAPTION.subn(_figure, html)
        result.shortcodes.update(match.group(1).lower() for match in _SHORTCODE.finditer(html))
        if "<p" not in html.lower():
            html = _autop(html)
    else:
        result.captions = html.lower().count("<figcaption")
    # Every mention of a moved image (its src, and the links to its full size) moves.
    for address in sorted(images or (), key=len, reverse=True):
        assert images is not None
        html = html.replace(address, images[address])
    body = _converter.convert(html)
    result.body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    return result
