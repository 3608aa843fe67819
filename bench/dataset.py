"""Bench sites: a settings folder and a database holding N published posts.

Posts go in through the storage's own bulk import path (``Storage.importing()``, the one
``cms import`` uses), so the rows are exactly what cms itself would store. Bodies are
about 1,500 words of Markdown; a few hundred distinct bodies (rendered once by cms's own
Markdown renderer) are reused, so loading 100,000 posts takes seconds, not minutes. Each
post's text begins with a sentence of its own (``Entry N begins here.``), so no two
texts are equal: what cms works out from a text and keeps by it (the excerpt, the word
count) costs what it would on a real site, where a long tail of posts all differ.

Every post carries 1 to 3 of ``len(TAG_NAMES)`` tags, drawn (seeded) with Zipf-like
weights: at 100,000 posts the most popular tag (``POPULAR_TAG``) has about 47,000 posts
and the rarest about 3,000, so a tag page is a real listing at either size.

A loaded database is kept under ``bench/results/data`` and reused by the next run when
it holds the same data set (``DATASET_VERSION``, size; the version is also stamped in
the database, on the admin's bio); PostgreSQL databases likewise, named
``cms_bench_<size>`` on the server of ``CMS_BENCH_POSTGRES_URL``. A database of another
version (an older bench's, without tags say) is dropped and built again, never measured.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: Bump when the generated content changes: stored databases are then rebuilt.
#: 2: posts carry tags. 3: posts are in the search index. 4: no two texts are equal.
#: 5: the sentence that makes them so holds no searched word but the post's number.
DATASET_VERSION = 5
DISTINCT_BODIES = 300
WORDS_PER_POST = 1500
BATCH = 1000
BENCH_SECRET_KEY = "bench secret key, not for production"
ADMIN_NAME = "bench"
ADMIN_PASSWORD = "bench password, not secret"
FIRST_POST_AT = datetime(2015, 1, 1, tzinfo=UTC)
#: The tags of the site, most popular first (tag ids are 1, 2, ... in this order).
TAG_NAMES = (
    "Gardening",
    "Rivers",
    "City life",
    "Windows",
    "Markets",
    "Winter",
    "Summer",
    "Engines",
    "Letters",
    "Mornings",
    "Harbours",
    "Stations",
    "Libraries",
    "Kitchens",
    "Bridges",
    "Travel",
    "History",
    "Music",
    "Science",
    "Books",
)
#: The tag whose page the tag targets read: the most popular one.
POPULAR_TAG = 1
TAG_SEED = 20240602

_WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "non",
    "proident",
    "sunt",
    "culpa",
    "qui",
    "officia",
    "deserunt",
    "mollit",
    "anim",
    "id",
    "est",
    "laborum",
    "garden",
    "river",
    "city",
    "window",
    "market",
    "winter",
    "summer",
    "engine",
    "letter",
    "morning",
    "harbour",
    "station",
    "library",
    "kitchen",
    "bridge",
]


def make_body(rng: random.Random, words: int = WORDS_PER_POST) -> str:
    """About ``words`` words of Markdown: paragraphs, headings, lists, links, emphasis."""
    parts: list[str] = []
    written = 0
    section = 1
    while written < words:
        if rng.random() < 0.15:
            parts.append(f"## Section {section}: {' '.join(rng.choices(_WORDS, k=3)).title()}")
            section += 1
        if rng.random() < 0.1:
            parts.append("\n".join(f"- {' '.join(rng.choices(_WORDS, k=6))}" for _ in range(4)))
            written += 24
        sentences = []
        for _ in range(rng.randint(3, 6)):
            chosen = rng.choices(_WORDS, k=rng.randint(8, 18))
            if rng.random() < 0.2:
                chosen[0] = f"**{chosen[0]}**"
            if rng.random() < 0.1:
                chosen[-1] = f"[{chosen[-1]}](https://example.com/{chosen[-1]})"
            written += len(chosen)
            sentences.append(" ".join(chosen).capitalize() + ".")
        parts.append(" ".join(sentences))
    return "\n\n".join(parts) + "\n"


def tag_slug(tag_id: int) -> str:
    return TAG_NAMES[tag_id - 1].lower().replace(" ", "-")


def post_tags(size: int) -> list[tuple[int, ...]]:
    """The tag ids of posts 1..``size`` (item ``n - 1`` is post ``n``'s, in order), each
    post 1 to 3 distinct tags drawn with weights 1, 1/2, 1/3... Seeded and drawn post after
    post, so a post's tags do not depend on the size of the site."""
    rng = random.Random(TAG_SEED)  # noqa: S311 (sample data, not secrets)
    ids = range(1, len(TAG_NAMES) + 1)
    cum_weights = list(itertools.accumulate(1 / tag_id for tag_id in ids))
    result: list[tuple[int, ...]] = []
    for _ in range(size):
        wanted = rng.randint(1, 3)
        chosen: list[int] = []
        while len(chosen) < wanted:
            tag_id = rng.choices(ids, cum_weights=cum_weights)[0]
            if tag_id not in chosen:
                chosen.append(tag_id)
        result.append(tuple(chosen))
    return result


def tagged_posts(size: int, tag_id: int = POPULAR_TAG) -> list[int]:
    """The numbers of the posts carrying ``tag_id``, oldest first."""
    return [number for number, tags in enumerate(post_tags(size), 1) if tag_id in tags]


def published_at(number: int) -> datetime:
    """When post ``number`` was published: one a minute from ``FIRST_POST_AT``."""
    return FIRST_POST_AT + timedelta(minutes=number)


def admin_bio() -> str:
    """The admin's bio, which stamps the data set's version in the database."""
    return f"Wrote the bench data set, version {DATASET_VERSION}."


@dataclass(frozen=True)
class BenchSite:
    """A site folder for ``cms serve`` and what the bench needs to know about its data."""

    name: str
    backend: str
    size: int
    directory: Path
    settings: Path
    post_slug: str
    #: The tag the tag targets read (``/tags/<tag_slug>``): the most popular one.
    tag_slug: str = ""

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.size}"


