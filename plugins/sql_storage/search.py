"""Full-text search, mixed into ``SqlStorage``: SQLite's FTS5 and PostgreSQL's tsvector.

What is indexed per post: its title, its text (the HTML as plain text) and its plugin fields
declared ``searchable``. Every write of a post writes its index row in the same transaction
(``index_post``, called by ``post_writes``), so a search never finds what a post no longer
says. Posts written before the index existed (an upgraded site, an import) are indexed by
``index_missing``, which the web application runs in the background at start-up.

- **SQLite**: ``cms_fts``, an FTS5 table (``unicode61``, diacritics folded) whose rowid is
  the post's id. Ranking is ``bm25`` with the title weighing most; snippets come from
  FTS5's ``snippet``.
- **PostgreSQL**: ``cms_search(post_id, body, extra, document)``, ``document`` a weighted
  ``tsvector`` (title A, text B, fields C) under a GIN index, in the configuration of
  ``[storage] options.search_language``; ranking is ``ts_rank_cd``, snippets come from
  ``ts_headline`` on the page's rows only.

Either way only what readers may see is found: published, its time come (the database's
clock, as every public read).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cms.contracts import Kind, Post, SearchHit, SearchQuery, plain_text_of

from .parts import StorageParts
from .times import database_now

__all__ = ["CANDIDATES", "FTS_SCHEMA", "SearchQueries"]

#: How many of the newest matches are ranked: a word found in every post of a big site is
#: ranked among its newest matches, so a search costs the same at any size.
CANDIDATES = 2000

FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS cms_fts USING fts5("
    "title, body, extra, tokenize = 'unicode61 remove_diacritics 2')"
)
_FTS = table("cms_fts", column("rowid", Integer), column("title"), column("body"))
# Where a match starts and ends in a snippet: never in text, turned into <mark> by the web.
_OPEN, _CLOSE = "\x01", "\x02"


class SearchQueries(StorageParts):
    """``search_posts`` and ``index_missing``; ``index_post`` for the post writes."""

    search_language: str
    #: The plugin fields declared ``searchable`` (set by ``SqlStorage``).
    searchable_fields: tuple[str, ...]

    def _document(self, post: Post) -> tuple[str, str, str]:
        """A post as the index holds it: title, plain text, searchable fields."""
        extra = " ".join(
            str(post.extra[name]) for name in self.searchable_fields if post.extra.get(name)
        )
        return post.title, plain_text_of(post.html), extra

    async def index_post(self, conn: AsyncConnection, post: Post) -> None:
        """Write the post's index row (in the caller's transaction)."""
        title, body, extra = self._document(post)
        if self.is_sqlite:
            await conn.execute(text("DELETE FROM cms_fts WHERE rowid = :id"), {"id": post.id})
            await conn.execute(
                text(
                    "INSERT INTO cms_fts (rowid, title, body, extra) "
                    "VALUES (:id, :title, :body, :extra)"
                ),
                {"id": post.id, "title": title, "body": body, "extra": extra},
            )
            return
        search = self.schema.search
        assert search is not None
        document = self._tsvector(title, body, extra)
        statement = pg_insert(search).values(
            post_id=post.id, body=body, extra=extra, document=document
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[search.c.post_id],
                set_={"body": body, "extra": extra, "document": document},
            )
        )

    def _tsvector(self, title: str, body: str, extra: str) -> Any:
        language: Any = literal_column(f"'{self.search_language}'::regconfig")

        def weighted(value: str, weight: str) -> Any:
            # setweight takes a "char": a literal, not a bound (varchar) value.
            return func.setweight(func.to_tsvector(language, value), literal_column(f"'{weight}'"))

        return weighted(title, "A").op("||")(weighted(body, "B")).op("||")(weighted(extra, "C"))

    async def unindex_post(self, conn: AsyncConnection, post_id: int) -> None:
        """Forget a deleted post (PostgreSQL's rows go with the post by cascade)."""
        if self.is_sqlite:
            await conn.execute(text("DELETE FROM cms_fts WHERE rowid = :id"), {"id": post_id})

    async def index_missing(self, *, limit: int = 200) -> int:
        posts = self.schema.posts
        if self.is_sqlite:
            indexed = select(_FTS.c.rowid).where(_FTS.c.rowid == posts.c.id)
        else:
            search = self.schema.search
            assert search is not None
            indexed = select(search.c.post_id).where(search.c.post_id == posts.c.id)
        async with self._writing() as conn:
            rows = (
                await conn.execute(
                    self._post_select.where(~indexed.exists()).order_by(posts.c.id).limit(limit)
                )
            ).all()
            for row in rows:
                await self.index_post(conn, self._to_post(row))
        return len(rows)

    async def _search_sqlite(
        self, query: SearchQuery, visible: list[Any], limit: int
    ) -> list[SearchHit]:
        """Three short steps: the newest :data:`CANDIDATES` matches with their BM25 (FTS5
        walks its index by rowid, newest first, and ranks only those), the best ``limit``
        of them that readers may see, then those posts and their snippets. Sorting every
        match of a word that is in every post would cost the whole site."""
        posts = self.schema.posts
        match = " ".join(_fts_term(term.words, term.prefix) for term in query.terms)
        candidates = (
            text(
                "SELECT rowid AS post_id, bm25(cms_fts, 10.0, 1.0, 2.0) AS rank FROM cms_fts "
                "WHERE cms_fts MATCH :match ORDER BY rowid DESC LIMIT :candidates"
            )
            .columns(column("post_id", Integer), column("rank", Float))
            .subquery("candidates")
        )
        best = (
            select(candidates.c.post_id, candidates.c.rank)
            .join(posts, posts.c.id == candidates.c.post_id)
            .where(*visible)
            .order_by(candidates.c.rank, posts.c.published_at.desc())
            .limit(limit)
        )
        async with self._reading() as conn:
            ranked = (await conn.execute(best, {"match": match, "candidates": CANDIDATES})).all()
            if not ranked:
                return []
            ids = [row.post_id for row in ranked]
            found = {
                row.id: self._to_post(row)
                for row in await conn.execute(self._post_select.where(posts.c.id.in_(ids)))
            }
            # char(1) and char(2) are _OPEN and _CLOSE.
            marked = text(
                "SELECT rowid, snippet(cms_fts, -1, char(1), char(2), '…', 32) "
                "FROM cms_fts WHERE cms_fts MATCH :match AND rowid IN :ids"
            ).bindparams(bindparam("ids", expanding=True))
            snippets: dict[int, str] = {
                post_id: snippet
                for post_id, snippet in await conn.execute(marked, {"match": match, "ids": ids})
            }
        return [
            SearchHit(found[row.post_id], snippets.get(row.post_id) or "", -float(row.rank))
            for row in ranked
            if row.post_id in found
        ]

    async def search_posts(
        self, query: SearchQuery, *, kind: Kind | None = None, limit: int = 20
    ) -> list[SearchHit]:
        posts = self.schema.posts
        visible = [
            posts.c.status == "published",
            posts.c.published_at.is_not(None),
            posts.c.published_at <= database_now(self.is_sqlite),
        ]
        if kind is not None:
            visible.append(posts.c.kind == kind)
        if self.is_sqlite:
            return await self._search_sqlite(query, visible, limit)
        search = self.schema.search
        assert search is not None
        language: Any = literal_column(f"'{self.search_language}'::regconfig")
        tsquery = func.to_tsquery(language, bindparam("tsquery"))
        # The newest CANDIDATES matches (the GIN index finds them), ranked; the best
        # ``limit`` that readers may see; then the snippets for those rows only
        # (ts_headline reads the whole text).
        candidates = (
            select(search.c.post_id, search.c.document)
            .where(search.c.document.op("@@")(tsquery))
            .order_by(search.c.post_id.desc())
            .limit(CANDIDATES)
            .cte("candidates")
        )
        rank = func.ts_rank_cd(candidates.c.document, tsquery).label("search_rank")
        best = (
            select(candidates.c.post_id, rank)
            .join(posts, posts.c.id == candidates.c.post_id)
            .where(*visible)
            .order_by(rank.desc(), posts.c.published_at.desc())
            .limit(limit)
            .cte("best")
        )
        options = f"StartSel={_OPEN},StopSel={_CLOSE},MaxWords=32,MinWords=12,MaxFragments=1"
        snippet = func.ts_headline(
            language, search.c.body + " " + search.c.extra, tsquery, options
        ).label("search_snippet")
        statement = (
            self._post_select.add_columns(best.c.search_rank, snippet)
            .join(best, best.c.post_id == posts.c.id)
            .join(search, search.c.post_id == posts.c.id)
            .order_by(best.c.search_rank.desc(), posts.c.published_at.desc())
        )
        tsquery_text = " & ".join(_ts_term(term.words, term.prefix) for term in query.terms)
        async with self._reading() as conn:
            rows = (await conn.execute(statement, {"tsquery": tsquery_text})).all()
        return [
            SearchHit(self._to_post(row), row.search_snippet or "", float(row.search_rank))
            for row in rows
        ]


def _fts_term(words: tuple[str, ...], prefix: bool) -> str:
    """One term in FTS5's query syntax: quoted (words are letters and digits only)."""
    quoted = '"' + " ".join(words) + '"'
    return quoted + "*" if prefix else quoted


def _ts_term(words: tuple[str, ...], prefix: bool) -> str:
    """One term as a tsquery: quoted lexemes, a phrase with <->, a prefix with :*."""
    parts = [f"'{word}'" for word in words]
    if prefix:
        parts[-1] += ":*"
    return "(" + " <-> ".join(parts) + ")" if len(parts) > 1 else parts[0]
