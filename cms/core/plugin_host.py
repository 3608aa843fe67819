"""The plugin host: one pluggy manager per site, and calls that await every result."""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, ParamSpec, overload

import pluggy
from aiohttp import web

from cms.contracts import DependencyUnavailable
from cms.core import hookspecs
from cms.core.settings import SettingsError

__all__ = ["DEFAULT_PLUGINS", "HookCallError", "LoadedPlugin", "PluginError", "PluginHost"]

P = ParamSpec("P")
#: A hook named by its specification function (typed calls) or by its name.
HookRef = Callable[..., object] | str

#: Modules inside cms that implement its own behaviour through the same hooks.
#: Keyed by the names ``cms plugins`` shows and ``[plugins] disabled`` takes (those of cms 0.1,
#: when these modules stood at the top of the package).
DEFAULT_PLUGINS = {
    "cms.default_plugin": "cms.web.default_plugin",
    "cms.field_templates": "cms.web.field_templates",
    "cms.api": "cms.web.api",
    "cms.media": "cms.web.images",
}
ENTRY_POINT_GROUP = "cms"
SITE_PLUGIN_PACKAGE = "cms_site_plugins"


class PluginError(Exception):
    """A plugin failed to load or raised in a hook; the message names the plugin."""

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"plugin {plugin!r} {message}")
        self.plugin = plugin


@dataclass
class LoadedPlugin:
    """What ``cms plugins`` shows about one registered plugin."""

    name: str
    module: ModuleType
    source: str
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    templates_dir: Path | None = None


