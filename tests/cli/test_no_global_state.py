"""Nothing global: each ``cms`` run builds its own command group, and each site loads its
own plugin modules, so two of either in one process never see each other's."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cms.cli import make_cli
from cms.core.settings import load_settings
from cms.core.site import Site

COMMAND_PLUGIN = '''
import click
from cms import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command("{name}")
    def hello():
        """Says which site it belongs to."""
        click.echo("hello from {name}")
'''

FIELD_PLUGIN = """
from cms import PostField, hookimpl

@hookimpl
def register_post_fields():
    return [PostField("{field}", str, label="{field}")]
"""


def site_with_plugin(root: Path, name: str, module: str, text: str) -> Path:
    folder = root / name
    (folder / "plugins").mkdir(parents=True)
    (folder / "plugins" / f"{module}.py").write_text(text, encoding="utf-8")
    settings = folder / "settings.toml"
    settings.write_text('[plugins]\ndir = "plugins"\n', encoding="utf-8")
    return settings


def test_two_runs_in_one_process_keep_their_plugin_commands_apart(tmp_path: Path) -> None:
    first = site_with_plugin(tmp_path, "a", "greet", COMMAND_PLUGIN.format(name="hello-a"))
    second = site_with_plugin(tmp_path, "b", "greet", COMMAND_PLUGIN.format(name="hello-b"))
    runner = CliRunner()
    for settings, own, other in ((first, "hello-a", "hello-b"), (second, "hello-b", "hello-a")):
        cli = make_cli(["--settings", str(settings)])
        listing = runner.invoke(cli, ["--help"])
        assert own in listing.output and other not in listing.output, listing.output
        said = runner.invoke(cli, [own])
        assert said.exit_code == 0 and said.output == f"hello from {own}\n"
    # A run for no site at all has only the core's commands.
    plain = runner.invoke(make_cli([], plugin_commands=False), ["--help"])
    assert "hello-a" not in plain.output and "serve" in plain.output


async def test_two_sites_in_one_process_load_their_own_plugin_modules(site_dir: Path) -> None:
    """Both sites have plugins/seo.py, declaring different fields: each gets its own."""
    tmp_path = site_dir
    first = site_with_plugin(tmp_path, "a", "seo", FIELD_PLUGIN.format(field="summary_a"))
    second = site_with_plugin(tmp_path, "b", "seo", FIELD_PLUGIN.format(field="summary_b"))
    site_a, site_b = Site(load_settings(first)), Site(load_settings(second))
    await site_a.configure()
    await site_b.configure()
    assert [field.name for field in site_a.fields] == ["summary_a"]
    assert [field.name for field in site_b.fields] == ["summary_b"]
    module_a = site_a.plugins.plugins["seo"].module
    module_b = site_b.plugins.plugins["seo"].module
    assert module_a is not module_b and module_a.__name__ != module_b.__name__
