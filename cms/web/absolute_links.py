"""Post HTML with absolute addresses, for feed readers (which have no page to resolve a
relative address against): see :func:`absolute_html`."""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser
from urllib.parse import urljoin

__all__ = ["absolute_html"]

# Attributes that hold one address, in what the sanitizer lets through (a, img, blockquote,
# q, del, ins, area) and a little beyond.
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster"})


def absolute_html(html: str, base_url: str, page_url: str) -> str:
    """``html`` with the addresses of its links and images (``href``, ``src``, ``cite``,
    ``srcset``) absolute: a path (``/media/a.jpg``) under ``base_url``, any other relative
    address (``other-post``, ``#notes``) against ``page_url``, as the page resolves it.

    The markup is read by the standard library's HTML tokenizer; only the start tags that
    change are written anew (attribute values escaped), everything else is kept as it is.
    """
    rewriter = _AddressRewriter(base_url, page_url)
    rewriter.feed(html)
    rewriter.close()
    if not rewriter.edits:
        return html
    line_starts = [0]
    for text in html.split("\n")[:-1]:
        line_starts.append(line_starts[-1] + len(text) + 1)
    parts: list[str] = []
    done = 0
    for (line, column), original, replacement in rewriter.edits:
        start = line_starts[line - 1] + column
        if start < done or html[start : start + len(original)] != original:
            continue  # never the case for markup the tokenizer read; kept as it was then
        parts += [html[done:start], replacement]
        done = start + len(original)
    parts.append(html[done:])
    return "".join(parts)


class _AddressRewriter(HTMLParser):
    """Collects the start tags whose addresses change, with their positions."""

    def __init__(self, base_url: str, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.page_url = page_url
        self.edits: list[tuple[tuple[int, int], str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._rewrite(tag, attrs, closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._rewrite(tag, attrs, closed=True)

    def _rewrite(self, tag: str, attrs: list[tuple[str, str | None]], *, closed: bool) -> None:
        changed = False
        written: list[tuple[str, str | None]] = []
        for name, value in attrs:
            new = value
            if value is not None and name in _URL_ATTRIBUTES:
                new = self.absolute(value)
            elif value is not None and name == "srcset":
                new = ", ".join(
                    " ".join((self.absolute(url), *descriptors))
                    for url, descriptors in _srcset_candidates(value)
                )
            changed = changed or new != value
            written.append((name, new))
        original = self.get_starttag_text()
        if not changed or original is None:
            return
        attributes = "".join(
            f" {name}" if value is None else f' {name}="{escape(value)}"' for name, value in written
        )
        self.edits.append((self.getpos(), original, f"<{tag}{attributes}{' /' if closed else ''}>"))

    def absolute(self, address: str) -> str:
        address = address.strip(" \t\n\r\f")
        if not address:
            return address
        if address.startswith("/") and not address.startswith("//"):
            return self.base_url + address
        try:
            return urljoin(self.page_url, address)
        except ValueError:  # not a URL at all ("http://[x"): left for the reader to judge
            return address


def _srcset_candidates(value: str) -> list[tuple[str, list[str]]]:
    """The image candidates of a ``srcset`` (HTML's parsing rules, without validation):
    each address with its descriptors (``800w``, ``2x``)."""
    candidates: list[tuple[str, list[str]]] = []
    position, size = 0, len(value)
    while position < size:
        while position < size and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < size and not value[position].isspace():
            position += 1
        url = value[start:position]
        if not url:
            break
        if url.endswith(","):
            candidates.append((url.rstrip(","), []))
            continue
        start, depth = position, 0
        while position < size and (value[position] != "," or depth):
            depth += {"(": 1, ")": -1}.get(value[position], 0)
            position += 1
        candidates.append((url, value[start:position].split()))
        position += 1
    return candidates
