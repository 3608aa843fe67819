"""Site settings: ``settings.toml`` plus ``CMS_SECTION__KEY`` environment overrides.

Every problem becomes a :class:`SettingsError` whose message is one line naming the
key, the value and what is allowed, so ``cms serve`` can stop with it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from cms.core.settings_sections import (
    NO_IMAGES,
    BackendSection,
    ImagesSection,
    LoginSection,
    MediaSection,
    MediaTarget,
    PasswordsSection,
    RevisionsSection,
    Section,
    SessionsSection,
    StorageSection,
    TrashSection,
)

__all__ = [
    "NO_IMAGES",
    "BackendSection",
    "ImagesSection",
    "LoginSection",
    "MediaSection",
    "MediaTarget",
    "PasswordsSection",
    "RevisionsSection",
    "SessionsSection",
    "Settings",
    "SettingsError",
    "StorageSection",
    "TrashSection",
    "describe_validation_error",
    "load_settings",
    "plugin_settings",
]


DEFAULT_SETTINGS_FILE = "settings.toml"


class SettingsError(Exception):
    """Settings that cannot be used; the message is one line for the person running cms."""


class SiteSection(Section):
    title: str = Field("My site", min_length=1, max_length=200)
    #: What the site is about, in a sentence: the home page's meta description.
    description: str = Field("", max_length=300)
    theme: str = Field("default", min_length=1)
    base_url: str = "http://127.0.0.1:8080"
    posts_per_page: int | None = Field(None, ge=1, le=200)
    #: The IANA time zone people write times in (the admin's schedule input, times without
    #: an offset in the API) and pages show them in.
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "must be an IANA time zone name, like UTC, Europe/Paris or America/New_York"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or "//" not in value[:9]:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/")


_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ServerSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    #: Processes serving the port (``cms serve --workers N`` overrides it).
    workers: int = Field(1, ge=1, le=256)
    #: Rendered public pages kept per process, in MiB (cms.web.page_cache); 0 turns it off.
    page_cache_mb: int = Field(32, ge=0, le=65536)
    #: Seconds the requests in flight get to finish after SIGTERM or Ctrl+C.
    shutdown_timeout: float = Field(30.0, gt=0, le=3600, allow_inf_nan=False)
    #: Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed
    #: (cms.web.visitor): IP addresses and networks; empty: nobody's. NoDecode: an
    #: environment value reaches the validator as it is (a JSON list, or comma-separated).
    trusted_proxies: Annotated[tuple[_IPNetwork, ...], NoDecode] = ()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _ip_networks(cls, value: Any) -> tuple[_IPNetwork, ...]:
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else text.replace(",", " ").split()
            except ValueError:
                raise ValueError(f"is not a JSON list; {_ALLOWED_PROXIES}") from None
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a list; {_ALLOWED_PROXIES}")
        return tuple(_ip_network(entry) for entry in value)


_ALLOWED_PROXIES = (
    'allowed: IP addresses and CIDR networks, e.g. ["127.0.0.1", "10.0.0.0/8", "::1"]'
)


def _ip_network(entry: object) -> _IPNetwork:
    """One ``trusted_proxies`` entry; a network with host bits set is refused, since it
    may stand for the one address as much as for the network."""
    text = entry.strip() if isinstance(entry, str) else ""
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        meant = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is not an IP address or network; {_ALLOWED_PROXIES}") from None
    address = text.split("/", 1)[0]
    raise ValueError(f"{entry!r} has host bits set; allowed: the network '{meant}' or '{address}'")


class PluginsSection(BaseModel):
    """``[plugins]``: ``dir`` for site-local plugin modules, ``disabled`` names, and
    one ``[plugins.<name>]`` table per plugin for that plugin's own settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    dir: str | None = None
    disabled: list[str] = Field(default_factory=list)

    def options_for(self, plugin: str) -> dict[str, Any]:
        """The ``[plugins.<name>]`` table of one plugin (empty when absent)."""
        extra = self.model_extra or {}
        value = extra.get(plugin, {})
        return dict(value) if isinstance(value, dict) else {}


