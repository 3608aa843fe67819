"""API tokens: the storage contract on SQLite and PostgreSQL, ``cms tokens`` as a user
runs it, the admin's tokens page, and what a token may do."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cms.content.tokens import TOKEN_PREFIX, hash_token, issue_token, parse_expiry, user_for_token
from cms.contracts import Storage
from cms.core.settings import load_settings
from cms.core.site import Site
from cms.web.app import create_app
from tests.cli_support import cms_env, output_of, run_cms
from tests.conftest import (
    ADMIN_PASSWORD,
    create_user,
    csrf_from,
    login,
    make_settings,
    post_form,
    setup_admin,
    site_of,
)

Client = TestClient[Any, Any]
_NEW_TOKEN = re.compile(r'value="(cms_[A-Za-z0-9_-]+)" readonly')


@pytest.fixture
async def site(site_dir: Path, storage_settings: dict[str, Any]) -> AsyncIterator[Site]:
    """A configured site with its storage open, on each backend."""
    site = Site(make_settings(site_dir, storage=storage_settings))
    await site.configure()
    await site.storage.open()
    await site.storage.migrate()
    try:
        yield site
    finally:
        await site.storage.close()


# --- storage contract -------------------------------------------------------------------


async def test_token_storage_contract(site: Site) -> None:
    storage: Storage = site.storage
    alice = await storage.create_user("alice", "x", "author")
    bob = await storage.create_user("Bob", "x", "editor")
    assert alice is not None and bob is not None
    later = datetime.now(UTC) + timedelta(days=3)
    first = await storage.create_token(alice.id, "a" * 64, prefix="cms_aaaa", label="laptop")
    second = await storage.create_token(
        bob.id, "b" * 64, prefix="cms_bbbb", label="", expires_at=later
    )
    assert (first.username, first.label, first.prefix) == ("alice", "laptop", "cms_aaaa")
    assert first.expires_at is None and first.revoked_at is None and first.last_used_at is None
    assert second.username == "Bob"
    assert second.expires_at is not None and abs(second.expires_at - later) < timedelta(seconds=1)

    assert await storage.get_token_by_hash("a" * 64) == first
    assert await storage.get_token_by_hash("c" * 64) is None
    assert await storage.get_token(second.id) == second
    assert await storage.get_token(999_999) is None
    assert [t.id for t in await storage.list_tokens()] == [second.id, first.id]
    assert [t.id for t in await storage.list_tokens(user_id=alice.id)] == [first.id]

    used = datetime.now(UTC)
    await storage.touch_token(first.id, used)
    touched = await storage.get_token(first.id)
    assert touched is not None and touched.last_used_at is not None
    assert abs(touched.last_used_at - used) < timedelta(seconds=1)

    revoked = await storage.revoke_token(first.id)
    assert revoked is not None and revoked.revoked_at is not None
    assert not revoked.is_usable(datetime.now(UTC))
    again = await storage.revoke_token(first.id)  # idempotent: the first time stays
    assert again is not None and again.revoked_at == revoked.revoked_at
    assert await storage.revoke_token(999_999) is None
    assert second.is_usable(datetime.now(UTC))
    assert not second.is_usable(later + timedelta(seconds=1))


async def test_only_the_digest_is_stored_and_it_finds_the_user(site: Site) -> None:
    await site.storage.create_user("alice", "x", "admin")
    issued = await issue_token(site, "alice", label="ci")
    assert issued.secret.startswith(TOKEN_PREFIX) and len(issued.secret) >= 40
    assert issued.token.prefix == issued.secret[:12]
    stored = await site.storage.get_token_by_hash(
        hashlib.sha256(issued.secret.encode()).hexdigest()
    )
    assert stored is not None and stored.id == issued.token.id
    found = await user_for_token(site, issued.secret)
    assert found is not None and found[0].username == "alice"
    assert await user_for_token(site, issued.secret + "x") is None
    assert await user_for_token(site, "cms_" + issued.secret[4:].swapcase()) is None
    # Using a token records when.
    used = await site.storage.get_token(issued.token.id)
    assert used is not None and used.last_used_at is not None


async def test_issue_token_refuses_unknown_and_deactivated_users(site: Site) -> None:
    with pytest.raises(ValueError, match="no user named"):
        await issue_token(site, "ghost")
    user = await site.storage.create_user("gone", "x", "author")
    assert user is not None
    await site.storage.update_user(user.id, is_active=False)
    with pytest.raises(ValueError, match="deactivated"):
        await issue_token(site, "gone")
    with pytest.raises(ValueError, match="one line"):
        await issue_token(site, "gone", label="two\nlines")


def test_parse_expiry() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_expiry("never", now=now) is None
    assert parse_expiry("", now=now) is None
    assert parse_expiry("90d", now=now) == now + timedelta(days=90)
    assert parse_expiry("12h", now=now) == now + timedelta(hours=12)
    assert parse_expiry("2w", now=now) == now + timedelta(weeks=2)
    assert parse_expiry("2031-02-03", now=now) == datetime(2031, 2, 3, tzinfo=UTC)
    for bad in ("0d", "soon", "2020-01-01", "5y"):
        with pytest.raises(ValueError):
            parse_expiry(bad, now=now)


# --- cms tokens -------------------------------------------------------------------------


def test_cms_tokens_create_list_revoke(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("", encoding="utf-8")
    created = run_cms(
        "users", "create", "alice", "--role", "author", cwd=tmp_path, input=ADMIN_PASSWORD + "\n"
    )
    assert created.returncode == 0, output_of(created)

    result = run_cms(
        "tokens", "create", "alice", "--label", "deploy", "--expires", "30d", cwd=tmp_path
    )
    assert result.returncode == 0, output_of(result)
    secret = result.stdout.strip()
    assert re.fullmatch(r"cms_[A-Za-z0-9_-]{43}", secret), result.stdout  # the token, alone
    assert "not shown again" in result.stderr

    # The database holds the digest, never the token.
    with sqlite3.connect(tmp_path / "cms.db") as db:
        rows = db.execute("SELECT token_hash, prefix, label FROM cms_tokens").fetchall()
        dump = "\n".join(db.iterdump())
    assert rows == [(hash_token(secret), secret[:12], "deploy")]
    assert secret not in dump

    listed = run_cms("tokens", "list", cwd=tmp_path)
    assert listed.returncode == 0, output_of(listed)
    assert "alice" in listed.stdout and "deploy" in listed.stdout and "active" in listed.stdout
    assert secret[:12] in listed.stdout and secret not in listed.stdout

    token_id = re.search(r"#(\d+)", listed.stdout).group(1)  # type: ignore[union-attr]
    revoked = run_cms("tokens", "revoke", token_id, cwd=tmp_path)
    assert revoked.returncode == 0, output_of(revoked)
    assert "Revoked token" in revoked.stdout
    assert "revoked" in run_cms("tokens", "list", "alice", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "ghost"), "no user named 'ghost'"),
        (("create", "alice", "--expires", "whenever"), "--expires"),
        (("revoke", "42"), "no token #42"),
        (("list", "ghost"), "no user named 'ghost'"),
    ],
)
def test_cms_tokens_errors_are_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "settings.toml").write_text("", encoding="utf-8")
    run_cms("users", "create", "alice", cwd=tmp_path, input=ADMIN_PASSWORD + "\n")
    result = run_cms("tokens", *args, cwd=tmp_path)
    assert result.returncode == 1, output_of(result)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


async def test_a_cli_token_works_until_revoked(tmp_path: Path, aiohttp_client: Any) -> None:
    (tmp_path / "settings.toml").write_text("", encoding="utf-8")
    run_cms("users", "create", "alice", cwd=tmp_path, input=ADMIN_PASSWORD + "\n")
    secret = run_cms("tokens", "create", "alice", cwd=tmp_path).stdout.strip()
    env = cms_env()
    app = await create_app(Site(load_settings(tmp_path / "settings.toml")))
    client: Client = await aiohttp_client(app)
    auth = {"Authorization": f"Bearer {secret}"}
    response = await client.post("/api/posts", json={"title": "By token"}, headers=auth)
    assert response.status == 201, await response.text()
    assert (await response.json())["data"]["author"] == "alice"
    assert run_cms("tokens", "revoke", "1", cwd=tmp_path, env=env).returncode == 0
    response = await client.post("/api/posts", json={"title": "Again"}, headers=auth)
    assert response.status == 401


# --- the admin page ---------------------------------------------------------------------


async def test_the_admin_creates_a_token_shown_once(client: Client) -> None:
    await setup_admin(client)
    page = await client.get("/admin/")
    assert 'href="/admin/tokens"' in await page.text()  # in the admin navigation
    response = await post_form(client, "/admin/tokens", {"label": "my script", "expires": "30d"})
    assert response.headers["Cache-Control"] == "no-store"
    assert response.status == 200, await response.text()
    text = await response.text()
    match = _NEW_TOKEN.search(text)
    assert match, text
    secret = match.group(1)
    assert "shown only this once" in text
    again = await (await client.get("/admin/tokens")).text()
    assert secret not in again and secret[:12] in again and "my script" in again

    response = await client.post(
        "/api/posts", json={"title": "x"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status == 201
    tokens = await site_of(client).storage.list_tokens()
    assert [(t.username, t.label) for t in tokens] == [("admin", "my script")]
    assert tokens[0].expires_at is not None


async def test_the_create_form_refuses_bad_input(client: Client) -> None:
    await setup_admin(client)
    response = await post_form(client, "/admin/tokens", {"label": "x", "expires": "forever"})
    assert response.status == 422
    response = await post_form(client, "/admin/tokens", {"label": "x" * 101, "expires": "30d"})
    assert response.status == 422
    assert "at most 100 characters" in await response.text()
    assert await site_of(client).storage.list_tokens() == []


async def test_people_see_and_revoke_their_own_tokens_admins_all(client: Client) -> None:
    await setup_admin(client)
    site = site_of(client)
    await create_user(client, "alice", "author")
    await create_user(client, "bob", "author")
    admins = await issue_token(site, "admin", label="admin-token")
    alices = await issue_token(site, "alice", label="alice-token")
    bobs = await issue_token(site, "bob", label="bob-token")

    everything = await (await client.get("/admin/tokens")).text()
    assert all(label in everything for label in ("admin-token", "alice-token", "bob-token"))

    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/admin/")})
    assert (await login(client, "alice", ADMIN_PASSWORD)).status == 303
    mine = await (await client.get("/admin/tokens")).text()
    assert "alice-token" in mine and "bob-token" not in mine and "admin-token" not in mine

    # Revoking someone else's token is refused; one's own works, with the form's token only.
    response = await post_form(
        client, f"/admin/tokens/{bobs.token.id}/revoke", {}, form_page="/admin/tokens"
    )
    assert response.status == 403
    response = await client.post(f"/admin/tokens/{alices.token.id}/revoke", data={})
    assert response.status == 403  # no CSRF token
    response = await post_form(
        client, f"/admin/tokens/{alices.token.id}/revoke", {}, form_page="/admin/tokens"
    )
    assert response.status == 303
    assert response.headers["Location"] == "/admin/tokens?notice=revoked"
    assert "Revoked" in await (await client.get("/admin/tokens")).text()

    async def works(secret: str) -> int:
        response = await client.get("/api/posts", headers={"Authorization": f"Bearer {secret}"})
        return response.status

    assert await works(alices.secret) == 401
    assert await works(bobs.secret) == 200
    assert await works(admins.secret) == 200

    # An administrator may revoke anybody's.
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/admin/")})
    await login(client, "admin", ADMIN_PASSWORD)
    response = await post_form(
        client, f"/admin/tokens/{bobs.token.id}/revoke", {}, form_page="/admin/tokens"
    )
    assert response.status == 303
    assert await works(bobs.secret) == 401
    response = await post_form(client, "/admin/tokens/999/revoke", {}, form_page="/admin/tokens")
    assert response.status == 404


async def test_visitors_are_sent_to_sign_in(client: Client) -> None:
    await setup_admin(client)
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/admin/")})
    response = await client.get("/admin/tokens", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login")