class PluginHost:
    """Loads plugins and calls their hooks.

    Order of loading: entry points of group ``cms`` (built-ins and third-party), then
    ``*.py`` modules from the site's plugins folder, then cms's own default plugin,
    whose implementations are ``trylast`` so any plugin can override them.
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("cms")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        #: Every plugin name this site could load, disabled ones included.
        self.known: set[str] = set()
        # implements() by hook name; hot paths ask on every request. Plugins change only
        # while the host is loaded (register() clears it).
        self._implemented: dict[str, bool] = {}

    @classmethod
    def load(
        cls,
        *,
        disabled: Iterable[str] = (),
        plugins_dir: Path | None = None,
        extra: Iterable[tuple[str, object]] = (),
        entry_point_plugins: bool = True,
    ) -> PluginHost:
        """Build a host with every plugin the site should run.

        ``extra`` registers more plugin objects by name (tests, ``cms.testing``).
        """
        host = cls()
        blocked = set(disabled)
        for name in blocked:
            host.pm.set_blocked(name)
        if entry_point_plugins:
            for entry_point in entry_points(group=ENTRY_POINT_GROUP):
                host.known.add(entry_point.name)
                if entry_point.name in blocked:
                    continue
                try:
                    module = entry_point.load()
                except Exception as error:
                    raise PluginError(
                        entry_point.name,
                        f"({entry_point.value}) failed to import: {type(error).__name__}: {error}",
                    ) from error
                dist = entry_point.dist
                host.register(
                    module,
                    entry_point.name,
                    source=f"package {dist.name}" if dist else "entry point",
                    version=dist.version if dist else "",
                )
        if plugins_dir is not None and plugins_dir.is_dir():
            for path in sorted(plugins_dir.glob("*.py")):
                host.known.add(path.stem)
                if path.stem.startswith("_") or path.stem in blocked:
                    continue
                module = _import_site_module(path)
                host.register(module, path.stem, source=f"site {path}")
        for name, plugin in extra:
            host.known.add(name)
            if name not in blocked:
                host.register(plugin, name, source="registered in code")
        for name, module_name in DEFAULT_PLUGINS.items():
            host.known.add(name)
            if name not in blocked:
                host.register(importlib.import_module(module_name), name, source="cms")
        try:
            host.pm.check_pending()
        except pluggy.PluginValidationError as error:
            raise PluginError(str(error.plugin), f"implements an unknown hook: {error}") from None
        return host

    def register(self, plugin: object, name: str, *, source: str, version: str = "") -> None:
        """Register one plugin object (usually a module) under ``name``."""
        self._implemented.clear()
        if name in self.plugins:
            raise PluginError(name, f"is registered twice ({self.plugins[name].source}, {source})")
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as error:
            raise PluginError(name, f"cannot be registered: {error}") from None
        hooks = sorted(impl_name for impl_name in _hook_names(self.pm, plugin))
        for hook_name in hooks:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                    raise PluginError(
                        name, f"uses a hook wrapper on {hook_name}; cms needs plain hooks"
                    )
        module_file = getattr(plugin, "__file__", None)
        templates = Path(module_file).parent / "templates" if module_file else None
        if templates is not None and not (
            templates.is_dir() and Path(module_file or "").name == "__init__.py"
        ):
            templates = None
        self.plugins[name] = LoadedPlugin(
            name=name,
            module=plugin if isinstance(plugin, ModuleType) else ModuleType(name),
            source=source,
            version=version or str(getattr(plugin, "__version__", "")),
            hooks=hooks,
            templates_dir=templates,
        )

    def _impls(self, hook_name: str) -> list[Any]:
        # pluggy calls the last registered first, with tryfirst/trylast applied: keep that order.
        return list(reversed(getattr(self.pm.hook, hook_name).get_hookimpls()))

    @overload
    async def call_named(
        self, hook: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs
    ) -> list[tuple[str, Any]]: ...

    @overload
    async def call_named(self, hook: str, /, **kwargs: Any) -> list[tuple[str, Any]]: ...

    async def call_named(
        self, hook: HookRef, /, *args: Any, **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """Call every implementation, awaiting async ones; return ``(plugin, result)`` pairs
        for the results that are not None."""
        hook_name = _checked(hook, args, kwargs)
        results: list[tuple[str, Any]] = []
        for impl in self._impls(hook_name):
            result = await _invoke(impl, hook_name, kwargs)
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    @overload
    async def call(
        self, hook: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs
    ) -> list[Any]: ...

    @overload
    async def call(self, hook: str, /, **kwargs: Any) -> list[Any]: ...

    async def call(self, hook: HookRef, /, *args: Any, **kwargs: Any) -> list[Any]:
        """Call every implementation and return the results that are not None.

        ``hook`` is the spec function (``hookspecs.post_saved``: mypy then checks the
        arguments) or, for code written before, its name.
        """
        return [result for _, result in await self.call_named(hook, *args, **kwargs)]

    @overload
    async def tell(
        self, hook: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs
    ) -> list[PluginError]: ...

    @overload
    async def tell(self, hook: str, /, **kwargs: Any) -> list[PluginError]: ...

    async def tell(self, hook: HookRef, /, *args: Any, **kwargs: Any) -> list[PluginError]:
        """Call every implementation of an event hook, each whatever the others did: one
        plugin that fails does not keep the event from the rest. Return the failures."""
        hook_name = _checked(hook, args, kwargs)
        failures: list[PluginError] = []
        for impl in self._impls(hook_name):
            try:
                await _invoke(impl, hook_name, kwargs)
            except PluginError as error:
                failures.append(error)
        return failures

    @overload
    async def first(
        self, hook: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs
    ) -> Any: ...

    @overload
    async def first(self, hook: str, /, **kwargs: Any) -> Any: ...

    async def first(self, hook: HookRef, /, *args: Any, **kwargs: Any) -> Any:
        """Call implementations in order until one returns something other than None."""
        hook_name = _checked(hook, args, kwargs)
        for impl in self._impls(hook_name):
            result = await _invoke(impl, hook_name, kwargs)
            if result is not None:
                return result
        return None

    @overload
    async def chain(
        self, hook: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs
    ) -> Any: ...

    @overload
    async def chain(self, hook: str, /, **kwargs: Any) -> Any: ...

    async def chain(self, hook: HookRef, /, *args: Any, **kwargs: Any) -> Any:
        """Pass the hook's first argument through every implementation in order: each gets
        what the one before returned (None keeps it as it was); return the last value."""
        hook_name = _checked(hook, args, kwargs)
        first = next(iter(_spec_parameters(hook_name)))
        for impl in self._impls(hook_name):
            result = await _invoke(impl, hook_name, kwargs)
            if result is not None:
                kwargs[first] = result
        return kwargs[first]

    @overload
    def call_sync(
        self, hook: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs
    ) -> list[Any]: ...

    @overload
    def call_sync(self, hook: str, /, **kwargs: Any) -> list[Any]: ...

    def call_sync(self, hook: HookRef, /, *args: Any, **kwargs: Any) -> list[Any]:
        """Call a hook that must be synchronous (``register_commands``)."""
        hook_name = _checked(hook, args, kwargs)
        results: list[Any] = []
        for impl in self._impls(hook_name):
            result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise PluginError(impl.plugin_name, f"must implement {hook_name} without async")
            if result is not None:
                results.append(result)
        return results

    def implementers(self, hook: HookRef) -> list[str]:
        """The names of the plugins that implement ``hook`` (as ``cms plugins`` shows them)."""
        name = hook if isinstance(hook, str) else hook.__name__
        return [impl.plugin_name for impl in self._impls(name)]

    def implements(self, hook: HookRef) -> bool:
        """Whether any plugin implements ``hook`` (lets hot paths skip empty hooks)."""
        name = hook if isinstance(hook, str) else hook.__name__
        known = self._implemented.get(name)
        if known is None:
            known = self._implemented[name] = bool(getattr(self.pm.hook, name).get_hookimpls())
        return known


class HookCallError(TypeError):
    """The core (or a caller of ``PluginHost.call``) called a hook with arguments its
    specification does not have: a mistake of the caller, never of a plugin."""


@functools.cache
def _spec_parameters(hook_name: str) -> tuple[str, ...]:
    spec = getattr(hookspecs, hook_name, None)
    if spec is None or not hasattr(spec, "cms_spec"):
        raise HookCallError(f"cms core called hook {hook_name!r}, which is not a cms hook")
    return tuple(inspect.signature(spec).parameters)


@functools.cache
def _spec_names(hook_name: str) -> frozenset[str]:
    return frozenset(_spec_parameters(hook_name))


def _checked(hook: HookRef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The hook's name, once the call's arguments are exactly those of its specification
    (checked before any plugin runs, so a mistake names the caller, not a plugin)."""
    name = hook if isinstance(hook, str) else hook.__name__
    if args or kwargs.keys() != _spec_names(name):
        expected = _spec_parameters(name)
        given = ", ".join([*(repr(arg) for arg in args), *kwargs]) or "nothing"
        missing = [arg for arg in expected if arg not in kwargs]
        unknown = [arg for arg in kwargs if arg not in expected]
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        problems += ["positional arguments (name every one)"] if args else []
        raise HookCallError(
            f"cms core called hook {name!r} with {given}: {'; '.join(problems)} "
            f"(its arguments: {', '.join(expected) or 'none'})"
        )
    return name


