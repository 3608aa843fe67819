"""The automatic excerpt (cms.contracts.excerpt)."""

from __future__ import annotations

import pytest

from cms.content.rendering import render_markdown
from cms.contracts.excerpt import EXCERPT_WORDS, excerpt_of


@pytest.mark.parametrize(
    ("markdown", "excerpt"),
    [
        ("**the winter**, written", "the winter, written"),
        ("*Snow*; then [rain](https://example.com).", "Snow; then rain."),
        ("A `code` span: fine!", "A code span: fine!"),
        ("word**bold**word", "wordboldword"),
        ("First paragraph.\n\nSecond one.", "First paragraph. Second one."),
        ("- one\n- two", "one two"),
        ("Fish &amp; chips &lt;3", "Fish & chips <3"),
    ],
)
def test_inline_markup_leaves_no_space_before_punctuation(markdown: str, excerpt: str) -> None:
    assert excerpt_of(render_markdown(markdown)) == excerpt


def test_long_texts_are_cut_at_forty_words() -> None:
    words = [f"w{number}" for number in range(200)]
    text = excerpt_of(render_markdown(" ".join(words)))
    assert text == " ".join(words[:EXCERPT_WORDS]) + "…"
    assert excerpt_of(render_markdown("short text")) == "short text"
