"""cms: an async, plugin-driven content management system on aiohttp.

The public plugin API: ``hookimpl`` to mark hook implementations, ``PostField``
(and ``Text`` for long text) to add fields to posts, ``AdminMenuItem`` for the admin's
menu, :class:`Site`, the
object hooks receive as ``cms``, and ``plugin_settings`` to read a plugin's own
``[plugins.<name>]`` settings. ``cms.testing`` helps plugin authors test.
"""

from cms.contracts.fields import PostField, Text
from cms.contracts.records import AdminMenuItem
from cms.core.hookspecs import hookimpl
from cms.core.settings import plugin_settings

__version__ = "0.1.0"

__all__ = [
    "AdminMenuItem",
    "PostField",
    "Site",
    "Text",
    "__version__",
    "hookimpl",
    "plugin_settings",
]


def __getattr__(name: str) -> object:
    # Site pulls in aiohttp and SQL-free app code; import it only when asked for.
    if name == "Site":
        from cms.core.site import Site

        return Site
    raise AttributeError(name)
