"""Themes in process: manifests and their settings, the lookup chain (site overrides, theme,
parents, plugin templates, default), path safety, static files, the two bundled themes, and
live reload of templates and static files."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import pytest
from aiohttp.test_utils import TestClient

from cms import PostField, hookimpl
from cms.contracts import Post
from cms.core.settings import SettingsError
from cms.core.site import Site
from cms.core.theming import ThemeManifest, bundled_themes_dir, load_theme, read_manifest
from cms.web.app import create_app
from cms.web.images import IMAGE_SETS_VAR, ImageSet
from tests.conftest import ClientFactory, create_post, make_settings, setup_admin, site_of
from tests.plugins import widget_plugin
from tests.test_security import without_structured_data

STYLESHEET = re.compile(r'href="(/static/(\w+)/([\w.-]+\.css))"')


def make_theme(
    site_dir: Path, name: str, manifest: str, files: dict[str, str] | None = None
) -> Path:
    """A theme in the site's own ``themes/`` folder."""
    folder = site_dir / "themes" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "theme.toml").write_text(manifest, encoding="utf-8")
    for relative, text in (files or {}).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


async def page(client: TestClient[Any, Any], path: str, status: int = 200) -> str:
    response = await client.get(path)
    text = await response.text()
    assert response.status == status, text
    return text


# --- theme.toml ---------------------------------------------------------------------


def test_bundled_manifests_are_valid_and_journal_extends_default() -> None:
    default = read_manifest(bundled_themes_dir() / "default")
    journal = read_manifest(bundled_themes_dir() / "journal")
    assert default.extends is None
    assert journal.extends == "default"
    assert journal.settings.colour_scheme == "auto"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[settings]\nposts_per_page = 0\n", r"settings\.posts_per_page = 0: .*greater than"),
        ("[settings]\nposts_per_page = 500\n", r"settings\.posts_per_page = 500"),
        ('[settings]\nposts_per_page = "ten"\n', r"settings\.posts_per_page = 'ten'"),
        ('[settings]\ncolour_scheme = "purple"\n', r"colour_scheme = 'purple'.*'auto'"),
        ('[settings]\nimage_widths = ["wide"]\n', r"settings\.image_widths"),
        ("[settings]\nimage_widths = [5]\n", r"between 16 and 4096"),
        ('[settings]\n"Bad-Name" = 1\n', r"'Bad-Name' must be a lowercase identifier"),
        ('colour = "red"\n', r"colour = 'red': unknown key; allowed keys: name, version"),
        ('extends = "../default"\n', r"extends = '\.\./default'"),
        ("name = [\n", r"cannot be read"),
    ],
)
def test_a_bad_manifest_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    folder = tmp_path / "themes" / "bad"
    write(folder / "theme.toml", text)
    with pytest.raises(SettingsError) as raised:
        read_manifest(folder)
    message = str(raised.value)
    assert "\n" not in message
    assert str(folder / "theme.toml") in message
    assert re.search(expected, message), message


def test_theme_settings_merge_child_over_parent_and_keep_theme_keys(site_dir: Path) -> None:
    make_theme(
        site_dir,
        "evening",
        'extends = "journal"\n[settings]\nposts_per_page = 3\ntagline = "Late edition"\n',
    )
    theme = load_theme("evening", site_dir)
    assert [member.name for member in theme.chain] == ["evening", "journal", "default"]
    assert theme.settings["posts_per_page"] == 3  # the child's
    assert theme.settings["tagline"] == "Late edition"  # the child's, over journal's
    assert theme.settings["image_widths"] == [480, 960, 1600]  # journal's
    assert theme.settings["colour_scheme"] == "auto"  # the default
    assert ThemeManifest.model_validate({"name": "x"}).settings.posts_per_page == 10


async def test_theme_settings_reach_templates(make_client: ClientFactory, site_dir: Path) -> None:
    make_theme(
        site_dir,
        "evening",
        'extends = "journal"\n[settings]\nposts_per_page = 2\ntagline = "Late edition"\n'
        'colour_scheme = "dark"\n',
    )
    client = await make_client(site={"theme": "evening"})
    await setup_admin(client)
    for number in range(3):
        assert (await create_post(client, title=f"Story {number}")).status == 303
    html = await page(client, "/")
    assert '<p class="masthead__tagline">Late edition</p>' in html
    assert html.count('class="story-card"') == 1  # a lead story and one card: two a page
    assert "Older stories" in html
    assert 'data-colour-scheme="dark"' in html
    assert '<meta name="color-scheme" content="dark">' in html


