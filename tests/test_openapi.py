"""``GET /api/openapi.json``: an OpenAPI 3.1 document generated from the same pydantic
models that validate the API (plugin fields included), and schemathesis run against a
real ``cms serve`` with it, finding no server error and no answer the document does not
describe."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.cli_support import Server, cms_env, free_port
from tests.conftest import ADMIN_PASSWORD, ClientFactory
from tests.plugins import api_fields

Client = TestClient[Any, Any]
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
PLUGIN_FIELDS = {"subtitle", "summary", "rating", "score", "pinned", "event_at", "mood"}
OPERATIONS = {
    ("/api/posts", "get"): "listPosts",
    ("/api/posts", "post"): "createPost",
    ("/api/posts/{id}", "get"): "getPost",
    ("/api/posts/{id}", "patch"): "updatePost",
    ("/api/posts/{id}", "delete"): "deletePost",
    ("/api/pages", "get"): "listPages",
    ("/api/pages", "post"): "createPage",
    ("/api/pages/{id}", "get"): "getPage",
    ("/api/pages/{id}", "patch"): "updatePage",
    ("/api/pages/{id}", "delete"): "deletePage",
    ("/api/tags", "get"): "listTags",
    ("/api/openapi.json", "get"): "getOpenApi",
    ("/api/media", "post"): "uploadMedia",
    ("/api/media/{id}", "get"): "getMedia",
    ("/api/posts/{id}/revisions", "get"): "listPostRevisions",
    ("/api/posts/{id}/revisions/{number}", "get"): "getPostRevision",
    ("/api/posts/{id}/revisions/{number}/restore", "post"): "restorePostRevision",
    ("/api/pages/{id}/revisions", "get"): "listPageRevisions",
    ("/api/pages/{id}/revisions/{number}", "get"): "getPageRevision",
    ("/api/pages/{id}/revisions/{number}/restore", "post"): "restorePageRevision",
}


async def document_of(client: Client) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document: dict[str, Any] = await response.json()
    return document


def resolve(document: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[1]
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


async def test_the_document_describes_every_operation(make_client: ClientFactory) -> None:
    document = await document_of(await make_client(site={"title": "Docs"}))
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Docs API"
    found = {
        (path, method): operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert found == OPERATIONS
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    posts, post = document["paths"]["/api/posts"], document["paths"]["/api/posts/{id}"]
    for operation in (posts["post"], post["patch"], post["delete"]):
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"401", "403", "404", "412"} & set(operation["responses"])
    # Every error answer has the error shape.
    error_schema = document["components"]["schemas"]["ErrorResponse"]
    assert error_schema["required"] == ["error"]
    for item in document["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(post["patch"]["responses"]) >= {"200", "400", "412", "413", "415", "422"}
    assert post["get"]["responses"]["200"]["headers"]["ETag"]["required"] is True
    assert [p["name"] for p in posts["get"]["parameters"]] == [
        "status",
        "tag",
        "q",
        "author",
        "after",
        "limit",
        "include",
    ]
    pages = document["paths"]["/api/pages"]["get"]["parameters"]
    assert [p["name"] for p in pages] == ["status", "q", "author", "after", "limit", "include"]
    # A listed post has its texts only when asked for; a post read alone always has them.
    schemas = document["components"]["schemas"]
    assert {"body", "html"} <= set(schemas["Post"]["required"])
    assert not {"body", "html"} & set(schemas["PostSummary"]["required"])
    assert schemas["PostList"]["properties"]["data"]["items"] == {
        "$ref": "#/components/schemas/PostSummary"
    }


async def test_the_schemas_come_from_the_models_with_plugin_fields(
    make_client: ClientFactory,
) -> None:
    bare = await document_of(await make_client())
    assert not PLUGIN_FIELDS & set(bare["components"]["schemas"]["Post"]["properties"])

    document = await document_of(await make_client(plugins=[("api_fields", api_fields)]))
    schemas = document["components"]["schemas"]
    post = schemas["Post"]
    assert (
        set(post["properties"])
        == {
            "id",
            "slug",
            "title",
            "body",
            "html",
            "status",
            "published_at",
            "created_at",
            "updated_at",
            "author",
            "editor",
            "version",
            "image",
            "kind",
            "tags",
            "featured",
            "custom_excerpt",
            "excerpt",
            "url",
        }
        | PLUGIN_FIELDS
    )
    assert set(post["required"]) == set(post["properties"])
    # Request bodies are the site's own validation models, constraints and all.
    created = document["paths"]["/api/posts"]["post"]["requestBody"]["content"]
    create_schema = resolve(document, created["application/json"]["schema"])
    assert create_schema["additionalProperties"] is False
    assert create_schema["required"] == ["title"]
    assert create_schema["properties"]["title"]["maxLength"] == 300
    rating = create_schema["properties"]["rating"]["anyOf"][0]
    assert (rating["type"], rating["minimum"], rating["maximum"]) == ("integer", 0, 5)
    mood = create_schema["properties"]["mood"]["anyOf"][0]
    assert mood["enum"] == ["happy", "calm"]
    patched = document["paths"]["/api/posts/{id}"]["patch"]["requestBody"]["content"]
    patch_schema = resolve(document, patched["application/json"]["schema"])
    assert "required" not in patch_schema
    assert patch_schema["properties"]["title"]["type"] == "string"  # may be left out, not null
    assert set(patch_schema["properties"]) >= PLUGIN_FIELDS


@pytest.mark.slow
async def test_schemathesis_finds_no_server_error_or_undocumented_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every operation, with an admin's token, positive and negative data, then stateful
    sequences (create, then read, change and delete what was created)."""
    if not SCHEMATHESIS.exists():
        pytest.fail(
            f"{SCHEMATHESIS} is missing: install the test extras (pip install -e '.[test]')"
        )
    port = free_port()
    (tmp_path / "plugins").mkdir()
    shutil.copy(TEST_PLUGINS / "api_fields.py", tmp_path / "plugins" / "api_fields.py")
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[site]\nbase_url = "http://127.0.0.1:{port}"\n[server]\nport = {port}\n'
        '[plugins]\ndir = "plugins"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CMS_SECRET_KEY", cms_env()["CMS_SECRET_KEY"])
    token = await _admin_token(settings)
    server = Server(settings, port, cms_env(), tmp_path / "serve.log")
    try:
        await server.start()
        result = await asyncio.to_thread(
            subprocess.run,
            [
                str(SCHEMATHESIS),
                "run",
                f"{server.url}/api/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,"
                "response_headers_conformance,response_schema_conformance,ignored_auth",
                "--max-examples",
                os.environ.get("CMS_TEST_SCHEMATHESIS_EXAMPLES", "60"),
                "--workers",
                "1",
                "--suppress-health-check",
                "all",
                "--request-timeout",
                "20",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=420,
            check=False,
        )
    finally:
        await server.kill()
    report = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report
    assert "19 selected / 19 total" in report, report
    cases = re.search(r"(\d+) generated, (\d+) passed", report)
    assert cases is not None and int(cases.group(1)) >= 300, report
    print(report)  # the summary, with the seed that reproduces this run (pytest -s)
    # The server logged no crash of ours (aiohttp's own parser may log refusing a NUL header).
    log = server.log_text()
    assert "ERROR cms" not in log, log[-5000:]


async def _admin_token(settings: Path) -> str:
    from cms.content.tokens import issue_token
    from cms.content.users import create_user
    from cms.core.settings import load_settings
    from cms.core.site import Site

    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        await create_user(site, "root", ADMIN_PASSWORD, "admin")
        return (await issue_token(site, "root", label="schemathesis")).secret
    finally:
        await site.storage.close()
