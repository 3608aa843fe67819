"""Plugin fields: one PostField declaration gives a column, validation, an admin form input
suited to its type, a value on the post page, and a schema for the API; clashes stop
start-up. Driven over HTTP through cms.testing, as a plugin author's tests would be."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from cms import PostField, Text, hookimpl
from cms.contracts.fields import build_post_model
from cms.core.plugin_host import PluginError
from cms.testing import TestSite
from tests.cli_support import output_of, run_cms
from tests.plugins import field_snippets


class AllTypes:
    """One field of every kind."""

    @hookimpl
    def register_post_fields(self, cms: Any) -> list[PostField]:
        return [
            PostField("subtitle", str, max_length=20, required=True, help="Under the title"),
            PostField("summary", Text, max_length=500),
            PostField("rating", int, min=1, max=5),
            PostField("score", float, min=0),
            PostField("pinned", bool),
            PostField("event_at", datetime, label="Event"),
            PostField("mood", str, choices=[("calm", "Calm"), ("happy", "Happy!")], default="calm"),
            PostField("colour", str, choices=["red", "green"]),
        ]


VALUES: dict[str, Any] = {
    "subtitle": "A fine day",
    "summary": "Line one\nLine two",
    "rating": 4,
    "score": 2.5,
    "pinned": True,
    "event_at": datetime(2024, 5, 1, 9, 30, 15, tzinfo=UTC),
    "mood": "happy",
    "colour": "green",
}


@pytest.fixture
async def site(tmp_path: Path) -> Any:
    async with TestSite(plugins=[("all_types", AllTypes())], tmp_path=tmp_path) as test_site:
        await test_site.sign_in_as_admin()
        yield test_site


def tag(html: str, name: str, element: str = "input") -> str:
    """The opening tag of the form control named ``name``."""
    match = re.search(rf'<{element}\b[^>]*\bname="{name}"[^>]*>', html)
    assert match, f"no <{element} name={name!r}>"
    return match.group(0)


def value_of(html: str, name: str) -> str:
    match = re.search(r'\bvalue="([^"]*)"', tag(html, name))
    return unescape(match.group(1)) if match else ""


def textarea(html: str, name: str) -> str:
    match = re.search(rf'<textarea\b[^>]*\bname="{name}"[^>]*>\n?(.*?)</textarea>', html, re.S)
    assert match, name
    return unescape(match.group(1))


def selected(html: str, name: str) -> list[str]:
    select = re.search(rf'<select\b[^>]*\bname="{name}".*?</select>', html, re.S)
    assert select, name
    return re.findall(r'<option value="([^"]*)" selected>', select.group(0))


# --- The admin form ----------------------------------------------------------------------


async def test_every_type_gets_an_input_suited_to_it(site: TestSite) -> None:
    form = await site.get_page("/admin/posts/new")
    subtitle = tag(form, "subtitle")
    assert 'type="text"' in subtitle and 'maxlength="20"' in subtitle and "required" in subtitle
    assert 'maxlength="500"' in tag(form, "summary", "textarea")
    rating = tag(form, "rating")
    assert 'type="number"' in rating and 'min="1"' in rating and 'max="5"' in rating
    assert 'step="1"' in rating
    assert 'step="any"' in tag(form, "score")
    pinned = tag(form, "pinned")
    assert 'type="checkbox"' in pinned and "required" not in pinned
    assert 'type="datetime-local"' in tag(form, "event_at")
    assert re.search(r'for="field-event_at">Event <span class="form-field__hint">\(UTC\)', form)
    assert selected(form, "mood") == ["calm"]  # the default
    assert '<option value="happy">Happy!</option>' in form
    assert selected(form, "colour") == []
    assert '<option value="green">green</option>' in form
    assert "Under the title" in form


async def test_every_type_round_trips_through_the_form(site: TestSite) -> None:
    post = await site.create_post(title="All", **VALUES)
    assert post.extra == VALUES

    form = await site.get_page(f"/admin/posts/{post.id}/edit")
    assert value_of(form, "subtitle") == "A fine day"
    assert textarea(form, "summary") == "Line one\nLine two"
    assert value_of(form, "rating") == "4"
    assert value_of(form, "score") == "2.5"
    assert "checked" in tag(form, "pinned")
    event = tag(form, "event_at")
    assert 'value="2024-05-01T09:30:15"' in event and 'step="1"' in event  # seconds kept
    assert selected(form, "mood") == ["happy"]
    assert selected(form, "colour") == ["green"]

    # Saved again as the form shows it, nothing changes.
    data = {"title": "All", "slug": post.slug, "body": "", "status": "published"}
    data.update(version=str(post.version), summary=textarea(form, "summary"), pinned="on")
    for name in ("subtitle", "rating", "score", "event_at"):
        data[name] = value_of(form, name)
    data.update(mood="happy", colour="green")
    response = await site.submit_form(f"/admin/posts/{post.id}/edit", data)
    assert response.status == 303, await response.text()
    again = await site.site.storage.get_post(post.id)
    assert again is not None and again.extra == VALUES


async def test_a_minute_precise_time_shows_without_seconds(site: TestSite) -> None:
    post = await site.create_post(title="T", subtitle="s", event_at="2024-05-01T09:30")
    assert post.event_at == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)  # a form's time is UTC
    event = tag(await site.get_page(f"/admin/posts/{post.id}/edit"), "event_at")
    assert 'value="2024-05-01T09:30"' in event and "step" not in event


async def test_an_unchecked_box_and_emptied_inputs_clear_values(site: TestSite) -> None:
    post = await site.create_post(title="All", **VALUES)
    emptied = {name: None for name in VALUES if name != "subtitle"}
    changed = await site.edit_post(post.id, **{**emptied, "pinned": False})
    assert changed.pinned is False
    assert changed.mood is None and changed.rating is None and changed.event_at is None
    assert changed.summary is None
    form = await site.get_page(f"/admin/posts/{post.id}/edit")
    assert "checked" not in tag(form, "pinned")


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"subtitle": ""}, "subtitle", "This field is required."),
        ({"subtitle": "   "}, "subtitle", "This field is required."),
        ({"subtitle": "x" * 21}, "subtitle", "Use at most 20 characters."),
        ({"summary": "y" * 501}, "summary", "Use at most 500 characters."),
        ({"rating": "four"}, "rating", "Enter a whole number."),
        ({"rating": "2.5"}, "rating", "Enter a whole number."),
        ({"rating": "9"}, "rating", "Use a number at most 5."),
        ({"score": "-1"}, "score", "Use a number at least 0."),
        ({"score": "lots"}, "score", "Enter a number."),
        ({"event_at": "next tuesday"}, "event_at", "Enter a date and time"),
        ({"mood": "angry"}, "mood", "Choose one of: 'calm' or 'happy'."),
    ],
)
async def test_a_value_that_breaks_a_rule_is_refused_beside_its_field(
    site: TestSite, values: dict[str, Any], field: str, message: str
) -> None:
    typed = {"title": "Kept title", "slug": "kept", "body": "kept body", **VALUES, **values}
    result = await site.submit_post(**typed)
    assert result.status == 422
    assert list(result.errors) == [field]
    assert result.errors[field].startswith(message)
    # The message sits beside its input, which is marked invalid and keeps what was typed.
    invalid_block = (
        r'<div class="form-field[^"]*form-field--invalid">(?:(?!<div class="form-field).)*'
    )
    block = re.search(invalid_block + rf'name="{field}".*?</div>', result.html, re.S)
    assert block and f'id="field-{field}-error"' in block.group(0)
    assert 'aria-invalid="true"' in block.group(0)
    assert value_of(result.html, "title") == "Kept title"
    assert textarea(result.html, "body") == "kept body"
    sent = typed[field]
    shown = textarea(result.html, field) if field == "summary" else None
    if field in ("mood",):
        assert selected(result.html, field) == []  # not a choice: nothing can be selected
    elif shown is not None:
        assert shown == sent
    else:
        assert value_of(result.html, field) == sent
    assert "checked" in tag(result.html, "pinned")
    assert await site.site.storage.get_post_by_slug("kept") is None  # nothing was saved


# --- The post page -----------------------------------------------------------------------


async def test_the_post_page_shows_every_field_with_a_value(site: TestSite) -> None:
    post = await site.create_post(title="All", **VALUES)
    page = await site.get_page(f"/posts/{post.slug}")
    rows = dict(re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", page, re.S))
    assert rows["Subtitle"] == "A fine day"
    assert rows["Rating"] == "4"
    assert rows["Score"] == "2.5"
    assert rows["Pinned"] == "Yes"
    assert rows["Event"] == '<time datetime="2024-05-01T09:30:15+00:00">2024-05-01 09:30</time>'
    assert rows["Mood"] == "Happy!"  # the choice's label
    assert rows["Colour"] == "green"

    bare = await site.create_post(title="Bare", subtitle="only this")
    labels = re.findall(r"<dt>(.*?)</dt>", await site.get_page(f"/posts/{bare.slug}"))
    # No value, no row; an unchecked box is a value ("No"), and so is a default choice.
    assert labels == ["Subtitle", "Pinned", "Mood"]


async def test_field_snippets_render_in_the_page_and_the_head(tmp_path: Path) -> None:
    async with TestSite(plugins=[field_snippets], tmp_path=tmp_path) as site:
        await site.sign_in_as_admin()
        post = await site.create_post(
            title="Snippets",
            body="The body words.",
            rating=3,
            canonical="https://example.org/elsewhere",
            teaser="A teaser",
        )
        page = await site.get_page(f"/posts/{post.slug}")
        head, _, body = page.partition("</head>")
        assert (
            '<p class="stars" data-field="rating" aria-label="3 of 5">★★★☆☆ (Snippets)</p>' in body
        )
        assert "<dt>Rating</dt>" not in body  # the snippet replaces the generic row
        assert (
            '<link rel="alternate" data-field="canonical" href="https://example.org/elsewhere">'
            in head
        )
        # A snippet's description replaces the theme's own (the excerpt).
        assert re.findall(r'<meta name="description" content="([^"]*)">', head) == ["A teaser"]
        assert "https://example.org/elsewhere" not in body  # show=False

        plain = await site.create_post(title="Plain", body="The body words.")
        page = await site.get_page(f"/posts/{plain.slug}")
        assert 'class="stars"' not in page and 'data-field="canonical"' not in page
        assert re.findall(r'<meta name="description" content="([^"]*)">', page) == [
            "The body words."
        ]


class MissingSnippet:
    @hookimpl
    def register_post_fields(self, cms: Any) -> list[PostField]:
        return [PostField("mood", str, template="missing_snippet/mood.html")]


async def test_a_snippet_that_does_not_exist_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as caught:
        async with TestSite(plugins=[("moods", MissingSnippet())], tmp_path=tmp_path):
            pass
    assert str(caught.value).startswith(
        "plugin 'moods' declares template='missing_snippet/mood.html' for post field 'mood'"
    )


# --- Declarations and the schema the API publishes ---------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "Title", "type": str}, "must be lowercase letters"),
        ({"name": "tags", "type": list}, "is not supported"),
        ({"name": "n", "type": int, "max_length": 3}, "max_length needs a text field"),
        ({"name": "s", "type": str, "min": 1}, "min and max need type int or float"),
        ({"name": "n", "type": int, "min": 5, "max": 1}, "min is greater than max"),
        ({"name": "c", "type": int, "choices": ["a"]}, "choices need type str"),
        ({"name": "c", "type": str, "choices": []}, "choices must not be empty"),
        ({"name": "c", "type": str, "choices": [1]}, "is neither a string nor"),
        ({"name": "c", "type": str, "choices": ["a"], "default": "b"}, "default 'b' is not valid"),
        ({"name": "n", "type": int, "default": "many"}, "default 'many' is not valid"),
        ({"name": "s", "type": str, "template": " "}, "template must name a template"),
    ],
)
def test_a_bad_declaration_says_what_is_wrong(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        PostField(**arguments)


def test_the_schema_describes_each_field_for_openapi() -> None:
    fields = AllTypes().register_post_fields(None)
    for post_field in fields:
        object.__setattr__(post_field, "plugin", "all_types")
    schema = build_post_model(fields).model_json_schema()
    properties = schema["properties"]
    assert "subtitle" in schema["required"] and "summary" not in schema["required"]
    subtitle = properties["subtitle"]
    assert subtitle["type"] == "string" and subtitle["maxLength"] == 20
    assert subtitle["minLength"] == 1
    assert subtitle["title"] == "Subtitle" and subtitle["description"] == "Under the title"
    assert subtitle["x-cms-plugin"] == "all_types" and subtitle["x-cms-widget"] == "text"
    summary = properties["summary"]["anyOf"][0]
    assert summary == {
        "type": "string",
        "format": "textarea",
        "maxLength": 500,
        "pattern": summary["pattern"],
    }
    assert properties["rating"]["anyOf"][0]["minimum"] == 1
    assert properties["rating"]["anyOf"][0]["maximum"] == 5
    assert properties["score"]["anyOf"][0]["type"] == "number"
    assert properties["pinned"]["anyOf"][0] == {"type": "boolean"}
    assert properties["event_at"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert properties["event_at"]["title"] == "Event"
    mood = properties["mood"]
    assert mood["anyOf"][0] == {"type": "string", "enum": ["calm", "happy"]}
    assert mood["default"] == "calm"
    assert mood["x-enum-labels"] == {"calm": "Calm", "happy": "Happy!"}
    assert "x-enum-labels" not in properties["colour"]  # the labels are the values


# --- Clashes -----------------------------------------------------------------------------

SUBTITLE_PLUGIN = """\
from cms import PostField, hookimpl


