"""Tags and neighbour links made from the JSON a post read joins in, kept by that text."""

from __future__ import annotations

import json

import pytest
from cms.plugins.sql_storage import joined_values
from cms.plugins.sql_storage.joined_values import link_of, tags_of

from cms.contracts import PostLink, Tag


def test_tags_come_in_their_order_and_a_text_is_parsed_once() -> None:
    text = json.dumps([[1, 7, "Travel", "travel"], [0, 9, "Gardening", "gardening"]])
    tags = tags_of(text)
    assert tags == (Tag(id=9, name="Gardening", slug="gardening"), Tag(7, "Travel", "travel"))
    assert tags_of(text) is tags  # kept: the same records, not parsed again
    assert tags_of(text.encode()) == tags  # asyncpg may give bytes
    # psycopg gives lists: the same records, made each time (a list is no key)
    assert tags_of(json.loads(text)) == tags
    assert tags_of(None) == ()


def test_a_renamed_tag_is_a_new_text_so_new_records() -> None:
    before = tags_of(json.dumps([[0, 3, "Cooking", "cooking"]]))
    after = tags_of(json.dumps([[0, 3, "Kitchen", "cooking"]]))
    assert before[0].name == "Cooking" and after[0].name == "Kitchen"


def test_links_are_kept_by_text_too() -> None:
    text = json.dumps(["older-post", "An older post"])
    link = link_of(text)
    assert link == PostLink(slug="older-post", title="An older post")
    assert link_of(text) is link
    assert link_of(["older-post", "An older post"]) == link
    assert link_of(None) is None


def test_what_is_kept_stays_within_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(joined_values, "KEPT", 3)
    made = [tags_of(json.dumps([[0, n, f"Tag {n}", f"tag-{n}"]])) for n in range(10)]
    assert len(joined_values._tags) <= 3
    assert [tags[0].name for tags in made] == [f"Tag {n}" for n in range(10)]
