"""Full-text search: what people type, read into terms every storage backend can search.

``parse_search`` turns a query into :class:`SearchQuery`: words (all must match), ``"quoted
phrases"`` (words next to each other, in order) and ``prefix*`` words. Punctuation inside
words separates them, as the indexes' tokenizers do; a query that says nothing searchable,
or an unclosed quote, is a :class:`SearchSyntaxError` whose message is for people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cms.contracts.records import Post

__all__ = [
    "MAX_QUERY_LENGTH",
    "MAX_TERMS",
    "SearchHit",
    "SearchQuery",
    "SearchSyntaxError",
    "SearchTerm",
    "parse_search",
]

MAX_QUERY_LENGTH = 200
MAX_TERMS = 12
#: A word as the indexes see it: letters and digits of any script (``\w`` without ``_``).
_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


class SearchSyntaxError(ValueError):
    """A query that cannot be searched; the message says why, for people."""


@dataclass(frozen=True)
class SearchTerm:
    """One part of a query: a word, a phrase (several words, in order) or a prefix."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True)
class SearchQuery:
    """Terms that must all match, as typed (lower-cased)."""

    terms: tuple[SearchTerm, ...]
    text: str


@dataclass(frozen=True)
class SearchHit:
    """A found post: ``snippet`` is its best passage as plain text, with the matching words
    between ``\\x01`` and ``\\x02`` (themes get it marked up safely: see cms.web)."""

    post: Post
    snippet: str
    rank: float


def parse_search(text: str) -> SearchQuery:
    """Read a query; raise SearchSyntaxError when there is nothing to search or it is
    malformed."""
    text = text.strip()
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchSyntaxError(f"Search for at most {MAX_QUERY_LENGTH} characters.")
    if text.count('"') % 2:
        raise SearchSyntaxError('A quote is not closed: put a phrase between two " marks.')
    terms: list[SearchTerm] = []
    for phrase, bare in _TOKEN.findall(text):
        if phrase:
            words = tuple(word.lower() for word in _WORD.findall(phrase))
            if words:
                terms.append(SearchTerm(words))
            continue
        prefix = bare.endswith("*")
        words = tuple(word.lower() for word in _WORD.findall(bare))
        if not words:
            continue
        # "web-dev" is the phrase "web dev" to the tokenizers; "pyth*" a prefix.
        terms.append(SearchTerm(words, prefix=prefix and len(words) == 1))
    if not terms:
        raise SearchSyntaxError("Type a word to search for (letters or digits).")
    if len(terms) > MAX_TERMS:
        raise SearchSyntaxError(f"Search for at most {MAX_TERMS} words or phrases at once.")
    return SearchQuery(tuple(terms), text)
