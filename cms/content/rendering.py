"""Markdown to safe HTML: markdown-it-py renders, nh3 removes anything executable.

Beyond CommonMark: tables, strikethrough, footnotes, task lists and bare links
(markdown-it-py's own plugins: ``mdit-py-plugins`` and ``linkify-it-py``). Footnote ids
carry the post's slug (``fn-<slug>-1``), so two posts on one page never share an id; task
list checkboxes come out disabled, inside a ``<label>`` with their text.

An image of the media library is written ``![alt text](media:<content hash>)``: it comes out
as a ``<picture>`` with the WebP and JPEG (PNG, GIF) renditions as ``srcset``, like a cover.
An unknown hash leaves only the alt text; any other image stays a plain ``<img>``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from cms.content.image_sets import ImageSet, image_sets
from cms.contracts import MEDIA_IN_TEXT, media_in_text
from cms.core import hookspecs

if TYPE_CHECKING:
    from cms.core.site import Site

__all__ = [
    "MEDIA_IMAGE",
    "footnote_prefix",
    "media_hashes",
    "media_markdown",
    "render_body",
    "render_markdown",
    "sanitize_html",
]

#: An image of the media library in a post's Markdown: ``media:`` and its content hash
#: (the contract's pattern: storage notes the same hashes as the post's uses).
MEDIA_IMAGE = MEDIA_IN_TEXT
#: What an in-text image is laid out at: the text column, or the screen when narrower.
_BODY_SIZES = "(min-width: 48rem) 48rem, 100vw"

# Bodies longer than this are rendered in a thread so a huge post never stalls the loop.
_INLINE_LIMIT = 20_000


def _footnote_backref(
    self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Mapping[str, Any]
) -> str:
    """The link back from a footnote to where it is cited, named for screen readers."""
    ident: str = self.rules["footnote_anchor_name"](tokens, idx, options, env)
    if tokens[idx].meta["subId"] > 0:
        ident += ":" + str(tokens[idx].meta["subId"])
    return (
        f' <a href="#fnref{ident}" class="footnote-backref" '
        'aria-label="Back to the text">\u21a9\ufe0e</a>'
    )


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _picture(found: ImageSet, alt: str, title: str) -> str:
    fallback = found.fallback_format
    if fallback is None:
        return _escape(alt)
    widest = found.renditions[fallback][-1]
    sources = "".join(
        f'<source type="image/{kind}" srcset="{_escape(found.srcset(kind))}" sizes="{_BODY_SIZES}">'
        for kind in ("webp", fallback)
        if found.renditions.get(kind)
    )
    title_attribute = f' title="{_escape(title)}"' if title else ""
    return (
        f'<picture>{sources}<img src="{_escape(found.url(800, fallback))}" width="{widest[1]}" '
        f'height="{widest[2]}" alt="{_escape(alt)}"{title_attribute} loading="lazy"></picture>'
    )


def _image(
    self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Mapping[str, Any]
) -> str:
    """``media:<hash>`` images as a ``<picture>`` of their renditions; others as markdown-it
    writes them."""
    token = tokens[idx]
    source = str(token.attrGet("src") or "")
    if not source.startswith("media:"):
        return str(self.image(tokens, idx, options, env))
    alt = self.renderInlineAsText(token.children or [], options, env)
    match = MEDIA_IMAGE.fullmatch(source)
    found = env.get("cms_images", {}).get(match.group(1)) if match else None
    if found is None:
        # Deleted, or never was: the words stand in for the picture.
        return _escape(alt)
    return _picture(found, alt, str(token.attrGet("title") or ""))


_markdown = (
    MarkdownIt("commonmark", {"html": True, "linkify": True})
    .enable(["table", "strikethrough", "linkify"])
    .use(footnote_plugin)
    # Wrapped in a <label>: each checkbox is named by its item's text.
    .use(tasklists_plugin, label=True)
)
_markdown.add_render_rule("footnote_anchor", _footnote_backref)
_markdown.add_render_rule("image", _image)

_TAGS = nh3.ALLOWED_TAGS | {
    "figure",
    "figcaption",
    "picture",
    "source",
    "section",
    "label",
    "input",
}
#: The only ids kept: the footnotes' own (``fn-<slug>-1``, ``fnref-<slug>-1:1``). Any
#: other id in an author's HTML could clash with the page's (``main``, a form's inputs).
_FOOTNOTE_ID = re.compile(r"fn(?:ref)?-[a-z0-9-]+-\d+(?::\d+)?")
_CLASSES = {
    "footnote-ref",
    "footnote-backref",
    "footnote-item",
    "footnotes",
    "footnotes-list",
    "footnotes-sep",
    "contains-task-list",
    "task-list-item",
    "task-list-item-checkbox",
}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {*nh3.ALLOWED_ATTRIBUTES.get("a", ()), "id", "class", "aria-label"},
    "sup": {"class"},
    "li": {"id", "class"},
    "ul": {"class"},
    "ol": {*nh3.ALLOWED_ATTRIBUTES.get("ol", ()), "class"},
    "hr": {"class"},
    "section": {"class"},
    "label": set(),
    # An input is only ever a disabled checkbox (set below): a task list's box.
    "input": {"class", "checked"},
    "code": {"class"},
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "source": {"srcset", "type", "media", "sizes"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "id":
        return value if _FOOTNOTE_ID.fullmatch(value) else None
    if attribute == "class" and tag != "code":
        kept = [name for name in value.split() if name in _CLASSES]
        return " ".join(kept) or None
    return value


def sanitize_html(html: str) -> str:
    """Keep formatting, drop scripts, event handlers and ``javascript:`` URLs."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        # An input is a disabled checkbox: kept as such (task lists write both, in this
        # order, which keeps the HTML the same each time), or made one.
        tag_attribute_values={"input": {"type": {"checkbox"}, "disabled": {"disabled"}}},
        set_tag_attribute_values={"input": {"type": "checkbox", "disabled": "disabled"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def footnote_prefix(post: Mapping[str, Any]) -> str:
    """What a post's footnote ids carry after ``fn-``: its slug, so they are its own."""
    slug = re.sub(r"[^a-z0-9-]+", "-", str(post.get("slug") or "").lower()).strip("-")
    return slug or "post"


def media_hashes(body: str) -> set[str]:
    """The content hashes of the media library's images a Markdown body names."""
    return media_in_text(body)


def media_markdown(content_hash: str, alt: str) -> str:
    """The Markdown for an image of the media library, with its alt text."""
    alt = " ".join(alt.split())
    escaped = re.sub(r"([\\\[\]])", r"\\\1", alt)
    return f"![{escaped}](media:{content_hash})"


def render_markdown(
    body: str, prefix: str = "post", images: Mapping[str, ImageSet] | None = None
) -> str:
    """Markdown source to sanitized HTML; footnote ids are ``fn-<prefix>-<n>``; ``images``
    are the media library's images the body names, by content hash."""
    return sanitize_html(_markdown.render(body, {"docId": prefix, "cms_images": images or {}}))


async def render_body(
    site: Site,
    body: str,
    post: Mapping[str, Any],
    *,
    images: Mapping[str, ImageSet] | None = None,
) -> str:
    """A post's HTML: the first ``render_post_body`` plugin result, else Markdown, then
    through every ``filter_post_html`` plugin in turn; always sanitized.

    The media library's images the body names are looked up in the site's storage, or in
    ``images`` (by content hash) when given: an import renders before its rows exist."""
    html = await site.plugins.first(hookspecs.render_post_body, body=body, post=post, cms=site)
    prefix = footnote_prefix(post)
    if html is not None:
        html = sanitize_html(str(html))
    else:
        named = media_hashes(body)
        if images is None:
            images = await image_sets(site, named)
        else:
            images = {key: found for key, found in images.items() if key in named}
        if len(body) <= _INLINE_LIMIT:
            html = render_markdown(body, prefix, images)
        else:
            html = await asyncio.get_running_loop().run_in_executor(
                None, render_markdown, body, prefix, images
            )
    if not site.plugins.implements(hookspecs.filter_post_html):
        return str(html)
    filtered = await site.plugins.chain(hookspecs.filter_post_html, html=html, post=post, cms=site)
    # What filters add is held to the same rules as what authors write.
    return sanitize_html(str(filtered))
