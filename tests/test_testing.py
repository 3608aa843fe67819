"""``cms.testing``: the helpers plugin authors test with."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cms import PostField, Text, hookimpl
from cms.contracts.fields import build_post_model
from cms.testing import TestSite, form_errors, sample_value
from tests.plugins import hello_view


class Ratings:
    @hookimpl
    def register_post_fields(self, cms: Any) -> list[PostField]:
        return [PostField("stars", int, min=1, max=5, required=True)]


async def test_plugins_are_registered_under_their_names(tmp_path: Path) -> None:
    ratings = Ratings()
    async with TestSite(plugins=[ratings, ("hello", hello_view)], tmp_path=tmp_path) as site:
        assert site.plugin_name(ratings) == "ratings"
        assert site.plugin_name(hello_view) == "hello"
        assert [field.plugin for field in site.site.fields] == ["ratings"]
        assert "Hello from a plugin" in await site.get_page("/hello")
        with pytest.raises(LookupError):
            site.plugin_name(object())


async def test_a_module_without_a_name_goes_by_its_own(tmp_path: Path) -> None:
    async with TestSite(plugins=[hello_view], tmp_path=tmp_path) as site:
        assert site.plugin_name(hello_view) == "hello_view"


async def test_forms_are_filled_in_as_a_browser_does(tmp_path: Path) -> None:
    async with TestSite(plugins=[Ratings()], tmp_path=tmp_path) as site:
        await site.sign_in_as_admin()
        refused = await site.submit_post(title="", stars=9)
        assert refused.status == 422 and not refused.saved
        assert refused.errors == {
            "title": "This field is required.",
            "stars": "Use a number at most 5.",
        }
        post = await site.create_post(title="Rated", stars=3)
        assert (post.title, post.stars, post.status) == ("Rated", 3, "published")
        edited = await site.edit_post(post.id, stars=5)
        assert (edited.title, edited.stars, edited.version) == ("Rated", 5, 2)
        with pytest.raises(AssertionError, match="not saved"):
            await site.edit_post(post.id, stars=0)


async def test_signing_in_works_on_a_fresh_site_and_on_one_that_has_an_admin(
    tmp_path: Path,
) -> None:
    async with TestSite(tmp_path=tmp_path) as site:
        await site.sign_in_as_admin()
        assert "New post" in await site.get_page("/admin/")
    async with TestSite(tmp_path=tmp_path) as site:  # same folder, same database
        await site.sign_in_as_admin()
        assert "New post" in await site.get_page("/admin/")
        with pytest.raises(AssertionError, match="expected 404, got 200"):
            await site.get_page("/admin/", status=404)


async def test_without_tmp_path_the_site_lives_in_a_folder_that_goes_away() -> None:
    async with TestSite(settings={"site": {"title": "Scratch"}}) as site:
        folder = site.site.settings.base_dir
        assert (folder / "cms.db").exists()
        assert "Scratch" in await site.get_page("/setup")
    assert not folder.exists()
    with pytest.raises(RuntimeError, match="async with"):
        _ = site.client


def test_form_errors_reads_the_messages_beside_fields() -> None:
    html = (
        '<p class="form-field__error" id="post-title-error">This field is required.</p>'
        '<p class="form-field__error" id="field-meta_description-error">Use at most 3 &amp; 4.</p>'
    )
    assert form_errors(html) == {
        "title": "This field is required.",
        "meta_description": "Use at most 3 & 4.",
    }
    alert = '<div class="alert alert--error" role="alert" id="form-error">\n  <p>Conflict.</p>'
    assert form_errors(alert) == {"__all__": "Conflict."}


def test_sample_values_pass_each_fields_rules() -> None:
    fields = [
        PostField("a", str, max_length=3, required=True),
        PostField("b", Text),
        PostField("c", int, min=10, max=20, required=True),
        PostField("d", float, max=-1),
        PostField("e", bool, required=True),
        PostField("f", datetime, required=True),
        PostField("g", str, choices=[("x", "X")], required=True),
    ]
    values = {field.name: sample_value(field) for field in fields}
    model = build_post_model(fields).model_validate({"title": "t", **values})
    assert model.model_dump(include=set(values)) == values
    assert values["a"] == "Sam" and values["c"] == 10 and values["d"] == -1.0