# --- finding themes -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nope", "../etc", "/etc", "default/../default", "Default", "a b"])
async def test_an_unknown_theme_stops_start_up_listing_the_themes(
    site_dir: Path, name: str
) -> None:
    site = Site(make_settings(site_dir), theme=name)
    with pytest.raises(SettingsError) as raised:
        await site.configure()
    message = str(raised.value)
    assert repr(name) in message
    assert "unknown theme; available: default, journal" in message


async def test_a_missing_parent_or_a_loop_is_named(site_dir: Path) -> None:
    make_theme(site_dir, "orphan", 'extends = "ghost"\n')
    with pytest.raises(SettingsError, match=r"'orphan' extends 'ghost', which does not exist"):
        load_theme("orphan", site_dir)
    make_theme(site_dir, "ping", 'extends = "pong"\n')
    make_theme(site_dir, "pong", 'extends = "ping"\n')
    with pytest.raises(SettingsError, match=r"extends loops: ping -> pong -> ping"):
        load_theme("ping", site_dir)


def test_a_site_theme_shadows_a_bundled_one_of_the_same_name(site_dir: Path) -> None:
    make_theme(site_dir, "journal", 'extends = "default"\ndescription = "mine"\n')
    theme = load_theme("journal", site_dir)
    assert theme.source == "site"
    assert theme.manifest.description == "mine"


# --- the lookup chain ---------------------------------------------------------------


async def test_a_site_theme_that_overrides_only_base_html(
    make_client: ClientFactory, site_dir: Path
) -> None:
    make_theme(
        site_dir,
        "framed",
        'name = "framed"\nextends = "default"\n',
        {
            "templates/base.html": '{% extends "default:base.html" %}'
            '{% block footer %}<footer id="framed-footer">Framed by {{ site.title }}'
            "</footer>{% endblock %}",
        },
    )
    client = await make_client(site={"theme": "framed", "title": "Framed site"})
    await setup_admin(client)
    await create_post(client, title="Inside the frame")
    index = await page(client, "/")
    assert '<footer id="framed-footer">Framed by Framed site</footer>' in index
    assert 'class="post-card__title"' in index  # default's index.html, on the new base
    post = await page(client, "/posts/inside-the-frame")
    assert '<h1 class="post__title">Inside the frame</h1>' in post
    assert "framed-footer" in post
    assert "framed-footer" in await page(client, "/no-such-page", status=404)  # error.html
    # The stylesheet comes from the parent, served under the child's name.
    match = STYLESHEET.search(index)
    assert match is not None and match.group(2) == "framed"
    assert (await client.get(match.group(1))).status == 200


async def test_default_and_journal_render_the_same_content_differently(
    make_client: ClientFactory, site_dir: Path
) -> None:
    class Subtitle:
        @hookimpl
        def register_post_fields(self, cms: Any) -> list[PostField]:
            return [PostField("subtitle", str, label="Subtitle")]

    pages: dict[str, dict[str, str]] = {}
    for theme in ("default", "journal"):
        client = await make_client(theme=theme, plugins=[("subtitle", Subtitle())])
        if theme == "default":
            await setup_admin(client)
            for number in range(3):
                await create_post(client, title=f"Story {number}", subtitle=f"Sub {number}")
        pages[theme] = {
            "index": await page(client, "/"),
            "post": await page(client, "/posts/story-1"),
        }
        await client.close()
    default, journal = pages["default"], pages["journal"]
    assert 'class="post-list"' in default["index"]
    assert "lead-story" not in default["index"] and "journal" not in default["index"]
    assert 'class="lead-story"' in journal["index"]
    assert journal["index"].count('class="story-card"') == 2
    assert "Story 2" in journal["index"]  # the newest is the lead story
    assert 'class="article-header"' in journal["post"]
    # journal's CSS comes after default's, both cache-busted under /static/journal/.
    sheets = [m.group(3) for m in STYLESHEET.finditer(journal["post"])]
    assert [re.sub(r"\.\w{10}\.", ".", sheet) for sheet in sheets] == ["style.css", "journal.css"]
    # Both honour the template contract: plugin fields and the post body.
    for html in (default["post"], journal["post"]):
        assert "<dt>Subtitle</dt>" in html and "Sub 1" in html
        assert '<h1 class="post__title' in html


