"""A plugin implementing every hook, recording how it was called.

Some implementations are ``async def`` on purpose: cms must await them.
"""

from __future__ import annotations

from typing import Any

import click
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from cms import PostField, hookimpl
from cms.contracts import (
    ImageHandlerBackend,
    MediaStoreBackend,
    SessionStoreBackend,
    StorageBackend,
)


class HelloView(web.View):
    async def get(self) -> web.Response:
        return web.Response(text="hello from a plugin")


class RecordedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = "recorded.db"


class RecordingImageHandler:
    """Records its life cycle; the core checks it implements ImageHandler, so it does."""

    name = "recording"
    max_bytes = 1024

    def __init__(self, options: RecordedOptions, site: Any) -> None:
        self.events: list[str] = []
        self.store: Any = None

    async def ingest(self, source_path: Any, original_name: str) -> Any:
        raise NotImplementedError

    async def rebuild(self, media: Any) -> Any:
        raise NotImplementedError

    async def open(self) -> None:
        self.events.append("open")

    async def close(self) -> None:
        self.events.append("close")


class EveryHook:
    """Register an instance: ``make_client(plugins=[("every_hook", EveryHook())])``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def called(self, hook: str) -> list[dict[str, Any]]:
        return [arguments for name, arguments in self.calls if name == hook]

    @hookimpl
    async def startup(self, cms: Any) -> None:
        self.calls.append(("startup", {"cms": cms}))

    @hookimpl
    def prepare_app(self, app: web.Application, cms: Any) -> None:
        self.calls.append(("prepare_app", {"app": app, "cms": cms}))

    @hookimpl
    def prepare_jinja2_environment(self, env: Any, cms: Any) -> None:
        self.calls.append(("prepare_jinja2_environment", {"env": env, "cms": cms}))
        env.filters["shout"] = lambda value: str(value).upper() + "!"

    @hookimpl
    def register_routes(self, cms: Any) -> list[web.RouteDef]:
        self.calls.append(("register_routes", {"cms": cms}))
        return [web.view("/every-hook/hello", HelloView, name="every-hook-hello")]

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        self.calls.append(("register_commands", {"cli": cli}))

        @cli.command("every-hook")
        def every_hook_command() -> None:
            """A command a plugin added."""
            click.echo("every hook says hi")

    @hookimpl
    def register_storage_backends(self) -> list[StorageBackend]:
        self.calls.append(("register_storage_backends", {}))

        def create(options: RecordedOptions, site: Any) -> Any:
            from cms.plugins.sql_storage import SqlStorage

            self.calls.append(("create_storage", {"options": options}))
            return SqlStorage.sqlite(site.settings.resolve_path(options.path), fields=site.fields)

        return [StorageBackend("recorded-sqlite", RecordedOptions, create)]

    @hookimpl
    async def register_session_stores(self) -> list[SessionStoreBackend]:
        self.calls.append(("register_session_stores", {}))

        class Options(BaseModel):
            model_config = ConfigDict(extra="forbid")

        def create(options: Options, site: Any) -> Any:
            from cms.plugins.cookie_sessions import CookieSessionsOptions, CookieSessionStore

            store = CookieSessionStore(CookieSessionsOptions(cookie_name="recorded"), site)
            store.name = "recorded-cookie"
            return store

        return [SessionStoreBackend("recorded-cookie", Options, create)]

    @hookimpl
    def register_image_handlers(self) -> list[ImageHandlerBackend]:
        self.calls.append(("register_image_handlers", {}))
        return [ImageHandlerBackend("recording", RecordedOptions, RecordingImageHandler)]

    @hookimpl
    def register_media_stores(self) -> list[MediaStoreBackend]:
        self.calls.append(("register_media_stores", {}))

        def create(options: RecordedOptions, site: Any) -> Any:
            from cms.plugins.local_media import LocalMediaStore

            store = LocalMediaStore(site.settings.resolve_path("recorded-media"))
            store.name = "recorded-local"
            return store

        return [MediaStoreBackend("recorded-local", RecordedOptions, create)]

    @hookimpl
    def register_post_fields(self, cms: Any) -> list[PostField]:
        self.calls.append(("register_post_fields", {"cms": cms}))
        return [PostField("mood", str, label="Mood", max_length=20)]

    @hookimpl
    async def extra_template_vars(
        self, template: str, context: dict[str, Any], request: web.Request, cms: Any
    ) -> dict[str, Any]:
        self.calls.append(
            (
                "extra_template_vars",
                {"template": template, "context": context, "request": request, "cms": cms},
            )
        )
        return {"every_hook_banner": f"banner for {template}"}

    @hookimpl
    def prepare_post(self, post: dict[str, Any], request: Any, cms: Any) -> None:
        self.calls.append(("prepare_post", {"post": dict(post), "request": request, "cms": cms}))
        if not post.get("mood"):
            post["mood"] = "calm"

    @hookimpl
    async def render_post_body(self, body: str, post: dict[str, Any], cms: Any) -> str | None:
        self.calls.append(("render_post_body", {"body": body, "post": post, "cms": cms}))
        if body.startswith("!plain "):
            return f"<p class=plain>{body[7:]}</p><script>alert(1)</script>"
        return None

    @hookimpl
    def handle_exception(
        self, request: web.Request, exception: BaseException, cms: Any
    ) -> web.Response | None:
        self.calls.append(
            ("handle_exception", {"request": request, "exception": exception, "cms": cms})
        )
        if request.path == "/every-hook/missing":
            return web.Response(status=404, text="every hook's own not-found page")
        return None

    @hookimpl
    async def post_saved(self, post: Any, created: bool, cms: Any) -> None:
        self.calls.append(("post_saved", {"post": post, "created": created, "cms": cms}))

    @hookimpl
    def post_deleted(self, post: Any, cms: Any) -> None:
        self.calls.append(("post_deleted", {"post": post, "cms": cms}))
