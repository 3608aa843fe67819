"""The running site: settings, plugins, the chosen backends, fields and theme.

Hooks receive it as ``cms``. There is one per application, reached through
``app[SITE_KEY]``; nothing here is global.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from cms.contracts import Backend, ImageHandler, MediaStore, SessionStore, Storage
from cms.contracts.fields import ADOPTED_FIELDS, CORE_FIELD_NAMES, PostField, build_post_model
from cms.core import hookspecs
from cms.core.passwords import Passwords
from cms.core.plugin_host import PluginError, PluginHost
from cms.core.secret_key import load_secret_key
from cms.core.settings import (
    NO_IMAGES,
    BackendSection,
    Settings,
    SettingsError,
    describe_validation_error,
)
from cms.core.theming import Theme, load_theme

__all__ = ["Site"]


T = TypeVar("T")
log = logging.getLogger("cms")

#: Addresses of the site itself and those planned for it (feeds, search, sitemap): a page
#: at one of them would never be reached, or would stop being reached by a later release.
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "login",
        "logout",
        "setup",
        "static",
        "media",
        "posts",
        "tags",
        "tag",
        "authors",
        "author",
        "search",
        "feed",
        "feeds",
        "rss",
        "atom",
        "sitemap",
        "sitemap-xml",
        "robots-txt",
        "healthz",
        "favicon-ico",
    }
)

#: The hook through which plugins offer the backends of each settings section, and the
#: protocol what they make must implement.
_BACKEND_HOOKS: dict[str, tuple[str, type]] = {
    "storage": ("register_storage_backends", Storage),
    "sessions": ("register_session_stores", SessionStore),
    "images": ("register_image_handlers", ImageHandler),
    "media": ("register_media_stores", MediaStore),
}


@dataclass(frozen=True)
class Offered(Generic[T]):
    """A backend and the plugin that offers it."""

    plugin: str
    backend: Backend[T]


@dataclass(frozen=True)
class Chosen(Offered[T]):
    """The backend settings name, with its options validated."""

    options: BaseModel


class Site:
    """One cms site. ``configure()`` resolves everything settings name, before serving."""

    def __init__(
        self,
        settings: Settings,
        *,
        plugins: PluginHost | None = None,
        theme: str | None = None,
        extra_plugins: Iterable[tuple[str, object]] = (),
    ) -> None:
        self.settings = settings
        self.plugins = plugins or PluginHost.load(
            disabled=settings.plugins.disabled,
            plugins_dir=settings.resolve_path(settings.plugins.dir)
            if settings.plugins.dir
            else None,
            extra=extra_plugins,
        )
        self.theme_name = theme or settings.site.theme
        self.fields: list[PostField] = []
        self.routes: list[web.AbstractRouteDef] = []
        #: Slugs a page may not take: the first segment of every address the site answers
        #: at (the application adds those of every registered route, plugins' too).
        self.reserved_slugs: frozenset[str] = RESERVED_SLUGS
        self._storage: Storage | None = None
        self._sessions: SessionStore | None = None
        self.images: ImageHandler | None = None
        #: Where the media library's files live (``[media]``); None without images.
        self.media: MediaStore | None = None
        self._theme: Theme | None = None
        self.post_model: type[BaseModel] = build_post_model([])
        self.post_patch_model: type[BaseModel] = build_post_model([], partial=True)
        self._secret_key: bytes | None = None
        config = settings.passwords
        #: This site's password hasher (``[passwords]``).
        self.passwords = Passwords(
            time_cost=config.time_cost,
            memory_cost=config.memory_cost,
            parallelism=config.parallelism,
        )
        self.configured = False
        self._set_up = False

    # Resolved parts; reading one before configure() is a programming error.
    @property
    def storage(self) -> Storage:
        if self._storage is None:
            raise RuntimeError("Site.configure() has not run")
        return self._storage

    @property
    def sessions(self) -> SessionStore:
        if self._sessions is None:
            raise RuntimeError("Site.configure() has not run")
        return self._sessions

    @property
    def theme(self) -> Theme:
        if self._theme is None:
            raise RuntimeError("Site.configure() has not run")
        return self._theme

    @property
    def secret_key(self) -> bytes:
        """32 bytes from ``CMS_SECRET_KEY`` or the site's generated key file."""
        if self._secret_key is None:
            self._secret_key = load_secret_key(self.settings.base_dir)
        return self._secret_key

    @property
    def posts_per_page(self) -> int:
        configured = self.settings.site.posts_per_page
        if configured is not None:
            return configured
        value = self.theme.settings.get("posts_per_page", 10)
        return value if isinstance(value, int) and 0 < value <= 200 else 10

    async def is_set_up(self) -> bool:
        """Whether the first user exists. Once true it stays true, so it is asked of
        storage only until then (every worker learns it on its own)."""
        if not self._set_up:
            self._set_up = await self.storage.count_users() > 0
        return self._set_up

    def plugin_options(self, plugin: str) -> dict[str, Any]:
        """The ``[plugins.<name>]`` table for one plugin."""
        return self.settings.plugins.options_for(plugin)

    async def configure(self) -> None:
        """Resolve backends, theme, fields and routes; raise SettingsError or PluginError."""
        if self.configured:
            return
        self._check_plugin_names()
        self._theme = load_theme(
            self.theme_name,
            self.settings.base_dir,
            key="--theme" if self.theme_name != self.settings.site.theme else "[site] theme",
        )
        offered_storage: dict[str, Offered[Storage]] = await self._offered("storage")
        offered_sessions: dict[str, Offered[SessionStore]] = await self._offered("sessions")
        storage = self._choose("storage", self.settings.storage, offered_storage)
        sessions = self._choose("sessions", self.settings.sessions, offered_sessions)
        # No media library with [images] backend = "none", nor when [images] is left to
        # its default and no plugin offers an image backend (pillow_images disabled).
        image_handler = media = None
        images = self.settings.images
        if images is not None and images.backend != NO_IMAGES:
            offered: dict[str, Offered[ImageHandler]] = await self._offered("images")
            if offered or "images" in self.settings.model_fields_set:
                image_handler = self._choose("images", images, offered, off=NO_IMAGES)
                media = self._choose("media", self.settings.media, await self._offered("media"))
        self.fields = await self._collect_fields()
        self.post_model = build_post_model(self.fields)
        self.post_patch_model = build_post_model(self.fields, partial=True)
        self._storage = self._create("storage", storage)
        self._sessions = self._create("sessions", sessions)
        if image_handler is not None and media is not None:
            # The image handler writes through the media store: it is made first.
            self.media = self._create("media", media)
            self.images = self._create("images", image_handler)
        self.routes = await self._collect_routes()
        self.configured = True

    async def media_target(self, name: str) -> MediaStore:
        """The media store ``[media.targets.<name>]`` describes (``cms media migrate --to
        name``); SettingsError when there is no such table or its options are wrong."""
        target = self.settings.media.targets.get(name)
        if target is None:
            known = ", ".join(sorted(self.settings.media.targets)) or "(none)"
            raise SettingsError(
                f"[media.targets.{name}]: no such table in settings; defined: {known}"
            )
        config = BackendSection(backend=target.backend or name, options=target.options)
        offered: dict[str, Offered[MediaStore]] = await self._offered("media")
        chosen = self._choose(f"media.targets.{name}", config, offered)
        return self._create("media", chosen)

    def _check_plugin_names(self) -> None:
        """``[plugins] disabled`` and ``[plugins.<name>]`` must name plugins that exist: a
        typo would otherwise silently leave a plugin running or unconfigured."""
        section = self.settings.plugins
        known = self.plugins.known
        listing = ", ".join(sorted(known))
        for name in section.disabled:
            if name not in known:
                raise SettingsError(
                    f"[plugins] disabled: {name!r} is not an installed plugin; known: {listing}"
                )
        for name in sorted(section.model_extra or {}):
            if name not in known:
                raise SettingsError(
                    f"[plugins.{name}]: no plugin named {name!r} is installed; known: {listing}"
                )

    async def _offered(self, section: str) -> dict[str, Offered[Any]]:
        """The backends plugins offer for ``section`` (through its hook), by name."""
        offered: dict[str, Offered[Any]] = {}
        for plugin, backends in await self.plugins.call_named(_BACKEND_HOOKS[section][0]):
            for backend in backends:
                if not isinstance(backend, Backend):
                    raise PluginError(
                        plugin,
                        f"offers a {section} backend that is not a cms.contracts.Backend: "
                        f"{backend!r}",
                    )
                if backend.name in offered:
                    other = offered[backend.name].plugin
                    raise PluginError(
                        plugin,
                        f"offers {section} backend {backend.name!r}, as plugin {other!r} does",
                    )
                offered[backend.name] = Offered(plugin, backend)
        return offered

    def _choose(
        self,
        section: str,
        config: BackendSection,
        offered: dict[str, Offered[T]],
        *,
        off: str | None = None,
    ) -> Chosen[T]:
        """The backend ``config`` names and its validated options; ``off`` is the name that
        turns the section off, listed among what is allowed."""
        if config.backend not in offered:
            names = sorted(offered) + ([off] if off else [])
            allowed = ", ".join(names) or "(none: no plugin offers one)"
            raise SettingsError(
                f"[{section}] backend = {config.backend!r}: unknown {section} backend; "
                f"allowed: {allowed}"
            )
        chosen = offered[config.backend]
        try:
            options = chosen.backend.options.model_validate(config.options)
        except ValidationError as error:
            raise SettingsError(
                describe_validation_error(
                    error,
                    chosen.backend.options,
                    prefix=f"[{section}] options ({config.backend}):",
                )
            ) from None
        return Chosen(chosen.plugin, chosen.backend, options)

    def _create(self, section: str, chosen: Chosen[T]) -> T:
        """Make the chosen backend, and check it is what the core will use it as."""
        made = chosen.backend.create(chosen.options, self)
        kind = _BACKEND_HOOKS[section][1]
        if not isinstance(made, kind):
            raise PluginError(
                chosen.plugin,
                f"{section} backend {chosen.backend.name!r} made a {type(made).__name__}, "
                f"which does not implement {kind.__name__}",
            )
        return made

    async def _collect_fields(self) -> list[PostField]:
        owners: dict[str, str] = {}
        fields: list[PostField] = []
        for plugin, declared in await self.plugins.call_named(
            hookspecs.register_post_fields, cms=self
        ):
            for post_field in declared:
                if not isinstance(post_field, PostField):
                    raise PluginError(plugin, f"returned {post_field!r} from register_post_fields")
                if post_field.name in ADOPTED_FIELDS and post_field.type is bool:
                    # The 0.1 scaffold suggested PostField("featured", bool): the core has
                    # it since 0.3, in the very column the plugin's values are in.
                    log.warning(
                        "plugin %r declares post field %r, which cms provides itself since "
                        "0.3: the core field is used (same column, values kept); remove it "
                        "from the plugin",
                        plugin,
                        post_field.name,
                    )
                    continue
                if post_field.name in CORE_FIELD_NAMES:
                    raise PluginError(
                        plugin,
                        f"declares post field {post_field.name!r}, which clashes with "
                        f"the core field of that name (plugin 'cms')",
                    )
                if post_field.name in owners:
                    raise PluginError(
                        plugin,
                        f"declares post field {post_field.name!r}, which plugin "
                        f"{owners[post_field.name]!r} declares too",
                    )
                owners[post_field.name] = plugin
                # A copy that names its plugin: the plugin's own object may be shared by
                # other sites of this process, each with its own name for the plugin.
                fields.append(dataclasses.replace(post_field, plugin=plugin))
        return fields

    async def _collect_routes(self) -> list[web.AbstractRouteDef]:
        routes: list[web.AbstractRouteDef] = []
        names: set[str] = set()
        for definitions in await self.plugins.call(hookspecs.register_routes, cms=self):
            for definition in definitions:
                name = getattr(definition, "kwargs", {}).get("name")
                if name is not None:
                    if name in names:
                        continue  # an earlier (higher-priority) plugin took this name
                    names.add(name)
                routes.append(definition)
        return routes