async def test_journal_covers_show_images_when_posts_have_them(
    make_client: ClientFactory,
) -> None:
    client = await make_client(theme="journal")
    env = aiohttp_jinja2.get_env(client.app)
    now = datetime.now(UTC)

    def post(post_id: int, image: str | None) -> Post:
        return Post(
            id=post_id, slug=f"p{post_id}", title=f"Picture {post_id}", body="", html="<p>x</p>",
            status="published", published_at=now, created_at=now, updated_at=now,
            author="ann", editor=None, author_id=1, version=1, image=image,
        )  # fmt: skip

    # A post's image is the hash of an image of the media library; cms loads the page's
    # images before it renders (cms.web.images), as IMAGE_SETS_VAR.
    sea_hash = "5e" * 32
    sea = ImageSet(
        sea_hash, 1600, 1000,
        {
            "webp": (("/media/5e/1.webp", 320, 200), ("/media/5e/2.webp", 1600, 1000)),
            "jpeg": (("/media/5e/1.jpg", 320, 200), ("/media/5e/2.jpg", 1600, 1000)),
        },
    )  # fmt: skip
    html = env.get_template("index.html").render(
        posts=[post(1, sea_hash), post(2, "https://img.example/a.jpg"), post(3, None)],
        next_url=None, is_first_page=True, user=None, csrf_token="", request=None,
        **{IMAGE_SETS_VAR: {sea_hash: sea}},
    )  # fmt: skip
    assert (
        '<source type="image/webp" srcset="/media/5e/1.webp 320w, /media/5e/2.webp 1600w"' in html
    )
    assert 'srcset="/media/5e/1.jpg 320w, /media/5e/2.jpg 1600w"' in html
    assert 'width="1600" height="1000" alt="" class="cover__image"' in html
    assert '<img src="https://img.example/a.jpg" alt="" class="cover__image"' in html
    assert '<span class="cover__initial" aria-hidden="true">P</span>' in html
    assert " style=" not in html and "<script" not in without_structured_data(html)


async def test_a_plugin_template_is_found_under_its_package_name(
    make_client: ClientFactory,
) -> None:
    client = await make_client(plugins=[("widget_plugin", widget_plugin)])
    await setup_admin(client)
    html = await page(client, "/widget")
    assert '<p id="widget">Hello, widget from the plugin\'s own template</p>' in html
    # Its top-level templates/index.html is not a template of the site.
    assert "HIJACKED" not in await page(client, "/")


async def test_a_theme_overrides_a_plugin_template(
    make_client: ClientFactory, site_dir: Path
) -> None:
    make_theme(
        site_dir,
        "widgety",
        'extends = "journal"\n',
        {
            "templates/widget_plugin/widget.html": '{% extends "base.html" %}'
            '{% block content %}<p id="widget">{{ greeting }}, themed</p>{% endblock %}'
        },
    )
    client = await make_client(
        site={"theme": "widgety"}, plugins=[("widget_plugin", widget_plugin)]
    )
    await setup_admin(client)
    html = await page(client, "/widget")
    assert '<p id="widget">Hello, widget, themed</p>' in html
    assert 'class="masthead"' in html  # on journal's base, through the chain


async def test_a_site_override_wins_over_theme_and_plugin(
    make_client: ClientFactory, site_dir: Path
) -> None:
    write(
        site_dir / "templates" / "widget_plugin" / "widget.html",
        "<p id=widget>the site's own</p>",
    )
    client = await make_client(theme="journal", plugins=[("widget_plugin", widget_plugin)])
    await setup_admin(client)
    assert await page(client, "/widget") == "<p id=widget>the site's own</p>"