async def _invoke(impl: Any, hook_name: str, kwargs: dict[str, Any]) -> Any:
    """Call one implementation with the arguments it asks for; await it if async.

    Errors become PluginError naming the plugin, except those that already mean
    something to cms: HTTP answers, a dependency being down (a 503), and bad settings
    (``cms.plugin_settings`` names the ``[plugins.<name>]`` key itself).
    """
    try:
        result = impl.function(*[kwargs[arg] for arg in impl.argnames])
        if inspect.isawaitable(result):
            result = await result
    except (PluginError, SettingsError, web.HTTPException, DependencyUnavailable):
        raise
    except Exception as error:
        raise PluginError(
            impl.plugin_name, f"raised in {hook_name}: {type(error).__name__}: {error}"
        ) from error
    return result


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return [caller.name for caller in pm.get_hookcallers(plugin) or []]


def _import_site_module(path: Path) -> ModuleType:
    # Named after the folder too: two sites in one process, each with its own seo.py, get
    # a module each (the module must be in sys.modules while it runs, for dataclasses and
    # pickling).
    folder = hashlib.blake2b(str(path.parent.resolve()).encode(), digest_size=6).hexdigest()
    module_name = f"{SITE_PLUGIN_PACKAGE}.site_{folder}.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(path.stem, f"({path}) cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(module_name, None)
        raise PluginError(
            path.stem, f"({path}) failed to import: {type(error).__name__}: {error}"
        ) from error
    return module
