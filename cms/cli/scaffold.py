"""``cms plugin new NAME``: a plugin package that installs, loads and passes its tests as made.

The files are written from the templates below (plain ``str.format``, no template engine:
the package is small and every file must read well as it stands).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click

from cms import __version__

__all__ = ["PluginNames", "plugin", "plugin_names", "write_plugin_package"]

# PEP 508 distribution names.
_PROJECT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$", re.IGNORECASE)


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin goes by: ``cms-subtitle`` / ``cms_subtitle`` / ``subtitle``."""

    project: str
    module: str
    entry_point: str


def plugin_names(name: str) -> PluginNames:
    """Derive the package's names from NAME; ValueError with the reason when it cannot be one."""
    if not _PROJECT_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a package name: use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    module = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not module.isidentifier():  # e.g. it starts with a digit
        raise ValueError(f"{name!r} does not give a Python module name (got {module!r})")
    if module == "cms":
        raise ValueError("'cms' is cms itself; name the plugin after what it does")
    # The entry point is the name settings use ([plugins.<name>], disabled = [...]).
    entry_point = module.removeprefix("cms_") or module
    return PluginNames(project=name, module=module, entry_point=entry_point)


def write_plugin_package(names: PluginNames, target: Path) -> list[Path]:
    """Write the package into ``target`` (which must not exist or be empty); return its files."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} exists and is not empty; nothing was changed")
    values = {
        "project": names.project,
        "module": names.module,
        "entry_point": names.entry_point,
        "cms_version": ".".join(__version__.split(".")[:2]),
        "title": names.entry_point.replace("_", " ").capitalize(),
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{names.module}/__init__.py": MODULE,
        f"{names.module}/py.typed": "",
        "tests/conftest.py": CONFTEST,
        f"tests/test_{names.module}.py": TESTS,
    }
    written: list[Path] = []
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
        written.append(path)
    return written


@click.group("plugin")
def plugin() -> None:
    """Write cms plugins."""


@plugin.command("new")
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the package [default: ./NAME]",
)
def new(name: str, directory: Path | None) -> None:
    """Make a plugin package NAME (e.g. cms-subtitle) ready to pip install and test."""
    try:
        names = plugin_names(name)
        target = directory if directory is not None else Path(name)
        written = write_plugin_package(names, target)
    except (ValueError, FileExistsError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created plugin package {names.project} in {target}:")
    for path in written:
        click.echo(f"  {path.relative_to(target)}")
    click.echo(
        f"\nNext:\n"
        f"  cd {target}\n"
        f"  pip install -e '.[test]'      # registers entry point {names.entry_point!r}\n"
        f"  pytest                        # the package's own tests\n"
        f"  edit {names.module}/__init__.py: add a PostField, then `cms migrate` in your site"
    )


PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{project}"
version = "0.1.0"
description = "A cms plugin."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["cms>={cms_version}"]

[project.optional-dependencies]
test = ["pytest>=8.2", "pytest-asyncio>=0.23"]

# cms finds the plugin through this entry point; "{entry_point}" is its name in settings
# ([plugins.{entry_point}], [plugins] disabled = ["{entry_point}"]).
[project.entry-points.cms]
{entry_point} = "{module}"

[tool.setuptools.packages.find]
# The package and its template folders ({module}/templates/{module}/ holds field snippets).
include = ["{module}*"]

[tool.setuptools.package-data]
"*" = ["py.typed", "*.html"]

[tool.pytest.ini_options]
testpaths = ["tests"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
filterwarnings = [
    # aiohttp-session, which cms uses, still keys requests by strings.
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning",
]

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP"]
"""

README = """\
# {project}

A plugin for cms, the async plugin-driven CMS: {title}.

## Install

```sh
pip install {project}
cms migrate        # adds the columns of the plugin's fields (cms serve does it too)
```

The plugin loads in every site of that Python environment. To turn it off for one site:

```toml
[plugins]
disabled = ["{entry_point}"]
```

## Develop

```sh
pip install -e '.[test]'
pytest
```

The plugin's hooks are in `{module}/__init__.py`. Templates for field snippets go in
`{module}/templates/{module}/`.

## Publish

```sh
python -m build
python -m twine upload dist/*
```
"""

MODULE = '''\
"""{title}: a cms plugin.

Each function marked ``@hookimpl`` implements one cms hook; see cms's docs/plugins.md.
"""

from __future__ import annotations

from typing import Any

from cms import PostField, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_post_fields(cms: Any) -> list[PostField]:
    """The fields this plugin adds to every post."""
    return [
        # One line per field: a column, validation, an admin form input, a key in the JSON
        # API and a row on the post page follow from it. Run `cms migrate` after a change.
        #
        # PostField("subtitle", str, label="Subtitle", max_length=200, help="Under the title"),
        # PostField("summary", Text, label="Summary"),  # long text: from cms import Text
        # PostField("rating", int, min=1, max=5),
        # PostField("pinned", bool),
        # PostField("mood", str, choices=["calm", "happy"], default="calm"),
    ]
'''

CONFTEST = '''\
"""A real cms site with this plugin, signed in as its administrator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cms.testing import TestSite

import {module}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[TestSite]:
    async with TestSite(plugins=[{module}], tmp_path=tmp_path) as test_site:
        await test_site.sign_in_as_admin()
        yield test_site
'''

TESTS = '''\
"""The plugin's behaviour, driven over HTTP as a person would (cms.testing)."""

from __future__ import annotations

from cms import PostField
from cms.testing import TestSite, sample_value

import {module}


def own_fields(site: TestSite) -> list[PostField]:
    """The fields this plugin declares (the site has cms's and other plugins' too)."""
    return [field for field in site.site.fields if field.plugin == site.plugin_name({module})]


async def test_the_plugin_is_loaded(site: TestSite) -> None:
    assert site.plugin_name({module}) in site.site.plugins.plugins


async def test_its_fields_are_in_the_admin_form(site: TestSite) -> None:
    form = await site.get_page("/admin/posts/new")
    for field in own_fields(site):
        assert f'name="{{field.name}}"' in form


async def test_a_post_keeps_and_shows_its_field_values(site: TestSite) -> None:
    values = {{field.name: sample_value(field) for field in own_fields(site)}}
    post = await site.create_post(title="Hello", **values)
    for name, value in values.items():
        assert post[name] == value
    page = await site.get_page(f"/posts/{{post.slug}}")
    for field in own_fields(site):
        if field.show and not field.template:
            assert f"<dt>{{field.label}}</dt>" in page
'''