async def test_default_prefix_reaches_the_default_theme_when_overridden(
    make_client: ClientFactory, site_dir: Path
) -> None:
    write(
        site_dir / "templates" / "post.html",
        '{% extends "default:post.html" %}'
        "{% block post_header %}<p id=over>over</p>{{ super() }}{% endblock %}",
    )
    client = await make_client(theme="journal")
    env = aiohttp_jinja2.get_env(client.app)
    default_post = bundled_themes_dir() / "default" / "templates" / "post.html"
    assert env.get_template("default:post.html").filename == str(default_post.resolve())
    assert env.get_template("post.html").filename == str(site_dir / "templates" / "post.html")
    await setup_admin(client)
    await create_post(client, title="Prefixed")
    html = await page(client, "/posts/prefixed")
    # The site's override of default's post.html (skipping journal's), on journal's base.
    assert re.search(r'<p id=over>over</p>\s*<header class="post__header">', html)
    assert "article-header" not in html
    assert 'class="masthead"' in html


async def test_the_first_page_may_have_a_home_template(
    make_client: ClientFactory, site_dir: Path
) -> None:
    from cms.web.views.base import encode_cursor

    write(site_dir / "templates" / "home.html", "HOME {{ posts|length }} {{ is_first_page }}")
    client = await make_client(site={"posts_per_page": 1})
    await setup_admin(client)
    await create_post(client, title="One")
    await create_post(client, title="Two")
    assert await page(client, "/") == "HOME 1 True"
    # Later pages keep index.html.
    later = await page(client, "/?after=" + encode_cursor(datetime.now(UTC), 2**31 - 1))
    assert 'class="post-card__title"' in later and "HOME" not in later


# --- path safety --------------------------------------------------------------------


