"""Full-text search, mixed into ``SqlStorage``: SQLite's FTS5 and PostgreSQL's tsvector.

What is indexed per post: its title, its text (the HTML as plain text) and its plugin fields
declared ``searchable``. Every write of a post writes its index row in the same transaction
(``index_post``, called by ``post_writes``), so a search never finds what a post no longer
says. Posts written before the index existed (an upgraded site, an import) are indexed by
``index_missing``, which the web application runs in the background at start-up.

- **SQLite**: ``cms_fts``, an FTS5 table (``unicode61``, diacritics folded) whose rowid is
  the post's id. Ranking is ``bm25`` with the title weighing most; snippets come from
  FTS5's ``snippet``. ``cms_fts_terms`` lists every word ever indexed: a prefix is
  searched as the words it stands for (``labor*`` as ``laboris OR labore OR laborum``),
  which FTS5 walks newest first and stops, where its own prefix query would first merge
  the whole of every such word's list (170 ms for three words in each of 100,000 posts).
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
from .schema import is_kind
from .search_terms import fold, index_words, quoted, ts_term
from .times import has_come

__all__ = ["CANDIDATES", "FTS_SCHEMA", "FTS_TERMS_SCHEMA", "MAX_COMPLETIONS", "SearchQueries"]

#: How many of the newest matches are ranked: a word found in every post of a big site is
#: ranked among its newest matches, so a search costs the same at any size. (BM25 of a
#: phrase costs about 11 µs a match on SQLite: 1,000 keeps a phrase found in every post of
#: 100,000 near 30 ms.)
CANDIDATES = 500
#: A prefix standing for more words than this is left to FTS5's own prefix query (slower
#: on a big site, but a one- or two-letter prefix finds nearly everything anyway).
MAX_COMPLETIONS = 64
#: PostgreSQL's snippets are looked for in this many first characters of a post's text
#: first (see ``_search_postgres``).
SNIPPET_WINDOW = 3000

FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS cms_fts USING fts5("
    "title, body, extra, tokenize = 'unicode61 remove_diacritics 2')"
)
#: Every word indexed, as FTS5 reads it (see :func:`.search_terms.index_words`): what a
#: prefix stands for.
#: Words of deleted posts stay: a completion no post has any more finds nothing.
FTS_TERMS_SCHEMA = "CREATE TABLE IF NOT EXISTS cms_fts_terms (term TEXT PRIMARY KEY) WITHOUT ROWID"
# The newest CANDIDATES matches, ranked; the best :limit of them that readers may see (the
# database's clock, as every public read). Whether a candidate is visible is read from the
# narrow index (schema.VISIBILITY_INDEX), not from its row: SQLite keeps a row's columns
# together and `kind` comes after the post's text, so the row would cost its whole text
# (20 ms for 1,000 posts of 1,500 words).
_BEST_SQLITE = text(
    "SELECT candidates.post_id, candidates.rank FROM ("
    "SELECT rowid AS post_id, bm25(cms_fts, 10.0, 1.0, 2.0) AS rank FROM cms_fts "
    "WHERE cms_fts MATCH :match ORDER BY rowid DESC LIMIT :candidates) AS candidates "
    "JOIN cms_posts INDEXED BY ix_cms_posts_visibility ON cms_posts.id = candidates.post_id "
    "WHERE cms_posts.status = 'published' AND cms_posts.published_at IS NOT NULL "
    "AND cms_posts.published_at <= strftime('%Y-%m-%d %H:%M:%f', 'now') "
    "AND (:kind IS NULL OR cms_posts.kind = :kind) "
    "ORDER BY candidates.rank, cms_posts.published_at DESC LIMIT :limit"
)
_FTS = table("cms_fts", column("rowid", Integer), column("title"), column("body"))
# Where a match starts and ends in a snippet: never in text, turned into <mark> by the web.
_OPEN, _CLOSE = "\x01", "\x02"


class SearchQueries(StorageParts):
    """``search_posts`` and ``index_missing``; ``_index_text`` for ``index_post`` (post_media)."""

    search_language: str
    #: The plugin fields declared ``searchable`` (set by ``SqlStorage``).
    searchable_fields: tuple[str, ...]

    def _document(self, post: Post) -> tuple[str, str, str]:
        """A post as the index holds it: title, plain text, searchable fields."""
        extra = " ".join(
            str(post.extra[name]) for name in self.searchable_fields if post.extra.get(name)
        )
        return post.title, plain_text_of(post.html), extra

    async def _index_text(self, conn: AsyncConnection, post: Post) -> None:
        """Write the post's search index row (in the caller's transaction)."""
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
            terms = index_words(title, body, extra)
            if terms:
                await conn.execute(
                    text("INSERT OR IGNORE INTO cms_fts_terms (term) VALUES (:term)"),
                    [{"term": term} for term in sorted(terms)],
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
        self, query: SearchQuery, kind: Kind | None, limit: int
    ) -> list[SearchHit]:
        """Three short steps: the newest :data:`CANDIDATES` matches with their BM25 (FTS5
        walks its index by rowid, newest first, and ranks only those), the best ``limit``
        of them that readers may see, then those posts and their snippets. Sorting every
        match of a word that is in every post would cost the whole site."""
        posts = self.schema.posts
        async with self._reading() as conn:
            match = " AND ".join(
                [await self._fts_match(conn, term.words, term.prefix) for term in query.terms]
            )
            ranked = (
                await conn.execute(
                    _BEST_SQLITE,
                    {"match": match, "candidates": CANDIDATES, "kind": kind, "limit": limit},
                )
            ).all()
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

    async def _fts_match(self, conn: AsyncConnection, words: tuple[str, ...], prefix: bool) -> str:
        """One term in FTS5's query syntax (words are letters and digits only, quoted). A
        prefix becomes the words it stands for (``cms_fts_terms``), when they are at most
        :data:`MAX_COMPLETIONS`; a prefix no indexed word has matches nothing."""
        if not prefix:
            return quoted(words)
        start = fold(words[-1])
        found = await conn.execute(
            text(
                "SELECT term FROM cms_fts_terms WHERE term >= :start AND term < :end "
                "ORDER BY term LIMIT :most"
            ),
            {"start": start, "end": start + "\U0010ffff", "most": MAX_COMPLETIONS + 1},
        )
        completions = [term for (term,) in found]
        if len(completions) > MAX_COMPLETIONS:
            return quoted(words) + "*"
        if not completions:
            completions = [start]  # nothing indexed starts so: found nowhere, as it should
        head = words[:-1]
        return "(" + " OR ".join(quoted((*head, word)) for word in completions) + ")"

    async def search_posts(
        self, query: SearchQuery, *, kind: Kind | None = None, limit: int = 20
    ) -> list[SearchHit]:
        if self.is_sqlite:
            return await self._search_sqlite(query, kind, limit)
        return await self._search_postgres(query, kind, limit)

    async def _search_postgres(
        self, query: SearchQuery, kind: Kind | None, limit: int
    ) -> list[SearchHit]:
        """The newest :data:`CANDIDATES` matches (found as :meth:`_walk_newest_first`
        says), ranked; the best ``limit`` that readers may see, with their snippets.
        ``ts_headline`` parses the text it is given (about 1 ms per 1,500 words), so it
        reads the first :data:`SNIPPET_WINDOW` characters, and the whole text only for a
        post whose words come later (its text matches, per the stored vector, but the
        window has no mark)."""
        posts = self.schema.posts
        search = self.schema.search
        assert search is not None
        visible = [posts.c.status == "published", has_come(posts.c.published_at, self.is_sqlite)]
        if kind is not None:
            visible.append(is_kind(posts, kind))
        language: Any = literal_column(f"'{self.search_language}'::regconfig")
        tsquery = func.to_tsquery(language, bindparam("tsquery"))
        parameters = {
            "tsquery": " & ".join(ts_term(term.words, term.prefix) for term in query.terms)
        }
        async with self._reading() as conn:
            newest_first = await self._walk_newest_first(conn, query)
            # The function form of @@ cannot use the GIN index; `post_id + 0` cannot use
            # the primary key's order: each leaves the planner the one way chosen, but for
            # reading the whole table, which it believes cheap (it does not count reading
            # each vector from TOAST: 500 ms at 100,000 posts).
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            matching: Any
            if newest_first:
                matching = func.ts_match_vq(search.c.document, tsquery)
                order = search.c.post_id.desc()
            else:
                matching = search.c.document.op("@@")(tsquery)
                order = (search.c.post_id + 0).desc()
            candidates = (
                select(search.c.post_id, search.c.document)
                .where(matching)
                .order_by(order)
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
            searched = search.c.body + " " + search.c.extra
            window = func.left(searched, SNIPPET_WINDOW)
            statement = (
                self._post_select.add_columns(
                    best.c.search_rank,
                    self._headline(language, window, tsquery).label("search_snippet"),
                    # Whether the words are in the text and fields (weights B, C), not the
                    # title alone: read from the stored vector, no parsing.
                    func.ts_filter(search.c.document, literal_column("'{b,c}'::\"char\"[]"))
                    .op("@@")(tsquery)
                    .label("text_matches"),
                )
                .join(best, best.c.post_id == posts.c.id)
                .join(search, search.c.post_id == posts.c.id)
                .order_by(best.c.search_rank.desc(), posts.c.published_at.desc())
            )
            rows = (await conn.execute(statement, parameters)).all()
            snippets = {row.id: row.search_snippet or "" for row in rows}
            later = [row.id for row in rows if row.text_matches and _OPEN not in snippets[row.id]]
            if later:
                whole = select(search.c.post_id, self._headline(language, searched, tsquery)).where(
                    search.c.post_id.in_(later)
                )
                for post_id, snippet in await conn.execute(whole, parameters):
                    snippets[post_id] = snippet or ""
        return [
            SearchHit(self._to_post(row), snippets[row.id], float(row.search_rank)) for row in rows
        ]

    async def _walk_newest_first(self, conn: AsyncConnection, query: SearchQuery) -> bool:
        """How to find a query's newest CANDIDATES matches on PostgreSQL: walk the posts
        newest first, testing each one's vector (about 4.5 µs each: the vector is read from
        TOAST) until enough match; or take every match from the GIN index and keep the
        newest (about 0.3 µs a match; 5 µs for a phrase, whose vectors are read again to
        check the words' order). Which is cheaper depends on how many posts match, which
        PostgreSQL's planner guesses badly for prefixes and combined words (it walked all
        100,000 posts for a rare prefix: 500 ms); the word frequencies ANALYZE keeps tell
        it here. A site not analyzed yet takes the index (bounded by the matches)."""
        words = [
            (word, term.prefix and position == len(term.words) - 1)
            for term in query.terms
            for position, word in enumerate(term.words)
        ]
        # A plan per query, not a generic one: asyncpg prepares statements, and after five
        # runs PostgreSQL may reuse a plan blind to the tsquery ("post number" at 100,000
        # posts: 700 ms so, 22 ms planned).
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        found = (
            await conn.execute(
                _DENSITY,
                {
                    "words": [word for word, _ in words],
                    "prefixes": [prefix for _, prefix in words],
                    "language": self.search_language,
                },
            )
        ).one()
        total, density = max(float(found.total or 0), 0.0), float(found.density or 0)
        if density <= 0 or total <= 0:
            return False
        walking = 4.5 * CANDIDATES / density
        per_match = 5.0 if any(term.is_phrase for term in query.terms) else 0.3
        return walking < per_match * density * total

    @staticmethod
    def _headline(language: Any, value: Any, tsquery: Any) -> Any:
        options = f"StartSel={_OPEN},StopSel={_CLOSE},MaxWords=32,MinWords=12,MaxFragments=1"
        return func.ts_headline(language, value, tsquery, options)


#: The share of posts the rarest word of a query is in, per the statistics of ANALYZE
#: (`most_common_elems` of the vector: a word missing there is rare; a prefix counts the
#: words it starts), and the number of posts indexed.
_DENSITY = text(
    "SELECT (SELECT reltuples FROM pg_class WHERE oid = 'cms_search'::regclass) AS total, "
    "(SELECT min(freq) FROM ("
    " SELECT coalesce(sum(m.f), 0) AS freq FROM unnest("
    "  CAST(:words AS text[]), CAST(:prefixes AS boolean[])) WITH ORDINALITY AS t(word, prefix, n)"
    " CROSS JOIN LATERAL (SELECT (tsvector_to_array("
    "  to_tsvector(CAST(:language AS regconfig), t.word)))[1] AS lexeme) AS l"
    " LEFT JOIN (SELECT e, f FROM pg_stats, unnest(most_common_elems::text::text[],"
    "  most_common_elem_freqs) AS m(e, f) WHERE schemaname = current_schema()"
    "  AND tablename = 'cms_search' AND attname = 'document') AS m"
    "  ON m.e = l.lexeme OR (t.prefix AND starts_with(m.e, l.lexeme))"
    " WHERE l.lexeme IS NOT NULL GROUP BY t.n) AS per_word) AS density"
)
