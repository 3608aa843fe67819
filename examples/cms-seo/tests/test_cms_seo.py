"""The plugin's behaviour, driven over HTTP as a person would (cms.testing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cms import PostField
from cms.settings import SettingsError
from cms.testing import TestSite, sample_value

import cms_seo


def own_fields(site: TestSite) -> list[PostField]:
    """The fields this plugin declares (the site has cms's and other plugins' too)."""
    return [field for field in site.site.fields if field.plugin == site.plugin_name(cms_seo)]


async def test_the_plugin_is_loaded(site: TestSite) -> None:
    assert site.plugin_name(cms_seo) in site.site.plugins.plugins


async def test_its_fields_are_in_the_admin_form(site: TestSite) -> None:
    form = await site.get_page("/admin/posts/new")
    for field in own_fields(site):
        assert f'name="{field.name}"' in form


async def test_a_post_keeps_and_shows_its_field_values(site: TestSite) -> None:
    values = {field.name: sample_value(field) for field in own_fields(site)}
    post = await site.create_post(title="Hello", **values)
    for name, value in values.items():
        assert post[name] == value
    page = await site.get_page(f"/posts/{post.slug}")
    for field in own_fields(site):
        if field.show and not field.template:
            assert f"<dt>{field.label}</dt>" in page


# --- What this plugin does -------------------------------------------------------------

DESCRIPTION = re.compile(r'<meta name="description" content="([^"]*)">')
OG_DESCRIPTION = re.compile(r'<meta property="og:description" content="([^"]*)">')


async def test_the_description_goes_into_the_head_not_the_page(site: TestSite) -> None:
    post = await site.create_post(
        title="Tides", body="The sea comes and goes.", meta_description="All about tides"
    )
    page = await site.get_page(f"/posts/{post.slug}")
    head, _, body = page.partition("</head>")
    assert DESCRIPTION.findall(head) == ["All about tides"]  # the theme's excerpt is left out
    assert OG_DESCRIPTION.findall(head) == ["All about tides"]
    assert "All about tides" not in body  # show=False


async def test_without_one_the_theme_describes_the_post_by_its_first_words(
    site: TestSite,
) -> None:
    post = await site.create_post(title="Tides", body="The sea comes and goes.")
    page = await site.get_page(f"/posts/{post.slug}")
    assert DESCRIPTION.findall(page) == ["The sea comes and goes."]
    assert OG_DESCRIPTION.findall(page) == []


async def test_the_description_is_escaped(site: TestSite) -> None:
    post = await site.create_post(title="Quotes", meta_description='Say "hi" <script>')
    page = await site.get_page(f"/posts/{post.slug}")
    assert DESCRIPTION.findall(page) == ["Say &#34;hi&#34; &lt;script&gt;"]
    assert "<script>" not in page


async def test_the_admin_form_has_a_textarea_of_at_most_160_characters(site: TestSite) -> None:
    form = await site.get_page("/admin/posts/new")
    assert re.search(r'<textarea[^>]*name="meta_description"[^>]*maxlength="160"', form)


async def test_a_description_that_is_too_long_is_refused_beside_the_field(
    site: TestSite,
) -> None:
    result = await site.submit_post(title="Long", slug="long", meta_description="x" * 161)
    assert result.status == 422
    assert result.errors == {"meta_description": "Use at most 160 characters."}
    assert "x" * 161 in result.html  # what was typed is still there to fix
    assert await site.site.storage.get_post_by_slug("long") is None


async def test_an_edit_changes_and_clears_the_description(site: TestSite) -> None:
    post = await site.create_post(title="Edit me", meta_description="First")
    assert (await site.edit_post(post.id, meta_description="Second")).meta_description == "Second"
    assert (await site.edit_post(post.id, meta_description="")).meta_description is None


async def test_the_api_schema_has_the_field(site: TestSite) -> None:
    schema = site.site.post_model.model_json_schema()["properties"]["meta_description"]
    text = schema["anyOf"][0]
    assert text["type"] == "string"
    assert text["maxLength"] == 160
    assert text["format"] == "textarea"
    assert schema["title"] == "Meta description"


async def test_settings_change_the_limit(tmp_path: Path) -> None:
    settings = {"plugins": {"seo": {"max_length": 100}}}
    async with TestSite(plugins=[cms_seo], tmp_path=tmp_path, settings=settings) as site:
        await site.sign_in_as_admin()
        result = await site.submit_post(title="Long", meta_description="x" * 101)
        assert result.errors == {"meta_description": "Use at most 100 characters."}


async def test_bad_settings_stop_the_site_with_one_line_naming_the_key(tmp_path: Path) -> None:
    settings = {"plugins": {"seo": {"max_length": 10}}}
    with pytest.raises(SettingsError) as caught:
        async with TestSite(plugins=[cms_seo], tmp_path=tmp_path, settings=settings):
            pass
    message = str(caught.value)
    assert message.startswith("[plugins.seo] max_length = 10:")
    assert "50" in message
    assert "\n" not in message