def settings_text(backend: str, database: str, port: int) -> str:
    storage = (
        f'backend = "sqlite"\noptions = {{ path = "{database}" }}'
        if backend == "sqlite"
        # As many pooled connections as the bench has clients (16): sized for the load,
        # as docs/storage.md says to.
        else f'backend = "postgres"\noptions = {{ url = "{database}", pool_size = 16 }}'
    )
    return (
        f'[site]\ntitle = "Bench site"\nbase_url = "http://127.0.0.1:{port}"\n\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n[storage]\n{storage}\n'
    )


def post_slug(number: int) -> str:
    return f"post-{number}"


def post_title(number: int) -> str:
    return f"Post number {number}: {' '.join(_WORDS[number % 40 : number % 40 + 4])}"


def bench_post_number(size: int) -> int:
    """The post the post-page target reads: one in the middle of the site."""
    return max(1, size // 2)


def own_text(number: int, body: str, html: str) -> tuple[str, str]:
    """A shared body and its HTML, begun with a sentence of post ``number``'s own: a
    paragraph before the rest renders as a paragraph before the rest's HTML."""
    # Words the bench's searches never ask for (SEARCHES in run.py), but the number.
    sentence = f"Entry {number} begins here."
    return f"{sentence}\n\n{body}", f"<p>{sentence}</p>\n{html}"


async def _load_posts(storage: Any, size: int, progress: bool) -> None:
    """Fill an empty site with one admin, ``size`` published posts and their tags, in one
    transaction (kinds in import order: users, posts, tags, post_tags)."""
    from cms.content.rendering import render_markdown
    from cms.core.passwords import Passwords

    rng = random.Random(20240601)  # noqa: S311 (sample text, not secrets)
    bodies = [make_body(rng) for _ in range(min(DISTINCT_BODIES, size))]
    rendered = [(body, render_markdown(body)) for body in bodies]
    password_hash = await Passwords().hash(ADMIN_PASSWORD)
    started = time.monotonic()
    async with storage.importing() as writer:
        await writer.write(
            "users",
            [
                {
                    "id": 1,
                    "username": ADMIN_NAME,
                    "password_hash": password_hash,
                    "role": "admin",
                    "is_active": True,
                    "session_generation": 0,
                    "created_at": FIRST_POST_AT,
                    "bio": admin_bio(),
                }
            ],
        )
        for start in range(1, size + 1, BATCH):
            rows = []
            for number in range(start, min(start + BATCH, size + 1)):
                body, html = own_text(number, *rendered[number % len(rendered)])
                when = published_at(number)
                rows.append(
                    {
                        "id": number,
                        "slug": post_slug(number),
                        "title": post_title(number),
                        "body": body,
                        "html": html,
                        "status": "published",
                        "published_at": when,
                        "created_at": when,
                        "updated_at": when,
                        "author_id": 1,
                        "editor_id": 1,
                        "version": 1,
                        "image": None,
                    }
                )
            await writer.write("posts", rows)
            if progress and (start - 1) % (BATCH * 20) == 0 and start > 1:
                print(
                    f"    {start - 1} posts loaded ({time.monotonic() - started:.0f} s)", flush=True
                )
        await writer.write(
            "tags",
            [
                {
                    "id": tag_id,
                    "name": name,
                    "slug": tag_slug(tag_id),
                    "created_at": FIRST_POST_AT,
                }
                for tag_id, name in enumerate(TAG_NAMES, 1)
            ],
        )
        links = [
            {
                "post_id": number,
                "tag_id": tag_id,
                "position": position,
                # Every post is published: listed from its publication time on.
                "listed_at": published_at(number),
            }
            for number, tags in enumerate(post_tags(size), 1)
            for position, tag_id in enumerate(tags)
        ]
        for start in range(0, len(links), BATCH * 2):
            await writer.write("post_tags", links[start : start + BATCH * 2])
    if progress and size >= BATCH * 20:
        print(f"    {size} posts and their tags loaded ({time.monotonic() - started:.0f} s)")
    # The search index, as the server would fill it in the background after an import:
    # done here once, so a search is measured on a whole index.
    indexed = 0
    while done := await storage.index_missing(limit=BATCH):
        indexed += done
        if progress and indexed % (BATCH * 20) == 0:
            print(f"    {indexed} posts indexed ({time.monotonic() - started:.0f} s)", flush=True)


class StaleDataset(Exception):
    """The database holds a bench data set, but not this one (another size or version)."""


async def _stored_marker(storage: Any) -> tuple[int, str, str | None, int] | None:
    """(number of posts, title of post 1, the admin's bio, number of tags) of an existing
    bench database, or None."""
    try:
        post = await storage.get_post(1)
        last = await storage.list_posts(status="published", limit=1)
        admin = await storage.get_user(1)
        tags = await storage.list_tags()
    except Exception:
        return None
    if post is None or not last:
        return None
    return last[0].id, post.title, admin.bio if admin else None, len(tags)


async def prepare_database(settings_path: Path, size: int, *, progress: bool = True) -> bool:
    """Make the site's database hold the bench data set; return whether it was (re)built."""
    import os

    from cms.core.settings import load_settings
    from cms.core.site import Site

    os.environ.setdefault("CMS_SECRET_KEY", BENCH_SECRET_KEY)
    site = Site(load_settings(settings_path))
    await site.configure()
    storage = site.storage
    await storage.open()
    try:
        await storage.migrate()
        marker = await _stored_marker(storage)
        expected = (size, post_title(1), admin_bio(), len(TAG_NAMES))
        if marker == expected and await storage.count_users() == 1:
            return False
        if marker is not None:
            raise StaleDataset(f"{settings_path.parent}: {marker} where {expected} is wanted")
        if await storage.count_users():
            raise RuntimeError(
                f"{settings_path.parent} holds another data set: remove it (make bench-clean)"
            )
        await _load_posts(storage, size, progress)
        return True
    finally:
        await storage.close()


def build_sqlite(root: Path, size: int, port: int) -> BenchSite:
    """A SQLite site of ``size`` posts under ``root`` (reused when already built)."""
    directory = root / f"sqlite-{size}-v{DATASET_VERSION}"
    directory.mkdir(parents=True, exist_ok=True)
    settings = directory / "settings.toml"
    settings.write_text(settings_text("sqlite", "cms.db", port), encoding="utf-8")
    database = directory / "cms.db"
    _forget_other_versions(root, "sqlite", size)

    def forget() -> None:
        for leftover in directory.glob("cms.db*"):
            leftover.unlink()

    try:
        try:
            asyncio.run(prepare_database(settings, size))
        except StaleDataset as stale:
            print(f"    another data set ({stale}): building it again", flush=True)
            forget()
            asyncio.run(prepare_database(settings, size))
    except BaseException:
        # A half-loaded database is worth nothing: the next run starts over.
        forget()
        raise
    assert database.exists()
    return BenchSite(
        f"sqlite-{size}",
        "sqlite",
        size,
        directory,
        settings,
        post_slug(bench_post_number(size)),
        tag_slug(POPULAR_TAG),
    )


def _forget_other_versions(root: Path, backend: str, size: int) -> None:
    """Remove the site folders of other data set versions of this backend and size (a
    100,000-post SQLite database is gigabytes; none of them would be measured again)."""
    current = f"{backend}-{size}-v{DATASET_VERSION}"
    for folder in root.glob(f"{backend}-{size}-v*"):
        version = folder.name.rsplit("-v", 1)[1]
        if folder.name != current and version.isdigit() and folder.is_dir():
            print(f"    removing {folder} (an older data set)", flush=True)
            shutil.rmtree(folder)


def build_postgres(root: Path, size: int, port: int, server_url: str) -> BenchSite:
    """A PostgreSQL site of ``size`` posts in database ``cms_bench_<size>`` (never ``test``)."""
    database = f"cms_bench_{size}"
    asyncio.run(_create_database(server_url, database))
    url = database_url(server_url, database)
    directory = root / f"postgres-{size}-v{DATASET_VERSION}"
    directory.mkdir(parents=True, exist_ok=True)
    settings = directory / "settings.toml"
    settings.write_text(settings_text("postgres", url, port), encoding="utf-8")
    _forget_other_versions(root, "postgres", size)
    try:
        try:
            if asyncio.run(prepare_database(settings, size)):
                # Statistics now, as autovacuum would make them a minute later: plans
                # (and search's choice of how to find matches) read them.
                asyncio.run(_analyze(url))
        except StaleDataset as stale:
            # An older bench's data set (without tags, say): never measure it.
            print(f"    another data set ({stale}): building it again", flush=True)
            asyncio.run(_drop_database(server_url, database))
            asyncio.run(_create_database(server_url, database))
            asyncio.run(prepare_database(settings, size))
            asyncio.run(_analyze(url))
    except BaseException:
        asyncio.run(_drop_database(server_url, database))
        raise
    return BenchSite(
        f"postgres-{size}",
        "postgres",
        size,
        directory,
        settings,
        post_slug(bench_post_number(size)),
        tag_slug(POPULAR_TAG),
    )


def database_url(server_url: str, database: str) -> str:
    """The URL of ``database`` on the server ``server_url`` names (its database part, if
    any, is replaced: the bench never touches the database the URL names)."""
    base = server_url.rstrip("/")
    if base.count("/") >= 3:  # postgresql://user@host:port/dbname
        base = base.rsplit("/", 1)[0]
    return f"{base}/{database}"


def _server_url(server_url: str) -> str:
    return database_url(server_url, "postgres")


async def _create_database(server_url: str, database: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_server_url(server_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def _analyze(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _drop_database(server_url: str, database: str) -> None:
    import asyncpg

    assert database.startswith("cms_bench_")
    conn = await asyncpg.connect(_server_url(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_bench_databases(server_url: str) -> list[str]:
    """Drop every ``cms_bench_*`` database on the server (``make bench-clean``)."""
    import asyncpg

    conn = await asyncpg.connect(_server_url(server_url))
    try:
        names = [
            row["datname"]
            for row in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'cms\\_bench\\_%'"
            )
        ]
    finally:
        await conn.close()
    for name in names:
        await _drop_database(server_url, name)
    return names


if __name__ == "__main__":
    import os
    import sys

    if sys.argv[1:] != ["--drop-postgres"]:
        raise SystemExit("usage: python -m bench.dataset --drop-postgres")
    url = os.environ.get("CMS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")
    try:
        dropped = asyncio.run(drop_bench_databases(url))
    except OSError as error:
        raise SystemExit(f"no PostgreSQL at {url}: {error}") from None
    print(f"dropped: {', '.join(dropped) or 'nothing'}")