UNSAFE_NAMES = [
    "../settings.toml",
    "../../../../etc/passwd",
    "/etc/passwd",
    "default:../../../../etc/passwd",
    "default:/etc/passwd",
    "widget_plugin/../../../../../etc/passwd",
    "post-../../settings.toml",
    "post-..%2f..%2fsettings.toml",
    "admin/../../settings.toml",
    "..\\settings.toml",
    "index.html\0",
    "./index.html",
    "",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
async def test_no_template_name_leaves_the_template_folders(
    make_client: ClientFactory, site_dir: Path, name: str
) -> None:
    write(site_dir / "templates" / "index.html", "site index")
    client = await make_client(theme="journal", plugins=[("widget_plugin", widget_plugin)])
    assert (site_dir / "settings.toml").is_file()  # there to be read, if the loader let it
    env = aiohttp_jinja2.get_env(client.app)
    with pytest.raises(jinja2.TemplateNotFound):
        env.get_template(name)
    with pytest.raises(jinja2.TemplateNotFound):
        env.select_template([name])


async def test_links_out_of_a_theme_are_not_read(
    make_client: ClientFactory, site_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("TOP SECRET", encoding="utf-8")
    try:
        folder = make_theme(site_dir, "leaky", 'extends = "default"\n')
        (folder / "templates").mkdir()
        (folder / "static").mkdir()
        os.symlink(secret, folder / "templates" / "index.html")
        os.symlink(secret, folder / "static" / "leak.css")
        os.symlink(secret.parent, folder / "templates" / "outside")
        client = await make_client(site={"theme": "leaky"})
        await setup_admin(client)
        html = await page(client, "/")
        assert "TOP SECRET" not in html
        assert 'class="empty-state"' in html  # default's index.html instead
        env = aiohttp_jinja2.get_env(client.app)
        with pytest.raises(jinja2.TemplateNotFound):
            env.get_template(f"outside/{secret.name}")
        assert "leak.css" not in site_of(client).theme.static_names
    finally:
        secret.unlink()


@pytest.mark.parametrize(
    "path",
    [
        "/posts/..%2f..%2fetc%2fpasswd",
        "/posts/post-..%2f..%2fsettings.toml",
        "/static/default/..%2f..%2fsettings.toml",
        "/static/default/%2e%2e/%2e%2e/settings.toml",
        "/static/../../etc/passwd",
        "/static/..%2fjournal/style.css",
        "/static/journal/style.css",
    ],
)
async def test_crafted_paths_are_themed_404s(client: TestClient[Any, Any], path: str) -> None:
    await setup_admin(client)
    response = await client.get(path)
    text = await response.text()
    assert response.status == 404, text
    assert "<html" in text and "root:" not in text and "[storage]" not in text


# --- static files -------------------------------------------------------------------


async def test_static_files_have_cache_busting_names(client: TestClient[Any, Any]) -> None:
    await setup_admin(client)
    html = await page(client, "/")
    match = STYLESHEET.search(html)
    assert match is not None
    url, theme, name = match.groups()
    assert theme == "default" and re.fullmatch(r"style\.[0-9a-f]{10}\.css", name)
    response = await client.get(url)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.content_type == "text/css"
    assert "--accent" in await response.text()
    assert (await client.get("/static/default/style.0000000000.css")).status == 404
    assert (await client.get("/static/default/style.css")).status == 404  # only hashed names


async def test_a_child_static_file_wins_over_the_parents(
    make_client: ClientFactory, site_dir: Path
) -> None:
    make_theme(
        site_dir,
        "plain",
        'extends = "default"\n',
        {"static/style.css": "body { color: black; } /* plain */"},
    )
    client = await make_client(site={"theme": "plain"})
    await setup_admin(client)
    match = STYLESHEET.search(await page(client, "/"))
    assert match is not None
    assert await (await client.get(match.group(1))).text() == "body { color: black; } /* plain */"


# --- live reload (what `cms serve --reload` does in the serving process) -----------------


async def reloading_client(site_dir: Path, aiohttp_client: Any, **sections: Any) -> Any:
    site = Site(make_settings(site_dir, **sections))
    app = await create_app(site, auto_reload_templates=True)
    return await aiohttp_client(app)


async def test_live_reload_picks_up_template_edits_and_new_overrides(
    site_dir: Path, aiohttp_client: Any
) -> None:
    make_theme(site_dir, "live", 'extends = "default"\n', {"templates/error.html": "first"})
    client = await reloading_client(site_dir, aiohttp_client, site={"theme": "live"})
    assert await page(client, "/missing", status=404) == "first"
    write(site_dir / "themes" / "live" / "templates" / "error.html", "second, longer")
    assert await page(client, "/missing", status=404) == "second, longer"
    # A new site override shadows the theme's template at once.
    write(site_dir / "templates" / "error.html", "the site's")
    assert await page(client, "/missing", status=404) == "the site's"
    (site_dir / "templates" / "error.html").unlink()
    assert await page(client, "/missing", status=404) == "second, longer"


async def test_live_reload_reindexes_static_files(site_dir: Path, aiohttp_client: Any) -> None:
    make_theme(site_dir, "live", 'extends = "default"\n', {"static/style.css": "/* one */"})
    client = await reloading_client(site_dir, aiohttp_client, site={"theme": "live"})
    await setup_admin(client)
    before = STYLESHEET.search(await page(client, "/"))
    write(site_dir / "themes" / "live" / "static" / "style.css", "/* two, changed */")
    after = STYLESHEET.search(await page(client, "/"))
    assert before is not None and after is not None
    assert before.group(1) != after.group(1)  # a new cache-busting name
    assert await (await client.get(after.group(1))).text() == "/* two, changed */"
    assert (await client.get(before.group(1))).status == 404


async def test_without_reload_templates_are_read_once(
    make_client: ClientFactory, site_dir: Path
) -> None:
    make_theme(site_dir, "still", 'extends = "default"\n', {"templates/error.html": "first"})
    client = await make_client(site={"theme": "still"})
    assert await page(client, "/missing", status=404) == "first"
    write(site_dir / "themes" / "still" / "templates" / "error.html", "second, longer")
    assert await page(client, "/missing", status=404) == "first"


def test_url_builds_each_route_address_once() -> None:
    from aiohttp import web

    from cms.web.templating import URL_CACHE_SIZE, route_urls

    app = web.Application()

    async def nothing(request: web.Request) -> web.Response:
        return web.Response()

    resource = app.router.add_resource("/posts/{slug}", name="post")
    resource.add_route("GET", nothing)
    built = []
    url_for = resource.url_for

    def counted(**parts: str) -> object:
        built.append(parts)
        return url_for(**parts)

    resource.url_for = counted  # type: ignore[method-assign]
    url = route_urls(app.router)
    assert url("post", slug="a b") == "/posts/a%20b"
    assert url("post", slug="a b") == "/posts/a%20b"
    assert url("post", slug=7) == "/posts/7"  # parts as text, as before
    assert built == [{"slug": "a b"}, {"slug": "7"}]
    for number in range(URL_CACHE_SIZE + 1):  # a bounded memory: full, it starts again
        url("post", slug=f"n{number}")
    assert url("post", slug="a b") == "/posts/a%20b" and len(built) == URL_CACHE_SIZE + 4
