"""Words as the search indexes hold them and as queries name them: the words of a text
FTS5 indexes (folded as its ``unicode61 remove_diacritics 2`` tokenizer folds them), and a
query's words written as an FTS5 string or a PostgreSQL tsquery."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "index_words", "quoted", "ts_term"]

_WORD = re.compile(r"[^\W_]+")


def quoted(words: tuple[str, ...]) -> str:
    """Words as one FTS5 string (a phrase when several): they are letters and digits only."""
    return '"' + " ".join(words) + '"'


def fold(word: str) -> str:
    """A word as ``unicode61 remove_diacritics 2`` keeps it: lower case, accents off."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def index_words(*texts: str) -> set[str]:
    """The words FTS5 indexes in ``texts`` (letters and digits of any script, folded).
    Each distinct word is folded once, and an ASCII word is only lowered (it has nothing to
    decompose): folding every one of a post's words was most of the time a save took to
    index it (8 ms for 1,500 words)."""
    words = {word for value in texts for word in _WORD.findall(value)}
    return {word.lower() if word.isascii() else fold(word) for word in words}


def ts_term(words: tuple[str, ...], prefix: bool) -> str:
    """One term as a tsquery: quoted lexemes, a phrase with <->, a prefix with :*."""
    parts = [f"'{word}'" for word in words]
    if prefix:
        parts[-1] += ":*"
    return "(" + " <-> ".join(parts) + ")" if len(parts) > 1 else parts[0]
