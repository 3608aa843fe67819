"""``cms.cli.rest_client.Client`` and the ``cms client`` commands against a real ``cms serve``
subprocess, with tokens made by ``cms tokens create``."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cms.cli.rest_client import ApiError, Client, Post, PostChanged
from tests.cli_support import CMS, Server, cms_env, free_port, output_of, run_cms
from tests.conftest import ADMIN_PASSWORD


@dataclass
class LiveSite:
    server: Server
    directory: Path
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    async def cms(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``cms ARGS`` as a user would (``--url`` given, token in ``CMS_TOKEN``),
        without blocking the event loop the server probe shares."""
        env = cms_env(**({"CMS_TOKEN": token} if token else {}))
        return await asyncio.to_thread(run_cms, *args, cwd=self.directory, env=env, timeout=60)


async def _users_and_tokens(settings: Path) -> dict[str, str]:
    """alice (author), bob (author) and erin (editor), each with a token. Made in-process:
    ``cms users create`` and ``cms tokens create`` have their own subprocess tests."""
    from cms.content.tokens import issue_token
    from cms.content.users import create_user
    from cms.core.settings import load_settings
    from cms.core.site import Site

    site = Site(load_settings(settings))
    await site.configure()
    await site.storage.open()
    try:
        await site.storage.migrate()
        tokens: dict[str, str] = {}
        for name, role in (("alice", "author"), ("bob", "author"), ("erin", "editor")):
            await create_user(site, name, ADMIN_PASSWORD, role)  # type: ignore[arg-type]
            tokens[name] = (await issue_token(site, name)).secret
        return tokens
    finally:
        await site.storage.close()


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveSite]:
    """A running ``cms serve`` with users alice, bob (authors) and erin (editor)."""
    port = free_port()
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[site]\nbase_url = "http://127.0.0.1:{port}"\n[server]\nport = {port}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CMS_SECRET_KEY", cms_env()["CMS_SECRET_KEY"])
    tokens = await _users_and_tokens(settings)
    server = Server(settings, port, cms_env(), tmp_path / "serve.log")
    try:
        await server.start()
        yield LiveSite(server, tmp_path, tokens)
    finally:
        await server.kill()


async def test_cms_client_commands_create_list_get_update_delete(live: LiveSite) -> None:
    alice = live.tokens["alice"]
    created = await live.cms(
        "client",
        "create",
        "--url",
        live.url,
        "--title",
        "Hello",
        "--body",
        "Some *text*",
        "--status",
        "published",
        token=alice,
    )
    assert created.returncode == 0, output_of(created)
    assert "Created post #1 'Hello'" in created.stdout

    listed = await live.cms("client", "list", "--url", live.url)
    assert listed.returncode == 0, output_of(listed)
    assert "#1" in listed.stdout and "hello" in listed.stdout and "Hello" in listed.stdout

    shown = await live.cms("client", "get", "1", "--url", live.url)
    assert shown.returncode == 0, output_of(shown)
    assert 'version 1 (ETag "1-1")' in shown.stdout and "Some *text*" in shown.stdout

    as_json = await live.cms("client", "--url", live.url, "--json", "get", "1")
    data = json.loads(as_json.stdout)
    assert data["title"] == "Hello" and data["html"] == "<p>Some <em>text</em></p>\n"

    updated = await live.cms(
        "client", "update", "1", "--url", live.url, "--title", "Hello again", token=alice
    )
    assert updated.returncode == 0, output_of(updated)
    assert "now version 2" in updated.stdout

    body_file = live.directory / "body.md"
    body_file.write_text("# From a file\n", encoding="utf-8")
    updated = await live.cms(
        "client",
        "update",
        "1",
        "--url",
        live.url,
        "--body-file",
        str(body_file),
        "--version",
        "2",
        "--json",
        token=alice,
    )
    assert updated.returncode == 0, output_of(updated)
    assert json.loads(updated.stdout)["body"] == "# From a file\n"

    deleted = await live.cms("client", "delete", "1", "--url", live.url, token=alice)
    assert deleted.returncode == 0, output_of(deleted)
    assert "Deleted post #1" in deleted.stdout
    gone = await live.cms("client", "get", "1", "--url", live.url)
    assert gone.returncode == 1 and "404" in gone.stderr