@hookimpl
def register_post_fields(cms):
    return [PostField({name!r}, str, max_length=200)]
"""


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (
            "subtitle",
            "Error: plugin 'alpha_titles' declares post field 'subtitle', which plugin "
            "'zeta_titles' declares too",
        ),
        (
            "slug",
            "Error: plugin 'zeta_titles' declares post field 'slug', which clashes with the "
            "core field of that name (plugin 'cms')",
        ),
    ],
)
def test_a_field_clash_stops_cms_serve_naming_both_plugins(
    tmp_path: Path, second: str, expected: str
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "alpha_titles.py").write_text(SUBTITLE_PLUGIN.format(name="subtitle"), "utf-8")
    (plugins / "zeta_titles.py").write_text(SUBTITLE_PLUGIN.format(name=second), "utf-8")
    settings = tmp_path / "settings.toml"
    settings.write_text('[plugins]\ndir = "plugins"\n', encoding="utf-8")
    result = run_cms("serve", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 2, output_of(result)
    assert result.stderr.strip().splitlines() == [expected], output_of(result)
    assert not (tmp_path / "cms.db").exists()  # stopped before touching storage


async def test_a_field_object_shared_by_two_sites_is_never_changed(site_dir: Path) -> None:
    """Plugins often return one module-level PostField: each site keeps a copy naming the
    plugin by that site's name for it, and the plugin's object stays as it was."""
    from cms.core.site import Site
    from tests.conftest import make_settings

    shared = PostField("subtitle", str, label="Subtitle")

    class Declares:
        @hookimpl
        def register_post_fields(self) -> list[PostField]:
            return [shared]

    first = Site(make_settings(site_dir), extra_plugins=[("first-name", Declares())])
    second = Site(make_settings(site_dir), extra_plugins=[("second-name", Declares())])
    await first.configure()
    await second.configure()
    assert [f.plugin for f in first.fields] == ["first-name"]
    assert [f.plugin for f in second.fields] == ["second-name"]
    assert shared.plugin == "" and first.fields[0] == shared
