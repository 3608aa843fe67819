"""Test helpers for plugin authors: a real site with your plugin, and a client to drive it.

```python
import cms_subtitle
from cms.testing import TestSite

async def test_the_subtitle_is_shown(tmp_path):
    async with TestSite(plugins=[cms_subtitle], tmp_path=tmp_path) as site:
        await site.sign_in_as_admin()
        post = await site.create_post(title="Hello", subtitle="A fine day")
        assert post.subtitle == "A fine day"
        assert "A fine day" in await site.get_page(f"/posts/{post.slug}")
```

The site is real: SQLite in ``tmp_path``, the default theme, the built-in plugins, cms's own
views and HTTP through aiohttp's test server. Other installed third-party plugins stay out
(``installed_plugins=True`` lets them in), so a test sees only the plugins it names.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from cms.contracts import Post
from cms.contracts.fields import PostField, Text
from cms.core.plugin_host import ENTRY_POINT_GROUP, PluginHost
from cms.core.settings import Settings, load_settings
from cms.core.site import Site

__all__ = [
    "ADMIN_NAME",
    "ADMIN_PASSWORD",
    "CHEAPEST_PASSWORD_HASHING",
    "PostFormResult",
    "TestSite",
    "form_errors",
    "sample_value",
]

#: ``[passwords]`` for test sites: Argon2's cheapest parameters (never for a real site).
CHEAPEST_PASSWORD_HASHING = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}

ADMIN_NAME = "admin"
ADMIN_PASSWORD = "correct horse battery staple"
#: The distribution whose entry points are cms's own plugins (always loaded).
CORE_DISTRIBUTION = "cms"

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FIELD_ERROR = re.compile(
    r'<p class="form-field__error" id="(?:post|field)-([\w-]+)-error">(.*?)</p>'
)
_FORM_ERROR = re.compile(r'<div class="alert alert--error"[^>]*>\s*<p>(.*?)</p>', re.DOTALL)

PluginSpec = object | tuple[str, object]


def form_errors(html: str) -> dict[str, str]:
    """The messages a form page shows, by field name (``__all__`` for the form's own).

    Reads the default theme's markup (``id="field-<name>-error"``).
    """
    errors = {name: unescape(text) for name, text in _FIELD_ERROR.findall(html)}
    match = _FORM_ERROR.search(html)
    if match and not errors:
        errors["__all__"] = unescape(match.group(1).strip())
    return errors


@dataclass
class PostFormResult:
    """What the post form answered: the post when it was saved, else the page and its errors."""

    status: int
    html: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    post: Post | None = None

    @property
    def saved(self) -> bool:
        return self.post is not None


class TestSite:
    """A running test site: ``async with TestSite(plugins=[my_plugin], tmp_path=p) as site``.

    ``plugins`` are modules (or objects with ``@hookimpl`` methods), optionally as
    ``(name, plugin)`` pairs; a module that an installed entry point of group ``cms`` names
    loads through that entry point, under its name, as it does in production.
    ``settings`` are sections to set, e.g. ``{"plugins": {"subtitle": {"max": 3}}}``.
    """

    __test__ = False  # a helper, not a test class, whatever pytest thinks of its name

    def __init__(
        self,
        *,
        plugins: Iterable[PluginSpec] = (),
        tmp_path: Path | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        theme: str | None = None,
        installed_plugins: bool = False,
    ) -> None:
        self._plugins = list(plugins)
        self._tmp_path = tmp_path
        self._sections = {name: dict(values) for name, values in (settings or {}).items()}
        self._theme = theme
        self._installed_plugins = installed_plugins
        self._tmp_dir: tempfile.TemporaryDirectory[str] | None = None
        self._client: TestClient[web.Request, web.Application] | None = None
        self._site: Site | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> TestSite:
        directory = self._tmp_path
        if directory is None:
            self._tmp_dir = tempfile.TemporaryDirectory(prefix="cms-test-")
            directory = Path(self._tmp_dir.name)
        directory.mkdir(parents=True, exist_ok=True)
        settings = self._settings(directory)
        site = Site(settings, plugins=self._plugin_host(settings), theme=self._theme)
        from cms.web.app import create_app  # the app factory pulls in every view

        app = await create_app(site)
        client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
        try:
            await client.start_server()
        except BaseException:
            await client.close()
            self._cleanup()
            raise
        self._site, self._client = site, client
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._client is not None:
                await self._client.close()
        finally:
            self._client = self._site = None
            self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp_dir is not None:
            self._tmp_dir.cleanup()
            self._tmp_dir = None

    def _settings(self, directory: Path) -> Settings:
        path = directory / "settings.toml"
        if not path.exists():
            path.write_text("", encoding="utf-8")
        sections = dict(self._sections)
        sections.setdefault("storage", {"backend": "sqlite", "options": {"path": "cms.db"}})
        # Signing in is the slowest step of most tests; a test site's passwords guard nothing.
        sections.setdefault("passwords", CHEAPEST_PASSWORD_HASHING)
        return load_settings(path, **sections)

    def _plugin_host(self, settings: Settings) -> PluginHost:
        named: list[tuple[str, object]] = []
        through_entry_points: set[str] = set()
        installed = {
            entry_point.value: entry_point for entry_point in entry_points(group=ENTRY_POINT_GROUP)
        }
        for spec in self._plugins:
            name, plugin = spec if isinstance(spec, tuple) else (None, spec)
            # An entry point naming the module itself (``subtitle = "cms_subtitle"``).
            entry_point = installed.get(plugin.__name__) if isinstance(plugin, ModuleType) else None
            if entry_point is not None and name in (None, entry_point.name):
                through_entry_points.add(entry_point.name)
                continue
            named.append((name or _plugin_name(plugin), plugin))
        blocked = set(settings.plugins.disabled)
        if not self._installed_plugins:
            for entry_point in installed.values():
                dist = entry_point.dist
                if dist is not None and dist.name == CORE_DISTRIBUTION:
                    continue
                if entry_point.name not in through_entry_points:
                    blocked.add(entry_point.name)
        return PluginHost.load(
            disabled=sorted(blocked),
            plugins_dir=settings.resolve_path(settings.plugins.dir)
            if settings.plugins.dir
            else None,
            extra=named,
        )

    # -- what tests use --------------------------------------------------------------------

    @property
    def client(self) -> TestClient[web.Request, web.Application]:
        """aiohttp's test client for this site (it keeps cookies, so sign-in sticks)."""
        if self._client is None:
            raise RuntimeError("use TestSite inside `async with`")
        return self._client

    @property
    def site(self) -> Site:
        """The running :class:`cms.Site`: ``site.site.storage``, ``site.site.fields``..."""
        if self._site is None:
            raise RuntimeError("use TestSite inside `async with`")
        return self._site

    def plugin_name(self, plugin: object) -> str:
        """The name ``plugin`` (a module or object given in ``plugins``) runs under: its entry
        point's name when installed, which is also ``PostField.plugin`` of its fields."""
        for name, loaded in self.site.plugins.plugins.items():
            if loaded.module is plugin or self.site.plugins.pm.get_plugin(name) is plugin:
                return name
        raise LookupError(f"{plugin!r} is not a plugin of this site")

    async def get_page(self, path: str, *, status: int = 200) -> str:
        """GET ``path``, check the status, return the body."""
        response = await self.client.get(path)
        text = await response.text()
        if response.status != status:
            raise AssertionError(f"GET {path}: expected {status}, got {response.status}\n{text}")
        return text

    async def submit_form(
        self, path: str, data: Mapping[str, Any], *, form_page: str | None = None
    ) -> ClientResponse:
        """Submit a form as a browser does: fetch its page for the CSRF token, then POST.

        Redirects are not followed, so a successful save answers 303.
        """
        page = await self.get_page(form_page or path)
        match = _CSRF.search(page)
        if match is None:
            raise AssertionError(f"no csrf_token input on {form_page or path}")
        return await self.client.post(
            path, data={**data, "csrf_token": match.group(1)}, allow_redirects=False
        )

    async def sign_in_as_admin(
        self, username: str = ADMIN_NAME, password: str = ADMIN_PASSWORD
    ) -> None:
        """Create the administrator through ``/setup`` on a fresh site (which signs them in),
        or sign in through ``/login`` when it exists already."""
        if not await self.site.is_set_up():
            data = {"username": username, "password": password, "password_confirm": password}
            response = await self.submit_form("/setup", data)
        else:
            response = await self.submit_form(
                "/login", {"username": username, "password": password}
            )
        if response.status != 303:
            raise AssertionError(f"signing in failed ({response.status}): {await response.text()}")

    async def submit_post(self, post_id: int | None = None, **values: Any) -> PostFormResult:
        """Fill in the admin post form (new, or the edit form of ``post_id``) and save.

        Values are given as Python values (``True`` checks a box, a datetime fills a
        date-time input); anything left out keeps the form's own value for an edit, or the
        default for a new post (``title`` "A post", ``status`` "published").
        """
        if post_id is None:
            path = "/admin/posts/new"
            form: dict[str, Any] = {"title": "A post", "body": "", "status": "published"}
            # What the new-post form shows: each field's default, as a browser would send it.
            for post_field in self.site.fields:
                form[post_field.name] = post_field.default
        else:
            path = f"/admin/posts/{post_id}/edit"
            post = await self.site.storage.get_post(post_id)
            if post is None:
                raise AssertionError(f"there is no post {post_id}")
            form = {"title": post.title, "slug": post.slug, "body": post.body}
            form.update(status=post.status, version=str(post.version))
            for post_field in self.site.fields:
                form[post_field.name] = post.extra.get(post_field.name)
        form.update(values)
        response = await self.submit_form(path, _form_data(form))
        if response.status == 303:
            location = response.headers.get("Location", "")
            match = re.search(r"/admin/posts/(\d+)/edit", location)
            saved = await self.site.storage.get_post(int(match.group(1))) if match else None
            return PostFormResult(status=303, post=saved)
        html = await response.text()
        return PostFormResult(status=response.status, html=html, errors=form_errors(html))

    async def create_post(self, **values: Any) -> Post:
        """Create a post through the admin form (sign in first) and return it as stored."""
        result = await self.submit_post(**values)
        if result.post is None:
            raise AssertionError(f"the post was not saved ({result.status}): {result.errors}")
        return result.post

    async def edit_post(self, post_id: int, **values: Any) -> Post:
        """Change a post through its admin edit form and return it as stored."""
        result = await self.submit_post(post_id, **values)
        if result.post is None:
            raise AssertionError(f"the post was not saved ({result.status}): {result.errors}")
        return result.post


def sample_value(post_field: PostField) -> Any:
    """A value that passes ``post_field``'s rules: for tests that fill in every field."""
    if post_field.choices is not None:
        return post_field.choice_pairs[0][0]
    if post_field.type in (str, Text):
        text = "Sample text" if post_field.type is Text else "Sample"
        return text[: post_field.max_length] if post_field.max_length else text
    if post_field.type is bool:
        return True
    if post_field.type is datetime:
        return datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    number: float = 1 if post_field.type is int else 1.5
    if post_field.min is not None:
        number = max(number, post_field.min)
    if post_field.max is not None:
        number = min(number, post_field.max)
    return int(number) if post_field.type is int else float(number)


def _form_data(values: Mapping[str, Any]) -> dict[str, str]:
    """Python values as a browser sends them (an unchecked box sends nothing)."""
    data: dict[str, str] = {}
    for name, value in values.items():
        if value is False:
            continue
        if value is None:
            data[name] = ""
        elif value is True:
            data[name] = "on"
        elif isinstance(value, datetime):
            moment = value.astimezone(UTC) if value.tzinfo else value
            data[name] = moment.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            data[name] = str(value)
    return data


def _plugin_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__.rpartition(".")[2]
    return type(plugin).__name__.lower()
