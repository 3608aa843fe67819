"""Markdown to safe HTML: markdown-it-py renders, nh3 removes anything executable."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import nh3
from markdown_it import MarkdownIt

from cms.core import hookspecs

if TYPE_CHECKING:
    from cms.core.site import Site

__all__ = ["render_body", "render_markdown", "sanitize_html"]

# Bodies longer than this are rendered in a thread so a huge post never stalls the loop.
_INLINE_LIMIT = 20_000

_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

_TAGS = nh3.ALLOWED_TAGS | {"figure", "figcaption", "picture", "source"}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "code": {"class"},
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "source": {"srcset", "type", "media", "sizes"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
}


def sanitize_html(html: str) -> str:
    """Keep formatting, drop scripts, event handlers and ``javascript:`` URLs."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def render_markdown(body: str) -> str:
    """Markdown source to sanitized HTML."""
    return sanitize_html(_markdown.render(body))


async def render_body(site: Site, body: str, post: dict[str, Any]) -> str:
    """A post's HTML: the first ``render_post_body`` plugin result, else Markdown, then
    through every ``filter_post_html`` plugin in turn; always sanitized."""
    html = await site.plugins.first(hookspecs.render_post_body, body=body, post=post, cms=site)
    if html is not None:
        html = sanitize_html(str(html))
    elif len(body) <= _INLINE_LIMIT:
        html = render_markdown(body)
    else:
        html = await asyncio.get_running_loop().run_in_executor(None, render_markdown, body)
    if not site.plugins.implements(hookspecs.filter_post_html):
        return str(html)
    filtered = await site.plugins.chain(hookspecs.filter_post_html, html=html, post=post, cms=site)
    # What filters add is held to the same rules as what authors write.
    return sanitize_html(str(filtered))
