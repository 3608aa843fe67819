"""Markdown's additions (footnotes, task lists, bare links) and what the sanitizer lets
through of them: pure functions, no site."""

from __future__ import annotations

import re

from cms.content.rendering import footnote_prefix, render_markdown
from cms.contracts import reading_minutes, word_count_of

NOTE = "A claim[^1].\n\n[^1]: Its source."


def ids(html: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', html)


def test_footnotes_carry_the_post_slug_so_two_posts_never_share_an_id() -> None:
    first = render_markdown(NOTE, footnote_prefix({"slug": "first-post"}))
    second = render_markdown(NOTE, footnote_prefix({"slug": "second-post"}))
    assert ids(first) == ["fnref-first-post-1", "fn-first-post-1"]
    assert not set(ids(first)) & set(ids(second))
    # Each link leads to an id of its own post.
    for html in (first, second):
        targets = re.findall(r'href="#([^"]+)"', html)
        assert set(targets) == set(ids(html))
    assert '<section class="footnotes">' in first
    assert 'aria-label="Back to the text"' in first


def test_the_prefix_is_a_safe_id_part() -> None:
    assert footnote_prefix({"slug": "Odd Slug/../x"}) == "odd-slug-x"
    assert footnote_prefix({}) == "post"
    assert footnote_prefix({"slug": "!!!"}) == "post"


def test_task_lists_are_disabled_checkboxes_in_labels() -> None:
    html = render_markdown("- [ ] open\n- [x] done\n")
    assert html.count('<input class="task-list-item-checkbox"') == 2
    assert html.count('disabled="disabled" type="checkbox"') == 2
    assert '<li class="task-list-item"><label><input' in html
    assert 'checked="checked"' in html


def test_bare_links_become_links() -> None:
    html = render_markdown("See https://example.org and www.example.com.")
    assert '<a href="https://example.org" rel="noopener noreferrer">' in html
    assert '<a href="http://www.example.com" rel="noopener noreferrer">' in html


def test_an_authors_html_cannot_borrow_ids_classes_or_real_inputs() -> None:
    html = render_markdown(
        '<p id="main" class="alert footnotes">x</p>\n\n'
        '<input type="password" name="pw" value="secret" onfocus="steal()">'
        '<a id="fn-x-1" href="javascript:alert(1)">l</a>'
    )
    assert 'id="main"' not in html and "alert" not in html
    assert "password" not in html and "secret" not in html and "onfocus" not in html
    assert re.search(r"<input (?=[^>]*disabled)(?=[^>]*type=\"checkbox\")[^>]*>", html)
    assert 'id="fn-x-1"' in html  # the footnotes' own form of id stays
    assert "javascript" not in html


def test_word_count_and_reading_time() -> None:
    html = render_markdown("One *two* three — four.\n\n" + NOTE)
    # The dash and the footnote's back arrow are no words; "claim[1]." is one.
    assert word_count_of(html) == 8
    assert [reading_minutes(n) for n in (0, 1, 230, 231, 461)] == [0, 1, 1, 2, 3]


def test_a_word_is_whatever_holds_a_letter_a_digit_or_an_underscore() -> None:
    """Every token (split by spaces and block tags) counts if any of its characters is
    what a regex's \\w matches; letters alone take a quicker test, with the same answer."""
    tokens = ["word", "word,", "don't", "1,000", "«quoted»", "—", "→", "_", "__init__",
              "x²", "½", "日本語", "é", "ǅ", "٣", "…", "--", "$5", "#", "a\u0301"]  # fmt: skip
    for token in tokens:
        expected = 1 if re.search(r"\w", token) else 0
        assert word_count_of(f"<p>{token}</p>") == expected, token
    assert word_count_of("<p>" + " ".join(tokens) + "</p>") == sum(
        1 for token in tokens if re.search(r"\w", token)
    )
