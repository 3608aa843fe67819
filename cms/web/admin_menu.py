"""The admin's menu: entries from ``register_admin_menu_items`` (the core's own come from
its default plugin), each shown only to users allowed to do its ``permission``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cms.contracts import AdminMenuItem, User
from cms.core import hookspecs
from cms.web.auth import allowed

if TYPE_CHECKING:
    from aiohttp import web

    from cms.core.site import Site

__all__ = ["CORE_MENU_PLUGIN", "MenuEntry", "admin_menu", "core_menu_items"]

#: The plugin whose entries come first: the core's own.
CORE_MENU_PLUGIN = "cms.default_plugin"


@dataclass(frozen=True)
class MenuEntry:
    """One link of the admin menu as a template shows it."""

    label: str
    url: str
    key: str


def core_menu_items() -> list[AdminMenuItem]:
    """The core's entries (see ``cms.web.default_plugin``)."""
    return [
        AdminMenuItem("Posts", route="admin", key="admin-posts", permission="admin.access"),
        AdminMenuItem("New post", route="admin-post-new", permission="posts.create"),
        AdminMenuItem("Pages", route="admin-pages", permission="pages.manage"),
        AdminMenuItem("Tags", route="admin-tags", permission="tags.manage"),
        AdminMenuItem("Navigation", route="admin-navigation", permission="navigation.manage"),
        AdminMenuItem("Redirects", route="admin-redirects", permission="redirects.manage"),
        AdminMenuItem("Media", route="admin-media", permission="media.manage"),
        AdminMenuItem("Trash", route="admin-trash", permission="trash.manage"),
        AdminMenuItem("Users", route="admin-users", permission="users.manage"),
        AdminMenuItem("API tokens", route="admin-tokens", permission="admin.access"),
        AdminMenuItem("Account", route="admin-account", permission="admin.access"),
    ]


async def admin_menu(request: web.Request, site: Site, user: User) -> list[MenuEntry]:
    """The entries ``user`` may use, the core's first; an entry whose route this site does
    not have (no media library, a view a plugin removed) is left out."""
    offered = await site.plugins.call_named(
        hookspecs.register_admin_menu_items, user=user, cms=site
    )
    offered.sort(key=lambda pair: pair[0] != CORE_MENU_PLUGIN)
    router = request.app.router
    entries: list[MenuEntry] = []
    for _, items in offered:
        for item in items:
            if item.permission and not await allowed(site, user, item.permission):
                continue
            if item.route is not None:
                if item.route not in router:
                    continue
                url = str(router[item.route].url_for())
            else:
                url = item.url or ""
            entries.append(MenuEntry(item.label, url, item.active_key))
    return entries
