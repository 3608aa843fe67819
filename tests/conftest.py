"""Shared fixtures: real sites on a real SQLite file (and PostgreSQL when configured),
real HTTP through aiohttp's test client, and a sign-in helper."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from cms.plugins.sql_storage import SqlStorage
from redis.asyncio import Redis

from cms.core.settings import Settings, load_settings
from cms.core.site import Site
from cms.web.app import create_app
from tests.cli_support import CHEAP_PASSWORDS_ENV

# In-process sites read [passwords] from here; subprocesses get it from cms_env().
os.environ.update(CHEAP_PASSWORDS_ENV)

POSTGRES_URL_ENV = "CMS_TEST_POSTGRES_URL"
REDIS_URL_ENV = "CMS_TEST_REDIS_URL"
# CI sets this so a missing service fails the run instead of skipping tests.
REQUIRE_SERVICES_ENV = "CMS_TEST_REQUIRE_SERVICES"

ADMIN_NAME = "admin"
ADMIN_PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def service_url(env_var: str, what: str) -> str:
    """The URL of a real service for tests, or skip (fail, in CI) when it is not set.

    For PostgreSQL it is a database of this test run's own, made on the server the
    variable names, so two runs at once never drop each other's tables.
    """
    url = os.environ.get(env_var)
    if url:
        return _private_postgres(url) if env_var == POSTGRES_URL_ENV else url
    reason = f"{what} tests need {env_var} (e.g. set by .ci/run)"
    if os.environ.get(REQUIRE_SERVICES_ENV):
        pytest.fail(f"{reason}; {REQUIRE_SERVICES_ENV} forbids skipping them")
    pytest.skip(reason)


_private_databases: dict[str, str] = {}


def _in_thread(coroutine: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _private_postgres(url: str) -> str:
    if url not in _private_databases:
        import asyncpg

        name = f"cms_test_{os.getpid()}_{secrets.token_hex(3)}"

        async def create() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        _in_thread(create())
        _private_databases[url] = urlsplit(url)._replace(path=f"/{name}").geturl()
    return _private_databases[url]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the databases this run made."""
    import asyncpg

    async def drop(server_url: str, private_url: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            name = urlsplit(private_url).path.lstrip("/")
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    for server_url, private_url in _private_databases.items():
        _in_thread(drop(server_url, private_url))


def write_settings(directory: Path, text: str) -> Path:
    path = directory / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def reset_postgres(url: str) -> None:
    """Drop cms's tables so each PostgreSQL test starts from an empty database."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'cms%'"
        )
        if tables:
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await conn.execute(f"DROP TABLE IF EXISTS {names} CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def storage_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """``[storage]`` settings for each storage backend (the contract runs on both)."""
    if request.param == "sqlite":
        return {"backend": "sqlite", "options": {"path": str(tmp_path / "cms.db")}}
    url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    await reset_postgres(url)
    return {"backend": "postgres", "options": {"url": url}}


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty site folder with a secret key from the environment."""
    monkeypatch.setenv("CMS_SECRET_KEY", "test secret key, not for production")
    monkeypatch.delenv("CMS_SETTINGS", raising=False)
    return tmp_path


def make_settings(site_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for a site in ``site_dir``: SQLite there unless ``storage`` says otherwise."""
    sections.setdefault("storage", {"backend": "sqlite", "options": {"path": "cms.db"}})
    write_settings(site_dir, "")
    return load_settings(site_dir / "settings.toml", **sections)


ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(
    site_dir: Path, aiohttp_client: Any
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """``await make_client(plugins=[("name", module)], storage={...}, site={...})``."""

    async def factory(
        *, plugins: Iterable[tuple[str, object]] = (), theme: str | None = None, **sections: Any
    ) -> TestClient[Any, Any]:
        settings = make_settings(site_dir, **sections)
        site = Site(settings, theme=theme, extra_plugins=plugins)
        app = await create_app(site)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    """A client of a fresh default site on SQLite."""
    return await make_client()


def site_of(client: TestClient[Any, Any]) -> Site:
    from cms.web.keys import SITE_KEY

    return client.app[SITE_KEY]  # type: ignore[index]


async def csrf_from(client: TestClient[Any, Any], path: str) -> str:
    """GET ``path`` and return the CSRF token its form carries."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    match = _CSRF.search(await response.text())
    assert match, f"no csrf_token input on {path}"
    return match.group(1)


async def post_form(
    client: TestClient[Any, Any], path: str, data: dict[str, Any], *, form_page: str | None = None
) -> Any:
    """Submit a form the way a browser does: fetch the page for its token, then POST."""
    token = await csrf_from(client, form_page or path)
    return await client.post(path, data={**data, "csrf_token": token}, allow_redirects=False)


async def setup_admin(
    client: TestClient[Any, Any], username: str = ADMIN_NAME, password: str = ADMIN_PASSWORD
) -> None:
    """Complete /setup (which also signs the admin in)."""
    response = await post_form(
        client, "/setup", {"username": username, "password": password, "password_confirm": password}
    )
    assert response.status == 303, await response.text()


async def login(client: TestClient[Any, Any], username: str, password: str) -> Any:
    return await post_form(client, "/login", {"username": username, "password": password})


async def create_user(
    client: TestClient[Any, Any], username: str, role: str, password: str = ADMIN_PASSWORD
) -> Any:
    from cms.content.users import create_user as create

    return await create(site_of(client), username, password, role)  # type: ignore[arg-type]


async def create_post(client: TestClient[Any, Any], **values: Any) -> Any:
    """Create a post through the admin form; return the response (303 on success)."""
    data = {"title": "A post", "slug": "", "body": "Hello", "status": "published", **values}
    return await post_form(client, "/admin/posts/new", data)


@pytest.fixture
async def admin_client(client: TestClient[Any, Any]) -> AsyncIterator[TestClient[Any, Any]]:
    """A client signed in as the administrator of a fresh site."""
    await setup_admin(client)
    yield client


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop early, saying why, when a third-party plugin is installed in this environment.

    An installed plugin joins every site through its entry point, and this suite counts
    plugins and fields exactly. Plugin packages (examples/cms-seo, the scaffold's) are
    tested in throwaway environments instead: see tests/plugin_packages.py.
    """
    from importlib.metadata import entry_points

    foreign = sorted(
        f"{entry_point.name} (from {entry_point.dist.name if entry_point.dist else '?'})"
        for entry_point in entry_points(group="cms")
        if entry_point.dist is None or entry_point.dist.name != "cms"
    )
    if foreign:
        raise pytest.UsageError(
            "third-party cms plugins are installed in this environment: "
            + ", ".join(foreign)
            + "; the suite needs an environment without them (pip uninstall them)"
        )


# --- storages, as cms serve builds them -------------------------------------------

StorageFactory = Callable[..., Awaitable[SqlStorage]]


async def build_storage(
    site_dir: Path, storage_settings: dict[str, Any], *plugins: tuple[str, object]
) -> SqlStorage:
    settings = make_settings(site_dir, storage=storage_settings)
    site = Site(settings, extra_plugins=plugins)
    await site.configure()
    storage = site.storage
    assert isinstance(storage, SqlStorage), type(storage)
    await storage.open()
    return storage


@pytest.fixture
async def open_storage(
    site_dir: Path, storage_settings: dict[str, Any]
) -> AsyncIterator[StorageFactory]:
    """``await open_storage(("name", plugin), ..., migrate=True)``: an open storage on the
    same database each call; all are closed at the end."""
    opened: list[SqlStorage] = []

    async def factory(*plugins: tuple[str, object], migrate: bool = True) -> SqlStorage:
        storage = await build_storage(site_dir, storage_settings, *plugins)
        opened.append(storage)
        if migrate:
            await storage.migrate()
        return storage

    yield factory
    for storage in opened:
        await storage.close()


# --- session stores ----------------------------------------------------------------


@pytest.fixture(params=["cookie", "redis"])
async def sessions(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """``[sessions]`` settings for each store; Redis keys are cleaned up afterwards."""
    if request.param == "cookie":
        yield {"backend": "cookie"}
        return
    url = service_url(REDIS_URL_ENV, "Redis")
    prefix = f"cms-test:{secrets.token_hex(6)}:"
    yield {"backend": "redis", "options": {"url": url, "key_prefix": prefix}}
    redis = Redis.from_url(url)
    keys = [key async for key in redis.scan_iter(match=prefix + "*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def pytest_configure(config: pytest.Config) -> None:
    """Browser assertions wait up to 15 s, like the pages' own default timeout: under the
    whole suite (three workers and their browsers on two cores) a save that redirects and
    renders the editor again has been seen to take longer than Playwright's 5 s."""
    try:
        from playwright.sync_api import expect
    except ImportError:  # the browser tests skip, saying so
        return
    expect.set_options(timeout=15_000)
