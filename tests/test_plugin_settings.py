"""``cms.plugin_settings``: a plugin's ``[plugins.<name>]`` table, validated by its own model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from cms import PostField, hookimpl, plugin_settings
from cms.core.settings import SettingsError, load_settings
from cms.testing import TestSite
from tests.cli_support import output_of, run_cms


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_words: int = Field(1, ge=1)
    max_words: int = Field(500, ge=1, le=10_000)


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    greeting: str = "hello"
    limits: Limits = Limits()


def settings_from(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_a_missing_table_gives_the_defaults(tmp_path: Path) -> None:
    assert plugin_settings(settings_from(tmp_path, ""), "wordy", Options) == Options()


def test_the_table_is_validated_into_the_model(tmp_path: Path) -> None:
    text = '[plugins.wordy]\ngreeting = "hi"\n[plugins.wordy.limits]\nmax_words = 20\n'
    options = plugin_settings(settings_from(tmp_path, text), "wordy", Options)
    assert options.greeting == "hi"
    assert options.limits == Limits(max_words=20)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[plugins.wordy]\ngreting = 'hi'\n",
            "[plugins.wordy] greting = 'hi': unknown key; allowed keys: greeting, limits",
        ),
        (
            "[plugins.wordy.limits]\nmax_words = 0\n",
            "[plugins.wordy] limits.max_words = 0: Input should be greater than or equal to 1",
        ),
        (
            "[plugins.wordy]\nlimits = 3\n",
            "[plugins.wordy] limits = 3: must be a table ([section] or { key = value })",
        ),
    ],
)
def test_a_bad_table_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        plugin_settings(settings_from(tmp_path, text), "wordy", Options)
    assert str(caught.value) == message


class Wordy:
    """A plugin that reads its settings when it declares its fields."""

    @hookimpl
    def register_post_fields(self, cms: Any) -> list[PostField]:
        options = plugin_settings(cms, "wordy", Options)
        return [PostField("words", int, min=options.limits.min_words, max=options.limits.max_words)]


async def test_a_plugin_reads_its_settings_from_the_running_site(tmp_path: Path) -> None:
    settings = {"plugins": {"wordy": {"limits": {"max_words": 7}}}}
    async with TestSite(plugins=[("wordy", Wordy())], tmp_path=tmp_path, settings=settings) as site:
        await site.sign_in_as_admin()
        result = await site.submit_post(title="Too many", words=8)
        assert result.errors == {"words": "Use a number at most 7."}


async def test_bad_plugin_settings_stop_the_site_with_their_own_message(tmp_path: Path) -> None:
    settings = {"plugins": {"wordy": {"greting": "hi"}}}
    with pytest.raises(SettingsError, match=r"^\[plugins\.wordy\] greting = 'hi': unknown key"):
        async with TestSite(plugins=[("wordy", Wordy())], tmp_path=tmp_path, settings=settings):
            pass


WORDY_SITE_PLUGIN = """\
from pydantic import BaseModel, ConfigDict

from cms import PostField, hookimpl, plugin_settings


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_words: int = 500


@hookimpl
def register_post_fields(cms):
    options = plugin_settings(cms, "wordy", Options)
    return [PostField("words", int, max=options.max_words)]
"""


def test_cms_migrate_stops_on_bad_plugin_settings_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "wordy.py").write_text(WORDY_SITE_PLUGIN, encoding="utf-8")
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[plugins]\ndir = "plugins"\n[plugins.wordy]\nmax_words = "lots"\n', encoding="utf-8"
    )
    result = run_cms("migrate", "--settings", settings, cwd=tmp_path)
    assert result.returncode == 2, output_of(result)
    assert result.stderr.strip().splitlines() == [
        "Error: [plugins.wordy] max_words = 'lots': Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
