"""Full-text search (``/search?q=``, ``GET /api/posts?q=``) on SQLite's FTS5 and
PostgreSQL's tsvector: phrases, prefixes and searchable plugin fields find the right post;
drafts, scheduled posts and what a post no longer says are never found; a query that
cannot be searched is a 400 saying why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cms import PostField, Text, hookimpl
from cms.content.tokens import issue_token
from cms.contracts import SearchSyntaxError, parse_search
from plugins.sql_storage.search import MAX_COMPLETIONS, SNIPPET_WINDOW
from tests.conftest import ClientFactory, setup_admin, site_of

Client = TestClient[Any, Any]


class Fields:
    @hookimpl
    def register_post_fields(self) -> list[PostField]:
        return [
            PostField("summary", Text, searchable=True),
            PostField("secret_note", str),  # not searchable: its words are never found
        ]


@pytest.fixture
async def site(make_client: ClientFactory, storage_settings: dict[str, Any]) -> tuple[Client, Any]:
    client = await make_client(storage=storage_settings, plugins=[("fields", Fields())])
    await setup_admin(client)
    issued = await issue_token(site_of(client), "admin")
    auth = {"Authorization": f"Bearer {issued.secret}"}
    posts = [
        {"title": "Tides of the north", "body": "The *spring tide* rose over the harbour wall."},
        {"title": "Gardening notes", "body": "Tomatoes, courgettes and a tide of weeds."},
        {"title": "Harbour lights", "body": "Lights on the water.", "summary": "lighthouse keeper"},
        {"title": "Code", "body": "Escape <b>this</b> & that: `a < b` tide."},
        {"title": "Hidden", "body": "A draft about zeppelins.", "status": "draft"},
        {"title": "Later", "body": "Scheduled zeppelins.", "status": "scheduled",
         "published_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        {"title": "Private", "body": "Nothing here.", "secret_note": "platypus"},
    ]  # fmt: skip
    for values in posts:
        made = await client.post("/api/posts", json={"status": "published", **values}, headers=auth)
        assert made.status == 201, await made.text()
    page = await client.post(
        "/api/pages",
        json={"title": "About the harbour", "body": "We watch tides.", "status": "published"},
        headers=auth,
    )
    assert page.status == 201
    return client, auth


async def titles(client: Client, q: str, path: str = "/api/posts") -> list[str]:
    response = await client.get(path, params={"q": q})
    body = await response.json()
    assert response.status == 200, body
    assert body["meta"]["order"] == "relevance"
    return [post["title"] for post in body["data"]]


async def test_words_phrases_prefixes_and_searchable_fields(site: tuple[Client, Any]) -> None:
    client, _ = site
    assert set(await titles(client, "tide")) == {"Tides of the north", "Gardening notes", "Code"}
    assert await titles(client, '"spring tide"') == ["Tides of the north"]
    assert await titles(client, '"tide spring"') == []  # a phrase is words in order
    assert await titles(client, "courg*") == ["Gardening notes"]
    assert await titles(client, "harbour wall") == ["Tides of the north"]  # every word
    assert await titles(client, "lighthouse") == ["Harbour lights"]  # a searchable field
    assert await titles(client, "platypus") == []  # a field not declared searchable
    # Drafts and scheduled posts are never found; pages only where pages are asked for.
    assert await titles(client, "zeppelins") == []
    assert await titles(client, "watch") == []
    assert await titles(client, "watch", "/api/pages") == ["About the harbour"]
    # The title weighs most: "harbour" is in both, the title of one.
    assert (await titles(client, "harbour"))[0] == "Harbour lights"


async def test_a_prefix_finds_every_word_it_starts_accents_and_many_words_included(
    site: tuple[Client, Any],
) -> None:
    # On SQLite a prefix is searched as the indexed words it stands for (cms_fts_terms),
    # FTS5's own prefix query when there are more than MAX_COMPLETIONS of them.
    client, auth = site
    many = " ".join(f"qx{number:03d}" for number in range(MAX_COMPLETIONS + 6))
    posts = [
        {"title": "Dessert", "body": "A crème brûlée, burnt on top."},
        {"title": "Inventory", "body": f"Codes: {many}."},
        {"title": "One code", "body": "Only qx999 here."},
    ]
    for values in posts:
        made = await client.post("/api/posts", json={"status": "published", **values}, headers=auth)
        assert made.status == 201, await made.text()
    if site_of(client).storage.is_sqlite:  # type: ignore[attr-defined]
        assert await titles(client, "brul*") == ["Dessert"]  # accents folded, as FTS5 does
    assert await titles(client, "crè*") == ["Dessert"]
    assert set(await titles(client, "bur*")) == {"Dessert"}
    assert set(await titles(client, "qx*")) == {"Inventory", "One code"}  # > 64 words
    assert set(await titles(client, "qx99*")) == {"One code"}
    assert await titles(client, "qxz*") == []  # no indexed word starts so
    assert await titles(client, "dessert qx*") == []  # every term must match
    assert await titles(client, "top bur*") == ["Dessert"]
    assert await titles(client, '"only qx999" qx99*') == ["One code"]


async def test_an_edit_changes_what_is_found_and_a_deletion_forgets(
    site: tuple[Client, Any],
) -> None:
    client, auth = site
    (found,) = (await (await client.get("/api/posts", params={"q": "courgettes"})).json())["data"]
    changed = await client.patch(
        f"/api/posts/{found['id']}", json={"body": "Only beans now."}, headers=auth
    )
    assert changed.status == 200
    assert await titles(client, "courgettes") == []
    assert await titles(client, "beans") == ["Gardening notes"]
    await client.patch(f"/api/posts/{found['id']}", json={"status": "draft"}, headers=auth)
    assert await titles(client, "beans") == []
    await client.delete(f"/api/posts/{found['id']}", headers=auth)
    assert await titles(client, "beans") == []


async def test_the_search_page_marks_the_words_and_escapes_the_text(
    site: tuple[Client, Any],
) -> None:
    client, _ = site
    response = await client.get("/search", params={"q": "escape"})
    html = await response.text()
    assert response.status == 200
    results = html.split('class="search-results"')[1]
    assert '<a href="/posts/code">Code</a>' in results
    assert "<mark>Escape</mark>" in results
    snippet = results.split('search-result__snippet">')[1].split("</p>")[0]
    # The text as text: "a < b" (from the code span) is escaped, nothing is markup but <mark>.
    assert snippet.startswith("<mark>Escape</mark> this &amp; that: a &lt; b tide"), snippet
    assert snippet.count("<") == 2, snippet
    assert '<meta name="description" content="What My site has written about “escape”.">' in html
    page = await (await client.get("/search", params={"q": "watch"})).text()
    assert '<a href="/about-the-harbour">About the harbour</a>' in page  # pages are found here
    nothing = await (await client.get("/search", params={"q": "zeppelins"})).text()
    assert "Nothing matches" in nothing
    assert "Search" in await (await client.get("/search")).text()  # the empty form


async def test_a_snippet_marks_words_deep_in_a_long_post(site: tuple[Client, Any]) -> None:
    # PostgreSQL looks for the snippet in the first SNIPPET_WINDOW characters first.
    client, auth = site
    filler = "Nothing to see in this sentence at all. " * (SNIPPET_WINDOW // 30)
    body = f"{filler}\n\nAt last a narwhal surfaced."
    made = await client.post(
        "/api/posts", json={"title": "Long", "body": body, "status": "published"}, headers=auth
    )
    assert made.status == 201
    html = await (await client.get("/search", params={"q": "narwhal"})).text()
    assert "<mark>narwhal</mark>" in html.split('class="search-results"')[1]
    html = await (await client.get("/search", params={"q": "long"})).text()
    snippet = html.split('search-result__snippet">')[1].split("</p>")[0]
    if site_of(client).storage.is_sqlite:  # type: ignore[attr-defined]
        assert snippet == "<mark>Long</mark>"  # FTS5's snippet: the column that matches
    else:  # a word of the title alone: the start of the text, nothing marked
        assert snippet.startswith("Nothing to see") and "<mark>" not in snippet, snippet


@pytest.mark.parametrize(
    ("query", "message"),
    [('"open phrase', "A quote is not closed"), ("!!! ???", "Type a word"), ("x" * 201, "200")],
)
async def test_a_query_that_cannot_be_searched_is_a_400_saying_why(
    site: tuple[Client, Any], query: str, message: str
) -> None:
    client, _ = site
    page = await client.get("/search", params={"q": query})
    assert page.status == 400 and message in await page.text()
    assert 'class="error-page"' not in await page.text()  # the search page itself, themed
    api = await client.get("/api/posts", params={"q": query})
    body = await api.json()
    assert api.status in (400, 422), body
    assert "Traceback" not in str(body)


async def test_posts_written_before_the_index_are_indexed_in_the_background(
    make_client: ClientFactory, storage_settings: dict[str, Any]
) -> None:
    client = await make_client(storage=storage_settings)
    await setup_admin(client)
    storage = site_of(client).storage
    post = await storage.create_post(
        {"title": "Old post", "slug": "old-post", "body": "b", "html": "<p>quokka</p>",
         "status": "published"},
        author_id=None,
    )  # fmt: skip
    # As a site of an earlier release has it: the post, no index row.
    if storage.is_sqlite:  # type: ignore[attr-defined]
        async with storage._writing() as conn:  # type: ignore[attr-defined]
            from sqlalchemy import text

            await conn.execute(text("DELETE FROM cms_fts WHERE rowid = :id"), {"id": post.id})
    else:
        async with storage._writing() as conn:  # type: ignore[attr-defined]
            from sqlalchemy import text

            await conn.execute(text("DELETE FROM cms_search WHERE post_id = :id"), {"id": post.id})
    assert await titles(client, "quokka") == []
    assert await storage.index_missing(limit=10) == 1
    assert await storage.index_missing(limit=10) == 0
    assert await titles(client, "quokka") == ["Old post"]


async def test_an_index_without_its_list_of_words_is_made_again(
    make_client: ClientFactory, tmp_path: Any
) -> None:
    # An early 0.3 made cms_fts without cms_fts_terms: its prefixes could not be expanded.
    client = await make_client(
        storage={"backend": "sqlite", "options": {"path": str(tmp_path / "a.db")}}
    )
    await setup_admin(client)
    storage = site_of(client).storage
    await storage.create_post(
        {"title": "Marsupials", "slug": "m", "body": "b", "html": "<p>quokkas</p>",
         "status": "published"},
        author_id=None,
    )  # fmt: skip
    from sqlalchemy import text

    async with storage._writing() as conn:  # type: ignore[attr-defined]
        await conn.execute(text("DROP TABLE cms_fts_terms"))
    assert "created full-text index cms_fts (FTS5)" in await storage.migrate()
    assert await titles(client, "quok*") == []  # until the background indexing comes by
    assert await storage.index_missing(limit=10) == 1
    assert await titles(client, "quok*") == ["Marsupials"]
    assert await storage.migrate() == []


def test_queries_are_read_into_terms() -> None:
    query = parse_search('"Spring  tide" harb* web-dev Ünïcode')
    assert [(term.words, term.prefix) for term in query.terms] == [
        (("spring", "tide"), False),
        (("harb",), True),
        (("web", "dev"), False),
        (("ünïcode",), False),
    ]
    for bad in ('"', "   ", "---", " ".join(["w"] * 13)):
        with pytest.raises(SearchSyntaxError):
            parse_search(bad)


def test_the_words_indexed_are_each_word_folded_as_fts5_folds_it() -> None:
    """index_words folds each distinct word once, an ASCII one by lowering it: the same
    words as folding every occurrence (lower case, decomposed, accents off)."""
    import re
    import unicodedata

    from plugins.sql_storage.search_terms import index_words

    def folded(word: str) -> str:
        decomposed = unicodedata.normalize("NFKD", word.lower())
        return "".join(char for char in decomposed if not unicodedata.combining(char))

    texts = [
        "Café crème brûlée, ÉCOLE naïve; cafe CAFÉ café",
        "İstanbul Straße ǅemal ﬁle Ⅻ ①② Ångström ÅNGSTRÖM",
        "日本語のテキスト 漢字 x² ½ ٣٤ snake_case don't MiXeD",
    ]
    expected = {folded(word) for text in texts for word in re.findall(r"[^\W_]+", text)}
    assert index_words(*texts) == expected
    assert {"cafe", "creme", "ecole", "angstrom", "snake", "case"} <= expected
