"""cms's own behaviour, registered through the same hooks as any plugin.

Every implementation here is ``trylast``, so a plugin can add to it or replace it: a
route registered under one of these names wins over the core's view.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from cms.contracts import AdminMenuItem, DependencyUnavailable
from cms.core.hookspecs import hookimpl
from cms.web.admin_menu import core_menu_items
from cms.web.error_codes import error_code
from cms.web.middlewares import RETRY_AFTER_SECONDS, is_api_request
from cms.web.views.admin import (
    AdminPageListView,
    AdminPostListView,
    PageCreateView,
    PostCreateView,
    PostEditView,
)
from cms.web.views.archives import AuthorView, TagListView, TagView
from cms.web.views.auth import LoginView, LogoutView, SetupView
from cms.web.views.autosave import AutosaveDiscardView, AutosaveView
from cms.web.views.base import render_page
from cms.web.views.editor_media import EditorImageChoicesView, EditorImageUploadView
from cms.web.views.feeds import feed_routes
from cms.web.views.live_preview import LivePreviewView
from cms.web.views.media_library import MediaDeleteView, MediaLibraryView
from cms.web.views.previews import TOKEN_ROUTE, PreviewLinkView, PreviewView
from cms.web.views.public import (
    FaviconView,
    HealthView,
    IndexView,
    PageView,
    PostDetailView,
    RobotsView,
    StaticFileView,
)
from cms.web.views.revisions import PostHistoryView, RevisionCompareView, RevisionRestoreView
from cms.web.views.search import SearchView
from cms.web.views.site_admin import (
    NavigationView,
    ProfileView,
    RedirectsView,
    TagAdminView,
    TagListAdminView,
)
from cms.web.views.sitemaps import (
    AuthorSitemapView,
    PageSitemapView,
    PostSitemapView,
    SitemapIndexView,
    TagSitemapView,
)
from cms.web.views.trash import PostDeleteView, TrashView
from cms.web.views.users import AccountView, UserEditView, UserListView


@hookimpl(trylast=True)
def register_routes(cms: Any) -> list[web.RouteDef]:
    return [
        web.view("/", IndexView, name="index"),
        web.view("/posts/{slug}", PostDetailView, name="post"),
        web.view("/tags", TagListView, name="tags"),
        web.view("/tags/{slug}", TagView, name="tag"),
        web.view("/authors/{username}", AuthorView, name="author"),
        web.view("/search", SearchView, name="search"),
        *feed_routes(),
        web.view("/healthz", HealthView, name="healthz"),
        web.view("/robots.txt", RobotsView, name="robots"),
        web.view("/sitemap.xml", SitemapIndexView, name="sitemap"),
        web.view("/sitemaps/pages.xml", PageSitemapView, name="sitemap-pages"),
        web.view("/sitemaps/tags.xml", TagSitemapView, name="sitemap-tags"),
        web.view("/sitemaps/authors.xml", AuthorSitemapView, name="sitemap-authors"),
        web.view(
            "/sitemaps/posts-{year:\\d{4}}-{month:\\d{2}}.xml",
            PostSitemapView,
            name="sitemap-posts",
        ),
        web.view("/favicon.ico", FaviconView, name="favicon"),
        web.view("/static/{theme}/{name:.+}", StaticFileView, name="static"),
        web.view("/setup", SetupView, name="setup"),
        web.view("/login", LoginView, name="login"),
        web.view("/logout", LogoutView, name="logout"),
        web.view("/admin/", AdminPostListView, name="admin"),
        web.view("/admin/posts/new", PostCreateView, name="admin-post-new"),
        web.view("/admin/posts/{id:\\d+}/edit", PostEditView, name="admin-post-edit"),
        web.view("/admin/posts/{id:\\d+}/delete", PostDeleteView, name="admin-post-delete"),
        web.view("/admin/posts/{id:\\d+}/history", PostHistoryView, name="admin-post-history"),
        web.view("/admin/posts/{id:\\d+}/preview-link", PreviewLinkView, name="admin-preview-link"),
        web.view(TOKEN_ROUTE, PreviewView, name="preview"),
        web.view("/admin/preview", LivePreviewView, name="admin-live-preview"),
        web.view("/admin/autosave", AutosaveView, name="admin-autosave"),
        web.view("/admin/autosave/discard", AutosaveDiscardView, name="admin-autosave-discard"),
        web.view("/admin/posts/{id:\\d+}/compare", RevisionCompareView, name="admin-post-compare"),
        web.view(
            "/admin/posts/{id:\\d+}/revisions/{number:\\d+}/restore",
            RevisionRestoreView,
            name="admin-revision-restore",
        ),
        web.view("/admin/pages", AdminPageListView, name="admin-pages"),
        web.view("/admin/pages/new", PageCreateView, name="admin-page-new"),
        web.view("/admin/tags", TagListAdminView, name="admin-tags"),
        web.view("/admin/tags/{id:\\d+}", TagAdminView, name="admin-tag"),
        web.view("/admin/navigation", NavigationView, name="admin-navigation"),
        web.view("/admin/redirects", RedirectsView, name="admin-redirects"),
        web.view("/admin/trash", TrashView, name="admin-trash"),
        web.view("/admin/media", MediaLibraryView, name="admin-media"),
        web.view("/admin/media/{id:\\d+}/delete", MediaDeleteView, name="admin-media-delete"),
        web.view("/admin/media/upload", EditorImageUploadView, name="admin-media-upload"),
        web.view("/admin/media/choices", EditorImageChoicesView, name="admin-media-choices"),
        web.view("/admin/users", UserListView, name="admin-users"),
        web.view("/admin/users/{id:\\d+}", UserEditView, name="admin-user-edit"),
        web.view("/admin/account", AccountView, name="admin-account"),
        web.view("/admin/account/profile", ProfileView, name="admin-profile"),
        # Last: a page's address is any one segment no route above (or a plugin's) took.
        web.view("/{slug}", PageView, name="page"),
    ]


_TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported content type",
    422: "Cannot use that input",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
_MESSAGES = {
    404: "There is nothing at this address.",
    405: "This address does not accept that kind of request.",
    500: "The error has been logged. Please try again in a moment.",
    503: "A service this site needs is not answering. Please try again in a few seconds.",
}


@hookimpl(trylast=True)
def register_admin_menu_items() -> list[AdminMenuItem]:
    return core_menu_items()


@hookimpl(trylast=True)
async def handle_exception(
    request: web.Request, exception: BaseException, cms: Any
) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(exception, web.HTTPException):
        status = exception.status
        default_reason = _default_reason(status)
        message = (
            exception.reason if exception.reason and exception.reason != default_reason else ""
        )
        headers.update(
            {k: v for k, v in exception.headers.items() if k in ("Allow", "Retry-After")}
        )
    elif isinstance(exception, DependencyUnavailable):
        status, message = 503, exception.message
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    else:
        status, message = 500, ""
    message = message or _MESSAGES.get(status, "")
    title = _TITLES.get(status, "Error")
    if is_api_request(request):
        return web.json_response(
            {"error": {"code": error_code(status), "message": message or title}},
            status=status,
            headers=headers,
        )
    try:
        response = await render_page(
            request,
            [f"errors/{status}.html", "error.html"],
            {"status": status, "title": title, "message": message},
            status=status,
            error_page=True,
        )
    except Exception:  # the theme itself is broken: still answer without a traceback
        response = web.Response(status=status, text=f"{status} {title}\n{message}\n")
    response.headers.update(headers)
    return response


def _default_reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