async def test_cms_client_update_reports_a_change_made_in_between(live: LiveSite) -> None:
    alice, erin = live.tokens["alice"], live.tokens["erin"]
    async with Client(live.url, alice) as api:
        post = await api.create(title="Draft one", body="Mine", status="published")
    # Alice reads version 1...
    shown = await live.cms("client", "get", str(post.id), "--url", live.url, "--json")
    read_version = json.loads(shown.stdout)["version"]
    # ...the editor changes the post in between...
    async with Client(live.url, erin) as api:
        await api.update(post.id, title="Edited by erin")
    # ...so Alice's update, based on what she read, is refused and changes nothing.
    result = await live.cms(
        "client",
        "update",
        str(post.id),
        "--url",
        live.url,
        "--version",
        str(read_version),
        "--title",
        "Alice's title",
        token=alice,
    )
    assert result.returncode == 3, output_of(result)
    assert "changed since you read it" in result.stderr and "Nothing was changed" in result.stderr
    async with Client(live.url) as api:
        current = await api.get(post.id)
    assert current.title == "Edited by erin" and current.version == 2

    # The same through If-Match, and for delete.
    result = await live.cms(
        "client",
        "delete",
        str(post.id),
        "--url",
        live.url,
        "--if-match",
        f'"{post.id}-1"',
        token=alice,
    )
    assert result.returncode == 3, output_of(result)
    async with Client(live.url) as api:
        assert (await api.get(post.id)).version == 2


async def test_cms_client_errors_are_clear(live: LiveSite) -> None:
    result = await live.cms("client", "create", "--url", live.url, "--title", "x")
    assert result.returncode == 1 and "401" in result.stderr and "token" in result.stderr

    result = await live.cms(
        "client",
        "create",
        "--url",
        live.url,
        "--title",
        "x" * 10_000,
        token=live.tokens["alice"],
    )
    assert result.returncode == 1
    assert "title: Use at most 300 characters." in result.stderr

    async with Client(live.url, live.tokens["alice"]) as api:
        post = await api.create(title="Alice's", status="published")
    result = await live.cms(
        "client",
        "update",
        str(post.id),
        "--url",
        live.url,
        "--title",
        "Bob's",
        token=live.tokens["bob"],
    )
    assert result.returncode == 1 and "403" in result.stderr

    port = free_port()
    result = await live.cms("client", "list", "--url", f"http://127.0.0.1:{port}")
    assert result.returncode == 1 and "cannot reach" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_client_library(live: LiveSite) -> None:
    async with Client(live.url, live.tokens["alice"]) as api:
        post = await api.create(title="Lib", body="*x*", status="draft")
        assert isinstance(post, Post)
        assert post.author == "alice" and post.status == "draft" and post.version == 1
        assert post.etag == f'"{post.id}-1"' and post.published_at is None

        post = await api.update(post, status="published")
        assert post.status == "published" and post.published_at is not None
        again = await api.get(post.id)
        assert again == post

        others = [await api.create(title=f"P{n}", status="published") for n in range(5)]
        page = await api.list(limit=2)
        assert len(page.posts) == 2 and page.next is not None
        every = [p.id async for p in api.iterate(page_size=2)]
        assert sorted(every) == sorted([post.id] + [p.id for p in others])

        with pytest.raises(ApiError) as raised:
            await api.create(title="")
        assert raised.value.status == 422 and "title" in raised.value.fields

    # Another writer changes the post: updating the copy read before is refused.
    async with Client(live.url, live.tokens["erin"]) as editor:
        await editor.update(post.id, body="Erin's")
    async with Client(live.url, live.tokens["alice"]) as api:
        with pytest.raises(PostChanged) as changed:
            await api.update(post, body="Alice's")
        assert changed.value.current_etag == f'"{post.id}-3"'
        with pytest.raises(PostChanged):
            await api.delete(post)
        assert (await api.get(post.id)).body == "Erin's"
        await api.delete(await api.get(post.id))
        with pytest.raises(ApiError) as missing:
            await api.get(post.id)
        assert missing.value.status == 404 and missing.value.code == "not_found"

    async with Client(live.url) as anonymous:
        with pytest.raises(ApiError) as refused:
            await anonymous.delete(others[0].id)
        assert refused.value.status == 401
        document = await anonymous.openapi()
        assert document["openapi"].startswith("3.1")


def test_cms_client_help_runs_without_a_site(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CMS), "client", "update", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--if-match" in result.stdout and "--token" in result.stdout
