"""``cms plugin new``: from an empty folder to a plugin package whose field is everywhere.

The walkthrough installs the new package into a throwaway environment (see
tests/plugin_packages.py), never into the project's venv.
"""

from __future__ import annotations

import json
import re
import tarfile
import tomllib
from pathlib import Path

import aiohttp
import pytest

from cms.cli.scaffold import plugin_names
from tests.cli_support import (
    Server,
    cms_env,
    free_port,
    output_of,
    plugin_listing,
    run_cms,
    submit_form,
)
from tests.plugin_packages import OverlayVenv

ADMIN_PASSWORD = "correct horse battery"
SUBTITLE_EXAMPLE = (
    "        # "
    'PostField("subtitle", str, label="Subtitle", max_length=200, help="Under the title"),'
)


def test_names_follow_from_the_package_name() -> None:
    names = plugin_names("cms-subtitle")
    assert (names.project, names.module, names.entry_point) == (
        "cms-subtitle",
        "cms_subtitle",
        "subtitle",
    )
    assert plugin_names("Reading-Time").module == "reading_time"
    assert plugin_names("reading-time").entry_point == "reading_time"


def test_new_writes_an_installable_package(tmp_path: Path) -> None:
    result = run_cms("plugin", "new", "cms-subtitle", cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    package = tmp_path / "cms-subtitle"
    project = tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert project["project"]["name"] == "cms-subtitle"
    assert any(dep.startswith("cms") for dep in project["project"]["dependencies"])
    assert project["project"]["entry-points"]["cms"] == {"subtitle": "cms_subtitle"}
    module = (package / "cms_subtitle" / "__init__.py").read_text(encoding="utf-8")
    assert "def register_post_fields(cms" in module
    assert SUBTITLE_EXAMPLE in module
    assert (package / "README.md").is_file()
    tests = (package / "tests" / "test_cms_subtitle.py").read_text(encoding="utf-8")
    assert "from cms.testing import" in tests
    assert "cd cms-subtitle" in result.stdout


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope-", "is not a package name"),
        ("has space", "is not a package name"),
        ("1st-plugin", "does not give a Python module name"),
        ("cms", "is cms itself"),
    ],
)
def test_new_refuses_a_bad_name(tmp_path: Path, name: str, message: str) -> None:
    result = run_cms("plugin", "new", name, cwd=tmp_path)
    assert result.returncode == 1, output_of(result)
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_new_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "cms-subtitle").mkdir()
    (tmp_path / "cms-subtitle" / "notes.txt").write_text("mine", encoding="utf-8")
    result = run_cms("plugin", "new", "cms-subtitle", cwd=tmp_path)
    assert result.returncode == 1, output_of(result)
    assert "exists and is not empty" in result.stderr
    assert [p.name for p in (tmp_path / "cms-subtitle").iterdir()] == ["notes.txt"]


@pytest.mark.slow
async def test_from_an_empty_folder_to_a_field_on_the_site(tmp_path: Path) -> None:
    """new -> add one PostField -> pip install -e -> cms migrate -> cms serve: the field is in
    the admin form and on the post page, and the package's own tests pass."""
    work = tmp_path / "work"
    work.mkdir()
    created = run_cms("plugin", "new", "cms-subtitle", cwd=work)
    assert created.returncode == 0, output_of(created)
    package = work / "cms-subtitle"

    overlay = OverlayVenv.create(tmp_path / "venv")
    installed = overlay.pip_install_editable(package)
    assert installed.returncode == 0, output_of(installed)
    as_made = overlay.pytest(package)
    assert as_made.returncode == 0, output_of(as_made)  # they pass right away

    # A site that exists before the field does: the field's column comes later, additively.
    assert overlay.cms("init", "site", cwd=work).returncode == 0
    settings = work / "site" / "settings.toml"
    first = overlay.cms("migrate", "--settings", settings, cwd=work)
    assert first.returncode == 0, output_of(first)

    module = package / "cms_subtitle" / "__init__.py"
    source = module.read_text(encoding="utf-8")
    module.write_text(
        source.replace(SUBTITLE_EXAMPLE, SUBTITLE_EXAMPLE.replace("# ", "", 1)), encoding="utf-8"
    )
    migrated = overlay.cms("migrate", "--settings", settings, cwd=work)
    assert migrated.returncode == 0, output_of(migrated)
    assert "added column cms_posts.subtitle" in migrated.stdout
    listed = overlay.cms("plugins", "--settings", settings, cwd=work)
    assert "register_post_fields" in plugin_listing(listed.stdout)["subtitle"], listed.stdout
    assert "package cms-subtitle" in listed.stdout

    port = free_port()
    server = Server(
        settings=settings,
        port=port,
        env=cms_env(CMS_SERVER__PORT=str(port)),
        log=tmp_path / "server.log",
        command=overlay.cms_command,
    )
    try:
        await server.start()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            base = server.url
            status, _, body = await submit_form(
                http,
                f"{base}/setup",
                {
                    "username": "admin",
                    "password": ADMIN_PASSWORD,
                    "password_confirm": ADMIN_PASSWORD,
                },
            )
            assert status == 303, body
            async with http.get(f"{base}/admin/posts/new") as response:
                form = await response.text()
            assert re.search(r'<input[^>]*name="subtitle"[^>]*maxlength="200"', form), form
            assert "Under the title" in form

            too_long = {"title": "Hello", "body": "Hi", "status": "published"}
            status, _, page = await submit_form(
                http, f"{base}/admin/posts/new", {**too_long, "subtitle": "x" * 201}
            )
            assert status == 422
            assert 'id="field-subtitle-error">Use at most 200 characters.' in page

            status, location, _ = await submit_form(
                http,
                f"{base}/admin/posts/new",
                {**too_long, "subtitle": "A fine day", "slug": "hello"},
            )
            assert status == 303, location
            async with http.get(f"{base}/posts/hello") as response:
                post_page = await response.text()
            assert re.search(r"<dt>Subtitle</dt>\s*<dd>A fine day</dd>", post_page), post_page
            async with http.get(f"{base}{location}") as response:
                edit = await response.text()
            assert re.search(r'name="subtitle" value="A fine day"', edit)
            post_id = int(location.split("/")[-2])
            await _check_the_api_if_there(http, base, post_id)
    finally:
        await server.kill()

    # And in `cms export`: the post's record carries the field.
    archive = tmp_path / "site-export.tar.gz"
    exported = overlay.cms("export", "-o", archive, "--settings", settings, cwd=work)
    assert exported.returncode == 0, output_of(exported)
    with tarfile.open(archive) as tar:
        member = tar.extractfile("posts.jsonl")
        assert member is not None
        records = [json.loads(line) for line in member.read().decode("utf-8").splitlines()]
    assert [record.get("subtitle") for record in records] == ["A fine day"]

    with_field = overlay.pytest(package)
    assert with_field.returncode == 0, output_of(with_field)
    assert "3 passed" in with_field.stdout


async def _check_the_api_if_there(http: aiohttp.ClientSession, base: str, post_id: int) -> None:
    """The field is a key of the post's JSON and a property in the OpenAPI schema."""
    async with http.get(f"{base}/api/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    schemas = document["components"]["schemas"]
    with_subtitle = [
        name for name, schema in schemas.items() if "subtitle" in schema.get("properties", {})
    ]
    assert with_subtitle, schemas.keys()
    async with http.get(f"{base}/api/posts/{post_id}") as response:
        assert response.status == 200, await response.text()
        post = (await response.json())["data"]
    assert post["subtitle"] == "A fine day"
