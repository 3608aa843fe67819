"""Ghost's editor documents to HTML, for exports whose posts lack ``html``: Lexical (Ghost
5 and later) and Mobiledoc (Ghost 1 to 4).

Only what a post's text needs: paragraphs, headings, quotes, lists, links, emphasis, code,
images, rules, and the Markdown and HTML cards. A card of another kind (a bookmark, a
video, a members' signup...) becomes nothing: Ghost renders those with its own scripts.
Written by hand: no maintained Python renderer of either format exists.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markdown_it import MarkdownIt

__all__ = ["render_lexical", "render_mobiledoc"]

_markdown = MarkdownIt("commonmark", {"html": True})
# Lexical's text format bits, outermost first.
_FORMATS = ((1, "strong"), (2, "em"), (4, "s"), (8, "u"), (16, "code"))
_BLOCKS = {"paragraph": "p", "quote": "blockquote"}


def _image(src: Any, alt: Any = "", caption: Any = "") -> str:
    tag = f'<img src="{escape(str(src or ""))}" alt="{escape(str(alt or ""))}">'
    if caption:
        return f"<figure>{tag}<figcaption>{caption}</figcaption></figure>"
    return f"<figure>{tag}</figure>"


def _card(name: str, payload: dict[str, Any]) -> str:
    if name == "markdown":
        return str(_markdown.render(str(payload.get("markdown") or "")))
    if name == "html":
        return str(payload.get("html") or "")
    if name == "image":
        return _image(payload.get("src"), payload.get("alt"), payload.get("caption"))
    if name in ("hr", "horizontalrule"):
        return "<hr>"
    if name in ("code", "codeblock"):
        return f"<pre><code>{escape(str(payload.get('code') or ''))}</code></pre>"
    return ""


def _lexical_text(node: dict[str, Any]) -> str:
    text = escape(str(node.get("text") or ""))
    format_bits = int(node.get("format") or 0)
    for bit, tag in reversed(_FORMATS):
        if format_bits & bit:
            text = f"<{tag}>{text}</{tag}>"
    return text


def _lexical(node: dict[str, Any]) -> str:
    kind = str(node.get("type") or "")
    inner = "".join(_lexical(child) for child in node.get("children") or [])
    if kind == "text":
        return _lexical_text(node)
    if kind == "linebreak":
        return "<br>"
    if kind == "link":
        return f'<a href="{escape(str(node.get("url") or ""))}">{inner}</a>'
    if kind == "heading":
        tag = str(node.get("tag") or "h2")
        tag = tag if tag in {"h1", "h2", "h3", "h4", "h5", "h6"} else "h2"
        return f"<{tag}>{inner}</{tag}>"
    if kind == "list":
        tag = "ol" if node.get("listType") == "number" else "ul"
        return f"<{tag}>{inner}</{tag}>"
    if kind == "listitem":
        return f"<li>{inner}</li>"
    if kind in _BLOCKS:
        return f"<{_BLOCKS[kind]}>{inner}</{_BLOCKS[kind]}>"
    if kind == "root":
        return inner
    return _card(kind, node)


def render_lexical(document: dict[str, Any]) -> str:
    """A Lexical document (``post.lexical``, parsed) as HTML."""
    return _lexical(document["root"])


def _mobiledoc_markers(markers: list[Any], markups: list[Any], atoms: list[Any]) -> str:
    out: list[str] = []
    open_tags: list[str] = []
    for marker in markers:
        kind, opens, closes, value = marker
        for index in opens:
            tag, *attributes = markups[index]
            attrs = attributes[0] if attributes else []
            pairs = "".join(
                f' {escape(str(attrs[i]))}="{escape(str(attrs[i + 1]))}"'
                for i in range(0, len(attrs) - 1, 2)
            )
            out.append(f"<{tag}{pairs}>")
            open_tags.append(str(tag))
        if kind == 0:
            out.append(escape(str(value)))
        else:
            atom = atoms[value]
            out.append(escape(str(atom[1])) if atom[0] != "soft-return" else "<br>")
        for _ in range(closes):
            out.append(f"</{open_tags.pop()}>")
    return "".join(out)


def render_mobiledoc(document: dict[str, Any]) -> str:
    """A Mobiledoc document (``post.mobiledoc``, parsed) as HTML."""
    markups = document.get("markups") or []
    atoms = document.get("atoms") or []
    cards = document.get("cards") or []
    html: list[str] = []
    for section in document.get("sections") or []:
        kind = section[0]
        if kind == 1:  # markup section: [1, tag, markers]
            tag = str(section[1]).lower()
            html.append(f"<{tag}>{_mobiledoc_markers(section[2], markups, atoms)}</{tag}>")
        elif kind == 3:  # list: [3, tag, [markers, ...]]
            tag = str(section[1]).lower()
            items = "".join(
                f"<li>{_mobiledoc_markers(item, markups, atoms)}</li>" for item in section[2]
            )
            html.append(f"<{tag}>{items}</{tag}>")
        elif kind == 10:  # card: [10, index]
            name, payload = cards[section[1]]
            html.append(_card(str(name), payload or {}))
        elif kind == 2:  # image section: [2, src]
            html.append(_image(section[1]))
    return "".join(html)