class Settings(BaseSettings):
    """Everything ``settings.toml`` can say. Unknown keys are errors."""

    model_config = SettingsConfigDict(
        env_prefix="CMS_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    site: SiteSection = SiteSection()
    server: ServerSection = ServerSection()
    storage: StorageSection = StorageSection()
    sessions: SessionsSection = SessionsSection()
    login: LoginSection = LoginSection()
    passwords: PasswordsSection = PasswordsSection()
    # Images on by default (the built-in Pillow plugin); None only for sites built in code.
    images: ImagesSection | None = ImagesSection()
    media: MediaSection = MediaSection()
    revisions: RevisionsSection = RevisionsSection()
    trash: TrashSection = TrashSection()
    plugins: PluginsSection = PluginsSection()

    # Where the settings came from; relative paths in options are relative to ``base_dir``.
    path: Path | None = Field(default=None, exclude=True)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings layers file < environment < command line itself and passes the
        # result as init values, so a command-line flag wins over the environment.
        return (init_settings,)

    def resolve_path(self, value: str | Path) -> Path:
        """A path from settings, relative to the settings file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def _environment_problem(error: Exception) -> str:
    """One line for an environment variable pydantic-settings could not parse (a list or
    table value that is not JSON)."""
    match = re.search(r'field "([^"]+)"', str(error))
    section = match.group(1).upper() if match else ""
    names = sorted(
        name for name in os.environ if name.upper().startswith(f"CMS_{section}__") and section
    )
    where = ", ".join(names) if names else "a CMS_<SECTION>__<KEY> variable"
    return (
        f"environment: {where}: cannot be read; list and table values must be JSON, "
        """e.g. CMS_PLUGINS__DISABLED='["name"]'"""
    )


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from ``path`` (default ``$CMS_SETTINGS`` or ``./settings.toml``).

    A missing default file means "all defaults"; a missing file that was asked for
    by name is an error. ``CMS_SECTION__KEY`` environment variables win over the file,
    and ``overrides`` (section dicts from command-line flags; None means "not given")
    win over both.
    """
    explicit = path is not None or "CMS_SETTINGS" in os.environ
    settings_path = Path(path or os.environ.get("CMS_SETTINGS") or DEFAULT_SETTINGS_FILE)
    data: dict[str, Any] = {}
    if settings_path.exists():
        try:
            data = tomllib.loads(settings_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"{settings_path}: not valid TOML: {error}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise SettingsError(f"{settings_path}: cannot be read: {error}") from None
    elif explicit:
        raise SettingsError(f"{settings_path}: no such settings file (run `cms init` to make one)")
    try:
        environment = EnvSettingsSource(Settings)()
    except PydanticSettingsError as error:
        raise SettingsError(_environment_problem(error)) from None
    for internal in ("path", "base_dir"):  # not settings: CMS_PATH means nothing to cms
        environment.pop(internal, None)
    data = _deep_merge(data, environment)
    for section, values in overrides.items():
        given = {key: value for key, value in values.items() if value is not None}
        current = data.get(section)
        if given and (current is None or isinstance(current, dict)):
            data[section] = {**(current or {}), **given}
    for reserved in ("path", "base_dir"):
        if reserved in data:
            raise SettingsError(
                f"{settings_path}: unknown key {reserved!r}; allowed sections: "
                + ", ".join(_section_names())
            )
    base_dir = settings_path.resolve().parent
    try:
        return Settings(**data, path=settings_path, base_dir=base_dir)
    except ValidationError as error:
        raise SettingsError(f"{settings_path}: {describe_validation_error(error)}") from None


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` on top; tables are merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _section_names() -> list[str]:
    return [name for name in Settings.model_fields if name not in ("path", "base_dir")]


def _format_key(loc: tuple[int | str, ...], prefix: str | None = None) -> str:
    if prefix is not None:
        return f"{prefix} {'.'.join(str(part) for part in loc)}".rstrip()
    if not loc:
        return "(top level)"
    section, *rest = (str(part) for part in loc)
    return f"[{section}] {'.'.join(rest)}" if rest else f"[{section}]"


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        field = current.model_fields.get(str(part)) if current is not None else None
        if field is None:
            return []
        annotation = field.annotation
        candidates = getattr(annotation, "__args__", (annotation,))
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return []
    if current is None:
        return []
    # ``path`` and ``base_dir`` are internal to Settings only; a backend's options may use them.
    hidden = ("path", "base_dir") if current is Settings else ()
    return [name for name in current.model_fields if name not in hidden]


def describe_validation_error(
    error: ValidationError, model: type[BaseModel] = Settings, *, prefix: str | None = None
) -> str:
    """One line for the first problem in ``error``: key, value, and what is allowed.

    Keys are ``[section] key`` for the settings file itself; a model that validates one
    table (a backend's options, a plugin's settings) names it with ``prefix``.
    """
    first = error.errors(include_url=False)[0]
    loc = tuple(first["loc"])
    key = _format_key(loc, prefix)
    value = first.get("input")
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        return f"{key}{shown}: unknown key{hint}"
    message = str(first["msg"])
    if first["type"] in ("model_type", "dict_type"):
        message = "must be a table ([section] or { key = value })"
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    shown = "" if isinstance(value, dict) else f" = {value!r}"
    extra = "" if error.error_count() == 1 else f" (and {error.error_count() - 1} more)"
    return f"{key}{shown}: {message}{extra}"


PluginModel = TypeVar("PluginModel", bound=BaseModel)


def plugin_settings(cms: Any, plugin: str, model: type[PluginModel]) -> PluginModel:
    """A plugin's own settings: the ``[plugins.<plugin>]`` table validated by ``model``.

    ``cms`` is the running site (or its :class:`Settings`). A table that breaks the model
    raises :class:`SettingsError` with one line naming the key, e.g.
    ``[plugins.seo] max_length = 9: Input should be greater than or equal to 50``.
    """
    settings: Settings = cms if isinstance(cms, Settings) else cms.settings
    try:
        return model.model_validate(settings.plugins.options_for(plugin))
    except ValidationError as error:
        detail = describe_validation_error(error, model, prefix=f"[plugins.{plugin}]")
        raise SettingsError(detail) from None
