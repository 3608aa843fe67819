"""How long ``cms import --from wordpress`` takes for a big blog.

    python -m bench.import_wordpress                   # 10,000 posts into a new SQLite site
    python -m bench.import_wordpress --posts 2000 --postgres postgresql://postgres@127.0.0.1/x

Writes a WXR 1.2 file of N posts (about 400 words each in classic-editor and block-editor
HTML, a [caption] in one post of ten, 1 to 3 of 50 tags and a category each, 5 authors,
one draft in twenty), then times the real command, end to end (a subprocess: reading,
converting, writing, one transaction), into an empty site. The PostgreSQL database named
is emptied of cms's tables first.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

CMS = Path(sys.executable).with_name("cms")
WORDS = [
    *("garden", "soil", "seed", "water", "light", "leaf", "root", "bloom", "season"),
    *("compost", "spade", "rake", "harvest", "tomato", "basil", "mint", "frost", "sun"),
    *("shade", "path", "border", "hedge", "pond", "moss", "stone", "bench", "gate"),
]


def _paragraph(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(40, 90))]
    words[0] = words[0].capitalize()
    cut = rng.randint(3, len(words) - 3)
    words[cut] = f"<strong>{words[cut]}</strong>"
    return " ".join(words) + "."


def _body(rng: random.Random, number: int) -> str:
    paragraphs = [_paragraph(rng) for _ in range(rng.randint(4, 7))]
    if number % 2:
        # The block editor: comments around each block.
        html = "\n\n".join(
            f"<!-- wp:paragraph -->\n<p>{text}</p>\n<!-- /wp:paragraph -->" for text in paragraphs
        )
    else:
        html = "\n\n".join(paragraphs)  # the classic editor: blank lines part paragraphs
    if number % 10 == 0:
        html += (
            '\n\n[caption id="attachment_1" align="alignnone" width="300"]<img '
            'src="https://blog.example/wp-content/uploads/2020/01/photo.jpg" alt="A photo" '
            'width="300" height="200" /> A photo of the garden[/caption]'
        )
    return html + "\n\n<ul><li>one</li><li>two</li></ul>"


def write_wxr(path: Path, posts: int, seed: int = 7) -> None:
    rng = random.Random(seed)  # noqa: S311 (sample text, not secrets)
    tags = [f"topic {n}" for n in range(50)]
    authors = [f"author{n}" for n in range(5)]
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:wp="http://wordpress.org/export/1.2/">\n<channel>\n'
            "<title>Bench blog</title><link>https://blog.example</link>\n"
            "<wp:wxr_version>1.2</wp:wxr_version>\n"
            "<wp:base_blog_url>https://blog.example</wp:base_blog_url>\n"
        )
        for author in authors:
            out.write(
                f"<wp:author><wp:author_login>{author}</wp:author_login>"
                f"<wp:author_display_name>{author.title()}</wp:author_display_name></wp:author>\n"
            )
        for number in range(1, posts + 1):
            day = f"20{10 + number % 14:02d}-{1 + number % 12:02d}-{1 + number % 28:02d}"
            when = f"{day} {number % 24:02d}:{number % 60:02d}:00"
            slug = f"post-number-{number}"
            status = "draft" if number % 20 == 0 else "publish"
            terms = "".join(
                f'<category domain="post_tag" nicename="{tag.replace(" ", "-")}">'
                f"<![CDATA[{tag}]]></category>"
                for tag in rng.sample(tags, rng.randint(1, 3))
            )
            out.write(
                f"<item><title>{escape(f'Post number {number}')}</title>"
                f"<link>https://blog.example/{day.replace('-', '/')}/{slug}/</link>"
                f"<dc:creator><![CDATA[{authors[number % 5]}]]></dc:creator>"
                f"<content:encoded><![CDATA[{_body(rng, number)}]]></content:encoded>"
                "<excerpt:encoded><![CDATA[]]></excerpt:encoded>"
                f"<wp:post_id>{number}</wp:post_id><wp:post_date_gmt>{when}</wp:post_date_gmt>"
                f"<wp:post_name>{slug}</wp:post_name><wp:status>{status}</wp:status>"
                "<wp:post_type>post</wp:post_type>"
                '<category domain="category" nicename="garden"><![CDATA[Garden]]></category>'
                f"{terms}</item>\n"
            )
        out.write("</channel>\n</rss>\n")


def _reset_postgres(url: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename LIKE 'cms%'"
            )
            if rows:
                names = ", ".join(f'"{row["tablename"]}"' for row in rows)
                await conn.execute(f"DROP TABLE {names} CASCADE")
        finally:
            await conn.close()

    asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--postgres", metavar="URL", help="import into this database instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cms-bench-import-") as folder:
        site = Path(folder)
        export = site / "export.xml"
        write_wxr(export, args.posts)
        if args.postgres:
            _reset_postgres(args.postgres)
            storage = f'backend = "postgres"\noptions = {{ url = "{args.postgres}" }}'
        else:
            storage = 'backend = "sqlite"\noptions = { path = "cms.db" }'
        (site / "settings.toml").write_text(f"[storage]\n{storage}\n", encoding="utf-8")
        env = {key: value for key, value in os.environ.items() if not key.startswith("CMS_")}
        migrate = [CMS, "migrate"]
        subprocess.run(migrate, cwd=site, env=env, check=True, capture_output=True)  # noqa: S603
        size = export.stat().st_size / 1e6
        print(f"{args.posts:,} posts, {size:.1f} MB of WXR; importing ...", flush=True)
        started = time.perf_counter()
        result = subprocess.run(  # noqa: S603 (our own command line)
            [CMS, "import", "--from", "wordpress", export],
            cwd=site,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        print(result.stdout.strip())
        if result.returncode:
            sys.exit(f"cms import failed ({result.returncode}): {result.stderr.strip()}")
        print(f"cms import --from wordpress: {elapsed:.1f} s ({args.posts / elapsed:,.0f} posts/s)")


if __name__ == "__main__":
    main()
